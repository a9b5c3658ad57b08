"""The teacher update of the TSAL paper (Sec. 3.4, Eq. 8, Algorithm 1)."""
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

from ..queue_average import queue_average_, split_tensors

__all__ = ['QueueTeacherHook', 'unwrap_model']


def unwrap_model(model: nn.Module) -> nn.Module:
    """The innermost module inside mmengine model wrappers (DDP, ...)."""
    while is_model_wrapper(model):
        model = model.module
    return model


@HOOKS.register_module()
class QueueTeacherHook(Hook):
    """Average the teacher towards a queue of the last v students (Eq. 8).

    After the optimizer step of an update iteration (both networks have taken
    their own gradient step, Alg. 1 lines 2-3) a copy of the student joins a
    queue T of the last v = ``queue_size`` snapshots, and the teacher becomes

        Theta^R <- lambda * Theta^R + (1 - lambda) * Avg(T)

    with lambda = ``smoothing`` (:func:`queue_average_`). v = 1 with lambda =
    0.999 is Mean Teacher; lambda = 0 is Algorithm 1 as printed (the teacher
    is the plain mean of the queue). Until the queue is full, Avg is over the
    snapshots it holds. The paper gives lambda only for v = 1: no defaults.
    The unwrapped runner model needs submodules ``teacher`` and ``student`` of
    identical structure.

    Buffers: floating-point ones (BatchNorm statistics) are queued and
    averaged like the parameters; integer ones are copied from the student.
    Resume: checkpoints hold the queue and the counter under
    ``'queue_teacher_hook'``, so a resumed run continues bit for bit; loading
    weights without resuming starts an empty queue. Cost, rounding, memory,
    DDP: docs/design/queue_teacher_hook.md.

    Args:
        queue_size (int): v >= 1.
        smoothing (float): lambda in [0, 1].
        interval (int): Update every ``interval`` iterations (a multiple of
            ``accumulative_counts``). Defaults to 1.
        begin_iter (int): Iterations before the first update. Defaults to 0.
        save_queue (bool): Checkpoint the queue. Defaults to True.
    """

    CHECKPOINT_KEY = 'queue_teacher_hook'

    def __init__(self, queue_size: int, smoothing: float, interval: int = 1,
                 begin_iter: int = 0, save_queue: bool = True) -> None:
        lower_bounds = dict(queue_size=(queue_size, 1),
                            interval=(interval, 1), begin_iter=(begin_iter, 0))
        for name, (value, low) in lower_bounds.items():
            if type(value) is not int or value < low:
                raise ValueError(
                    f'{name} must be an int >= {low}, got {value!r}')
        if not 0.0 <= float(smoothing) <= 1.0:
            raise ValueError(f'smoothing must be in [0, 1], got {smoothing!r}')
        self.queue_size, self.smoothing = queue_size, float(smoothing)
        self.interval, self.begin_iter = interval, begin_iter
        self.save_queue = save_queue
        # snapshots, oldest first, each a list in the order of queued_names
        self.queue: deque[list[Tensor]] = deque(maxlen=queue_size)
        self.queued_names: list[str] | None = None
        self.num_updates = 0
        self._pairing: tuple | None = None  # (teacher, student, tensors)

    def networks(self, model: nn.Module) -> tuple[nn.Module, nn.Module]:
        """The unwrapped (teacher, student) of ``runner.model``."""
        model = unwrap_model(model)
        if not all(isinstance(getattr(model, n, None), nn.Module)
                   for n in ('teacher', 'student')):
            raise AttributeError(
                f'{type(self).__name__} needs a model with submodules '
                f'`teacher` and `student`, not {type(model).__name__}')
        return unwrap_model(model.teacher), unwrap_model(model.student)

    def _paired(self, teacher: nn.Module, student: nn.Module) -> tuple:
        """Names, teacher and student tensors of Eq. 8, teacher and student
        integer buffers; cached, as walking HRNet's tree takes tens of ms."""
        cache = self._pairing
        if cache and cache[0] is teacher and cache[1] is student:
            return cache[2]
        (t_avg, t_int), (s_avg, s_int) = map(split_tensors, (teacher, student))
        t_all, s_all = {**t_avg, **t_int}, {**s_avg, **s_int}
        differ = sorted(set(t_all) ^ set(s_all)) or [
            n for n, x in s_all.items()
            if (x.shape, x.dtype) != (t_all[n].shape, t_all[n].dtype)]
        if differ:
            raise ValueError(
                'teacher and student must have identical structure (tensor '
                f'names, shapes, dtypes); they differ at `{differ[0]}`')
        names = list(s_avg)
        self._pairing = (teacher, student, (
            names, [t_all[n] for n in names], list(s_avg.values()),
            list(t_int.values()), [s_int[n] for n in t_int]))
        return self._pairing[2]

    @staticmethod
    def snapshot_bytes(student: nn.Module) -> int:
        """Bytes of one queued snapshot of ``student``."""
        return sum(x.nbytes for x in split_tensors(student)[0].values())

    def should_update(self, iteration: int) -> bool:
        """Whether to update after 0-based iteration ``iteration``."""
        done = iteration + 1 - self.begin_iter
        return done > 0 and done % self.interval == 0

    @torch.no_grad()
    def update(self, teacher: nn.Module, student: nn.Module) -> None:
        """Push the student into the queue (Alg. 1 line 4), then Eq. 8."""
        self.queued_names, t_avg, s_avg, t_int, s_int = self._paired(
            teacher, student)
        if len(self.queue) == self.queue_size:
            snapshot = self.queue.popleft()  # reuse the oldest storage
            torch._foreach_copy_(snapshot, s_avg)
        else:
            snapshot = [x.detach().clone() for x in s_avg]
        self.queue.append(snapshot)
        queue_average_(t_avg, self.queue, self.smoothing)
        if t_int:  # torch._foreach ops reject empty lists
            torch._foreach_copy_(t_int, s_int)
        self.num_updates += 1

    def before_train(self, runner) -> None:
        """Check the teacher/student contract; log the queue's memory."""
        teacher, student = self.networks(runner.model)
        self._pairing = None
        self._paired(teacher, student)
        print_log(f'{type(self).__name__}: v={self.queue_size}, lambda='
                  f'{self.smoothing}; queue memory {self.queue_size} x '
                  f'{self.snapshot_bytes(student) / 2**20:.1f} MiB',
                  logger='current')

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Any = None, outputs: Any = None) -> None:
        """Apply Eq. 8 after the optimizer step of an update iteration."""
        if self.should_update(runner.iter):
            self.update(*self.networks(runner.model))

    def state_dict(self) -> dict:
        """Counter and queue (oldest first) as builtins and CPU tensors."""
        queue = [{n: x.detach().to('cpu', copy=True)
                  for n, x in zip(self.queued_names, snap)}
                 for snap in self.queue] if self.save_queue else []
        return dict(num_updates=int(self.num_updates),
                    queue_size=int(self.queue_size), queue=queue)

    @torch.no_grad()
    def load_state_dict(self, state: dict, student: nn.Module) -> None:
        """Restore :meth:`state_dict`, laid out like ``student``'s tensors."""
        ref = split_tensors(student)[0]
        saved = list(state.get('queue', []))
        if len(saved) > self.queue_size:
            print_log(f'{type(self).__name__}: keeping the newest '
                      f'{self.queue_size} of {len(saved)} saved snapshots',
                      logger='current', level=logging.WARNING)
        queue = []
        for snap in saved[-self.queue_size:]:
            bad = [n for n, x in ref.items()
                   if n not in snap or snap[n].shape != x.shape]
            if bad:
                raise ValueError(f'queued snapshot lacks the student\'s '
                                 f'`{bad[0]}` or has another shape')
            queue.append(
                [torch.empty_like(x).copy_(snap[n]) for n, x in ref.items()])
        self.queue = deque(queue, maxlen=self.queue_size)
        self.queued_names = list(ref) if self.queue else None
        self.num_updates = int(state.get('num_updates', 0))
        self._pairing = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store :meth:`state_dict` under :attr:`CHECKPOINT_KEY`."""
        checkpoint[self.CHECKPOINT_KEY] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the queue when the runner resumes training."""
        if not getattr(runner, '_resume', True):
            return  # plain weight loading: start with an empty queue
        state = checkpoint.get(self.CHECKPOINT_KEY)
        if state is None:
            print_log(f'{type(self).__name__}: no `{self.CHECKPOINT_KEY}` in '
                      'the checkpoint; the snapshot queue restarts empty',
                      logger='current', level=logging.WARNING)
            return
        self.load_state_dict(state, self.networks(runner.model)[1])
