"""Recursive average filtering of the teacher over a queue of students.

Sec. 3.4 of the TSAL paper, Eq. 8 and Algorithm 1:

    Theta^R <- lambda * Theta^R + (1 - lambda) * Avg(T),
    T = [Theta^S_{t-v+1}, ..., Theta^S_t]   (the last v student snapshots).

The teacher has already taken its own gradient step in the iteration (Alg. 1,
line 2); this hook runs after the optimizer step and applies Eq. 8 on top.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS
from torch import Tensor, nn

__all__ = ['QueueTeacherHook', 'unwrap_model', 'BUFFER_POLICIES']

#: Accepted values of ``QueueTeacherHook(buffer_policy=...)``.
BUFFER_POLICIES = ('average', 'copy', 'keep')


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip model wrappers (DataParallel, DDP, mmengine's wrappers).

    Args:
        model (nn.Module): A module, possibly wrapped one or more times in a
            class registered in mmengine's ``MODEL_WRAPPERS``.

    Returns:
        nn.Module: The innermost wrapped module (``model`` itself when it is
        not a wrapper).
    """
    while is_model_wrapper(model):
        model = model.module
    return model


@HOOKS.register_module()
class QueueTeacherHook(Hook):
    """Average the teacher towards a queue of recent students (Eq. 8).

    The hook relies on one contract only: the (unwrapped) runner model has two
    submodules, ``teacher`` and ``student`` (names configurable), of identical
    structure (same parameter and buffer names, shapes and dtypes). It never
    looks at the estimator's class.

    At every update (see ``interval`` and ``begin_iter``), after the optimizer
    step of the iteration:

    1. a detached copy of the student's averaged tensors is pushed into a queue
       of length ``queue_size`` (v); when the queue is full the oldest snapshot
       is dropped (its storage is reused for the new one);
    2. every averaged teacher tensor becomes
       ``smoothing * teacher + (1 - smoothing) * mean(queue)`` (Eq. 8, with
       ``smoothing`` = lambda).

    Special cases: v = 1 and lambda = 0.999 is Mean Teacher (Tarvainen and
    Valpola 2017), ``teacher_t = 0.999 teacher_{t-1} + 0.001 student_t``;
    lambda = 0 is Algorithm 1 as printed (the teacher is replaced by the plain
    mean of the queue). During the first v - 1 updates the queue holds fewer
    than v snapshots and the mean is taken over the snapshots it holds (there
    are no earlier students to average). The paper states lambda only for
    v = 1, so neither value has a default here.

    Computation: the mean is recomputed at every update rather than kept as a
    running sum. Eq. 8 is applied in place on the teacher with
    ``torch._foreach`` ops, ``teacher *= lambda`` then, for each snapshot,
    ``teacher += (1 - lambda) / n * snapshot``, so no model-sized temporary is
    allocated. Its cost is v fused multiply-adds per weight, negligible next to
    a forward/backward pass for small v. The first v updates differ: they
    clone every queued tensor (one allocation and copy each) until the queue
    is full; from then on the oldest snapshot's storage is reused. A running
    sum (add the new snapshot, subtract the dropped one) would save the
    v-fold loop but accumulates rounding error over hundreds of thousands of
    iterations (catastrophic cancellation in ``sum - oldest``), and its value
    would also have to be checkpointed bit-exactly for a resumed run to
    continue identically.
    Recomputing is exact up to (v + 1) roundings per weight and depends only on
    the queue, so a resumed run reproduces an uninterrupted one bit for bit.
    The update is carried out in the parameters' own dtype: keep the networks
    in float32 (mmengine's AMP keeps float32 master weights); in bfloat16 an
    update of relative size 1e-3 (lambda = 0.999) is below the precision.

    Buffers (``buffer_policy``), e.g. BatchNorm ``running_mean``,
    ``running_var`` and ``num_batches_tracked``:

    - ``'average'`` (default): floating-point buffers are queued and follow
      Eq. 8 exactly like the parameters; integer buffers
      (``num_batches_tracked``) are copied from the student. Algorithm 1
      replaces the whole network state Theta by the queue average; the
      teacher's own running statistics were measured with its weights before
      averaging, so after Eq. 8 they no longer describe the activations of the
      new weights, while the averaged statistics of the students do (to the
      extent that the averaged weights behave like the average network). With
      lambda = 0 the teacher is then exactly the mean network of the queue.
    - ``'copy'``: all teacher buffers are overwritten by the student's.
    - ``'keep'``: teacher buffers are left alone; they are updated only by the
      teacher's own forward passes on its own batches.
      With ``'copy'`` and ``'keep'`` only parameters are queued.

    Memory: the queue holds v snapshots, each the size of the student's
    parameters (plus its floating buffers with ``'average'``), on the
    student's device: v x (parameter + buffer bytes). For example an
    HRNetV2-w18 backbone has about 9.7 M parameters, about 39 MB per snapshot
    in float32, so v = 5 costs about 195 MB per such network (the head and the
    motion-field network add their own sizes). A saved checkpoint grows by the
    same amount unless ``save_queue=False``.

    Distributed training: the runner's model is unwrapped
    (``runner.model.module`` for DDP and other mmengine model wrappers).
    Every rank runs the identical computation on identical inputs: the student
    and teacher parameters are replicated by DDP (same initial broadcast,
    all-reduced gradients, same optimizer step), so the queue and the teacher
    parameters stay identical across ranks without any communication. Buffers
    are not all-reduced by DDP: under ``'average'``/``'copy'`` the teacher's
    running statistics follow each rank's local student statistics, exactly
    as the student's own do, and DDP's ``broadcast_buffers`` (or SyncBN)
    re-synchronises both at the next forward. Sharded wrappers (FSDP) are not
    supported.

    Checkpoints: ``before_save_checkpoint`` stores the queue and the update
    counter under ``checkpoint['queue_teacher_hook']`` (only ints, lists,
    dicts, strings and CPU tensors, so ``torch.load(weights_only=True)``
    reads it); ``after_load_checkpoint`` restores them when the runner
    resumes, so a resumed run continues exactly. Loading weights without
    resuming (``load_from``, testing) starts with an empty queue.

    Args:
        queue_size (int): Queue length v (>= 1).
        smoothing (float): lambda in [0, 1]; the teacher's own weight in Eq. 8.
        interval (int): Apply the update every ``interval`` training
            iterations. Snapshots are pushed only at updates, so the queue
            then spans ``interval * v`` iterations. With gradient
            accumulation (``accumulative_counts`` = k in the optim wrapper)
            the networks change only every k iterations: use a multiple of
            k. Defaults to 1.
        begin_iter (int): Number of training iterations before the first
            update; updates happen after iteration ``begin_iter + interval``,
            ``begin_iter + 2 * interval``, ... (1-based counts). Before that
            the hook does nothing: the teacher trains on its own and no
            snapshot is queued. Defaults to 0.
        buffer_policy (str): ``'average'``, ``'copy'`` or ``'keep'``, see
            above. Defaults to ``'average'``.
        save_queue (bool): Store the queue in checkpoints. Without it a
            resumed run starts from an empty queue (not an exact
            continuation). Defaults to True.
        teacher_name (str): Attribute name of the teacher submodule.
            Defaults to ``'teacher'``.
        student_name (str): Attribute name of the student submodule.
            Defaults to ``'student'``.

    Example:
        >>> custom_hooks = [dict(type='QueueTeacherHook', queue_size=5,
        ...                      smoothing=0.5)]
    """

    priority = 'NORMAL'  # before CheckpointHook / LoggerHook
    CHECKPOINT_KEY = 'queue_teacher_hook'

    def __init__(self,
                 queue_size: int,
                 smoothing: float,
                 interval: int = 1,
                 begin_iter: int = 0,
                 buffer_policy: str = 'average',
                 save_queue: bool = True,
                 teacher_name: str = 'teacher',
                 student_name: str = 'student') -> None:
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) \
                or queue_size < 1:
            raise ValueError(
                f'queue_size must be an int >= 1, got {queue_size!r}')
        if not 0.0 <= float(smoothing) <= 1.0:
            raise ValueError(f'smoothing must be in [0, 1], got {smoothing!r}')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be an int >= 1, got {interval!r}')
        if not isinstance(begin_iter, int) or begin_iter < 0:
            raise ValueError(
                f'begin_iter must be an int >= 0, got {begin_iter!r}')
        if buffer_policy not in BUFFER_POLICIES:
            raise ValueError(f'buffer_policy must be one of {BUFFER_POLICIES}'
                             f', got {buffer_policy!r}')
        self.queue_size = queue_size
        self.smoothing = float(smoothing)
        self.interval = interval
        self.begin_iter = begin_iter
        self.buffer_policy = buffer_policy
        self.save_queue = save_queue
        self.teacher_name = teacher_name
        self.student_name = student_name
        # Each snapshot is a list of tensors in the order of
        # ``self._averaged_names(student)``; oldest first.
        self.queue: deque[list[Tensor]] = deque(maxlen=queue_size)
        # Names of the queued tensors (the order of each snapshot).
        self.queued_names: list[str] | None = None
        self.num_updates = 0
        # (teacher, student, their tensors): see _paired_tensors
        self._pairing: tuple | None = None

    # ------------------------------------------------------------------
    # model access
    # ------------------------------------------------------------------
    def networks(self, model: nn.Module) -> tuple[nn.Module, nn.Module]:
        """The (teacher, student) submodules of a possibly wrapped model.

        Args:
            model (nn.Module): ``runner.model``.

        Returns:
            tuple[nn.Module, nn.Module]: Unwrapped teacher and student.
        """
        model = unwrap_model(model)
        for name in (self.teacher_name, self.student_name):
            if not isinstance(getattr(model, name, None), nn.Module):
                raise AttributeError(
                    f'{type(self).__name__} needs a model with submodules '
                    f'`{self.teacher_name}` and `{self.student_name}`; '
                    f'{type(model).__name__} has no module `{name}`')
        return (unwrap_model(getattr(model, self.teacher_name)),
                unwrap_model(getattr(model, self.student_name)))

    def _averaged_names(self, module: nn.Module) -> list[str]:
        """Names of the tensors that are queued and follow Eq. 8."""
        names = [n for n, _ in module.named_parameters()]
        if self.buffer_policy == 'average':
            names += [
                n for n, b in module.named_buffers() if b.is_floating_point()
            ]
        return names

    @staticmethod
    def _tensor_dict(module: nn.Module) -> dict[str, Tensor]:
        tensors = dict(module.named_buffers())
        tensors.update(module.named_parameters())
        return tensors

    def _paired_tensors(
        self, teacher: nn.Module, student: nn.Module
    ) -> tuple[list[str], list[Tensor], list[Tensor], list[Tensor],
               list[Tensor]]:
        """The tensors that Eq. 8 averages and the buffers it copies.

        Looked up (and the structure checked) once per pair of networks
        and kept: walking the module trees costs tens of milliseconds for
        HRNet, every iteration. :meth:`before_train` and
        :meth:`load_state_dict` look them up again (call ``before_train``
        after moving the networks to another device outside a runner).

        Returns:
            tuple: names, teacher tensors and student tensors of the
            averaged parameters and buffers (same order), then the teacher
            and student buffers that are copied (``buffer_policy``
            ``'copy'``: all; ``'average'``: the non-float ones).

        Raises:
            ValueError: If teacher and student differ in structure.
        """
        cached = self._pairing
        if cached is not None and cached[0] is teacher \
                and cached[1] is student:
            return cached[2]
        self.check_structure(teacher, student)
        names = self._averaged_names(student)
        t_all, s_all = self._tensor_dict(teacher), self._tensor_dict(student)
        t_buffers = dict(teacher.named_buffers())
        copied = [] if self.buffer_policy == 'keep' else [
            n for n, b in student.named_buffers()
            if self.buffer_policy == 'copy' or not b.is_floating_point()
        ]
        pairing = (names, [t_all[n] for n in names],
                   [s_all[n] for n in names], [t_buffers[n] for n in copied],
                   [s_all[n] for n in copied])
        self._pairing = (teacher, student, pairing)
        return pairing

    def check_structure(self, teacher: nn.Module, student: nn.Module) -> None:
        """Check that teacher and student have identical tensors.

        Args:
            teacher (nn.Module): The teacher network.
            student (nn.Module): The student network.

        Raises:
            ValueError: On differing parameter/buffer names, shapes or dtypes.
        """
        for kind in ('named_parameters', 'named_buffers'):
            t = {n: x for n, x in getattr(teacher, kind)()}
            s = {n: x for n, x in getattr(student, kind)()}
            if t.keys() != s.keys():
                diff = sorted(set(t) ^ set(s))[:5]
                raise ValueError(
                    'teacher and student must have identical structure; '
                    f'{kind} differ, e.g. {diff}')
            for n, x in s.items():
                if x.shape != t[n].shape or x.dtype != t[n].dtype:
                    raise ValueError(
                        f'teacher and student differ at `{n}`: '
                        f'{tuple(t[n].shape)} {t[n].dtype} (teacher) vs '
                        f'{tuple(x.shape)} {x.dtype} (student)')

    def snapshot_bytes(self, student: nn.Module) -> int:
        """Bytes of one queued snapshot of ``student``."""
        tensors = self._tensor_dict(student)
        return sum(tensors[n].numel() * tensors[n].element_size()
                   for n in self._averaged_names(student))

    # ------------------------------------------------------------------
    # Eq. 8
    # ------------------------------------------------------------------
    def should_update(self, iteration: int) -> bool:
        """Whether the hook updates after 0-based training iteration
        ``iteration`` (``runner.iter`` inside ``after_train_iter``)."""
        done = iteration + 1 - self.begin_iter
        return done > 0 and done % self.interval == 0

    @torch.no_grad()
    def update(self, teacher: nn.Module, student: nn.Module) -> None:
        """Push the student into the queue and apply Eq. 8 to the teacher.

        Args:
            teacher (nn.Module): Teacher network, modified in place.
            student (nn.Module): Student network, read only.
        """
        names, t_tensors, s_tensors, t_copied, s_copied = \
            self._paired_tensors(teacher, student)
        if self.queue and names != self.queued_names:
            raise RuntimeError(
                'the student\'s tensors changed since the queue was filled')
        self.queued_names = names
        # Line 4 of Algorithm 1: shift the queue.
        if len(self.queue) == self.queue_size:
            snapshot = self.queue.popleft()  # reuse the oldest storage
            torch._foreach_copy_(snapshot, s_tensors)
        else:
            snapshot = [x.detach().clone() for x in s_tensors]
        self.queue.append(snapshot)

        # Eq. 8: teacher = lambda * teacher + (1 - lambda) / n * sum(queue).
        if t_tensors:
            if self.smoothing == 0.0:
                torch._foreach_zero_(t_tensors)  # no 0 * nan from the teacher
            elif self.smoothing != 1.0:
                torch._foreach_mul_(t_tensors, self.smoothing)
            if self.smoothing != 1.0:
                weight = (1.0 - self.smoothing) / len(self.queue)
                for snap in self.queue:
                    torch._foreach_add_(t_tensors, snap, alpha=weight)

        if t_copied:
            torch._foreach_copy_(t_copied, s_copied)
        self.num_updates += 1

    # ------------------------------------------------------------------
    # hook stages
    # ------------------------------------------------------------------
    def before_train(self, runner) -> None:
        """Check the teacher/student contract and log the queue's memory."""
        teacher, student = self.networks(runner.model)
        self._pairing = None
        self._paired_tensors(teacher, student)  # checks the structure
        mb = self.snapshot_bytes(student) / 2**20
        print_log(
            f'{type(self).__name__}: v={self.queue_size}, '
            f'lambda={self.smoothing}, buffer_policy={self.buffer_policy}; '
            f'queue memory {self.queue_size} x {mb:.1f} MiB',
            logger='current')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Any = None) -> None:
        """Apply Eq. 8 after the optimizer step of an update iteration."""
        if self.should_update(runner.iter):
            self.update(*self.networks(runner.model))

    def state_dict(self) -> dict:
        """Queue and counter as checkpoint-safe builtins and CPU tensors.

        Returns:
            dict: ``num_updates`` (int), ``queue_size`` (int) and ``queue``,
            a list (oldest first) of dicts mapping student tensor names to CPU
            tensor copies.
        """
        queue: list[dict[str, Tensor]] = []
        if self.save_queue:
            for snap in self.queue:
                queue.append({
                    n: x.detach().to('cpu', copy=True)
                    for n, x in zip(self.queued_names, snap)
                })
        return dict(
            num_updates=int(self.num_updates),
            queue_size=int(self.queue_size),
            queue=queue)

    @torch.no_grad()
    def load_state_dict(self, state: dict, student: nn.Module) -> None:
        """Restore the queue and counter from :meth:`state_dict` output.

        Snapshots are copied into tensors laid out like the student's
        (device, dtype). If more snapshots were saved than ``queue_size``, the
        newest ones are kept.

        Args:
            state (dict): Output of :meth:`state_dict`.
            student (nn.Module): The student network (unwrapped).
        """
        self._pairing = None
        names = self._averaged_names(student)
        s_all = self._tensor_dict(student)
        saved = list(state.get('queue', []))
        if len(saved) > self.queue_size:
            print_log(
                f'{type(self).__name__}: checkpoint holds {len(saved)} '
                f'snapshots, keeping the newest {self.queue_size}',
                logger='current', level=logging.WARNING)
            saved = saved[-self.queue_size:]
        queue: list[list[Tensor]] = []
        for snap in saved:
            missing = [n for n in names if n not in snap]
            if missing:
                raise KeyError(
                    f'queued snapshot lacks {missing[:5]} (was it saved with '
                    'another buffer_policy or model?)')
            tensors = []
            for n in names:
                ref, val = s_all[n], snap[n]
                if val.shape != ref.shape:
                    raise ValueError(f'queued `{n}` has shape '
                                     f'{tuple(val.shape)}, student has '
                                     f'{tuple(ref.shape)}')
                tensors.append(torch.empty_like(ref).copy_(val))
            queue.append(tensors)
        self.queue.clear()
        self.queue.extend(queue)
        self.queued_names = names if queue else None
        self.num_updates = int(state.get('num_updates', 0))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store :meth:`state_dict` under ``checkpoint['queue_teacher_hook']``.
        """
        checkpoint[self.CHECKPOINT_KEY] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the queue when the runner resumes training."""
        if not getattr(runner, '_resume', True):
            return  # plain weight loading: start with an empty queue
        state = checkpoint.get(self.CHECKPOINT_KEY)
        if state is None:
            print_log(
                f'{type(self).__name__}: no `{self.CHECKPOINT_KEY}` in the '
                'checkpoint; the snapshot queue restarts empty',
                logger='current', level=logging.WARNING)
            return
        _, student = self.networks(runner.model)
        self.load_state_dict(state, student)
