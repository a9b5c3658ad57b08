"""Tests of QueueTeacherHook (Eq. 8, Algorithm 1 of the TSAL paper).

The toy networks are ``Linear(2, 1) -> BatchNorm1d(1)`` in float64. At step
t = 1..5 the student is set to

    fc.weight = [[t, t**2]], fc.bias = [(-1)**t],
    bn.weight = [2], bn.bias = [0],
    bn.running_mean = [t / 10], bn.running_var = [t],
    bn.num_batches_tracked = 10 + t,

and the teacher starts from

    fc.weight = [[0, 8]], fc.bias = [2], bn.weight = [1], bn.bias = [0],
    bn.running_mean = [0], bn.running_var = [1], bn.num_batches_tracked = 0.

Reference values were worked out by hand from Eq. 8,
teacher_t = lambda * teacher_{t-1} + (1 - lambda) * mean(last v students).
"""
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from tsal_mmpose.engine.hooks import QueueTeacherHook, unwrap_model
from tsal_mmpose.utils import allow_mmengine_checkpoints


class Net(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.fc(x))


class TeacherStudent(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.teacher = Net().double()
        self.student = Net().double()
        set_net(self.teacher, w=(0., 8.), b=2., bn_w=1., mean=0., var=1.,
                count=0)


@torch.no_grad()
def set_net(net: Net, w, b, bn_w, mean, var, count) -> None:
    net.fc.weight.copy_(torch.tensor([w]))
    net.fc.bias.fill_(b)
    net.bn.weight.fill_(bn_w)
    net.bn.bias.fill_(0.)
    net.bn.running_mean.fill_(mean)
    net.bn.running_var.fill_(var)
    net.bn.num_batches_tracked.fill_(count)


def set_student(model: nn.Module, t: int) -> None:
    """Student weights of (1-based) step t, see the module docstring."""
    set_net(unwrap_model(model).student, w=(float(t), float(t * t)),
            b=float((-1)**t), bn_w=2., mean=t / 10, var=float(t), count=10 + t)


def run_steps(hook: QueueTeacherHook, runner, steps) -> list:
    """Simulate iterations: the student 'steps' to known weights, then the
    hook runs. Returns the teacher's fc.weight[0, 0] after each step."""
    trace = []
    for t in steps:
        set_student(runner.model, t)
        runner.iter = t - 1  # runner.iter is 0-based inside after_train_iter
        hook.after_train_iter(runner, batch_idx=t - 1)
        trace.append(unwrap_model(runner.model).teacher.fc.weight[0, 0].item())
    return trace


def make_runner(model: nn.Module, resume: bool = True) -> SimpleNamespace:
    return SimpleNamespace(model=model, iter=0, _resume=resume)


def teacher_values(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in
            unwrap_model(model).teacher.state_dict().items()}


def assert_teacher(model: nn.Module, **expected) -> None:
    teacher = unwrap_model(model).teacher
    state = teacher.state_dict()
    for key, value in expected.items():
        key = key.replace('__', '.')
        ref = torch.tensor(value, dtype=state[key].dtype)
        torch.testing.assert_close(
            state[key], ref.reshape(state[key].shape), rtol=0, atol=1e-12,
            msg=key)


# Hand-computed Eq. 8 with v = 3, lambda = 0.5 (module docstring setup):
#   fc.weight[0,0]: students 1..5, queue means 1, 3/2, 2, 3, 4
#       T = 1/2, 1, 3/2, 9/4, 25/8
#   fc.weight[0,1]: students 1, 4, 9, 16, 25, means 1, 5/2, 14/3, 29/3, 50/3
#       T = 9/2, 7/2, 49/12, 55/8, 565/48
#   fc.bias: students -1, 1, -1, 1, -1, means -1, 0, -1/3, 1/3, -1/3
#       T = 1/2, 1/4, -1/24, 7/48, -3/32
#   bn.weight: students 2: T = 3/2, 7/4, 15/8, 31/16, 63/32
#   running_mean: tenth of fc.weight[0,0] -> 5/16
#   running_var: students 1..5 from 1: T = 1, 5/4, 13/8, 37/16, 101/32
V3_L05_TRACE = [1 / 2, 1., 3 / 2, 9 / 4, 25 / 8]
V3_L05_FINAL = dict(
    fc__weight=[[25 / 8, 565 / 48]],
    fc__bias=[-3 / 32],
    bn__weight=[63 / 32],
    bn__bias=[0.],
    bn__running_mean=[5 / 16],
    bn__running_var=[101 / 32],
    bn__num_batches_tracked=15)  # integer buffer: copied from the student


def test_eq8_queue3_lambda05_hand_computed():
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    trace = run_steps(hook, make_runner(model), range(1, 6))
    assert trace == pytest.approx(V3_L05_TRACE, abs=1e-12)
    assert_teacher(model, **V3_L05_FINAL)
    assert hook.num_updates == 5
    assert len(hook.queue) == 3
    # the queue holds students 3, 4, 5 (oldest first), detached copies
    assert [snap[0][0, 0].item() for snap in hook.queue] == [3., 4., 5.]
    assert all(not x.requires_grad for snap in hook.queue for x in snap)
    # the student itself is never modified
    assert model.student.fc.weight.tolist() == [[5., 25.]]


def test_eq8_uses_teacher_after_its_own_step():
    # v = 2, lambda = 0.5, teacher fc.weight[0,0] starts at 0.
    # step 1: student 2 -> T = 0 + 0.5 * 2 = 1
    # the teacher's own optimizer step moves it to 10
    # step 2: student 4, queue {2, 4} -> T = 0.5 * 10 + 0.5 * 3 = 6.5
    model = TeacherStudent()
    runner = make_runner(model)
    hook = QueueTeacherHook(queue_size=2, smoothing=0.5)
    with torch.no_grad():
        model.student.fc.weight[0, 0] = 2.
        runner.iter = 0
        hook.after_train_iter(runner, 0)
        assert model.teacher.fc.weight[0, 0].item() == 1.
        model.teacher.fc.weight[0, 0] = 10.
        model.student.fc.weight[0, 0] = 4.
        runner.iter = 1
        hook.after_train_iter(runner, 1)
    assert model.teacher.fc.weight[0, 0].item() == 6.5


def test_lambda0_is_algorithm1_plain_queue_mean():
    # lambda = 0: the teacher is the mean of the queued students, whatever
    # it was. After 5 steps with v = 3: mean of students 3, 4, 5.
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=3, smoothing=0.)
    trace = run_steps(hook, make_runner(model), range(1, 6))
    # means of {1}, {1,2}, {1,2,3}, {2,3,4}, {3,4,5}
    assert trace == pytest.approx([1., 1.5, 2., 3., 4.], abs=1e-12)
    assert_teacher(model,
                   fc__weight=[[4., 50 / 3]],        # (9 + 16 + 25) / 3
                   fc__bias=[-1 / 3],                # (-1 + 1 - 1) / 3
                   bn__weight=[2.],
                   bn__running_mean=[0.4],
                   bn__running_var=[4.])


def test_lambda0_ignores_non_finite_teacher():
    model = TeacherStudent()
    with torch.no_grad():
        model.teacher.fc.weight.fill_(float('nan'))
    hook = QueueTeacherHook(queue_size=1, smoothing=0.)
    run_steps(hook, make_runner(model), [3])
    assert model.teacher.fc.weight.tolist() == [[3., 9.]]


def test_queue1_lambda0999_is_mean_teacher_ema():
    # Mean Teacher: T_t = 0.999 T_{t-1} + 0.001 S_t, T_0 = 0, S_t = t
    #   T_1 = 0.001
    #   T_2 = 0.999 * 0.001 + 0.002 = 0.002999
    #   T_3 = 0.999 * 0.002999 + 0.003 = 0.005996001
    #   T_4 = 0.999 * 0.005996001 + 0.004 = 0.009990004999
    #   T_5 = 0.999 * 0.009990004999 + 0.005 = 0.014980014994001
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=1, smoothing=0.999)
    trace = run_steps(hook, make_runner(model), range(1, 6))
    assert trace == pytest.approx(
        [0.001, 0.002999, 0.005996001, 0.009990004999, 0.014980014994001],
        rel=0, abs=1e-14)
    assert len(hook.queue) == 1


def test_mean_teacher_running_var_first_steps():
    # running_var, T_0 = 1, S_t = t:
    #   T_1 = 0.999 + 0.001 = 1, T_2 = 0.999 + 0.002 = 1.001
    #   T_3 = 0.999 * 1.001 + 0.003 = 1.002999
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=1, smoothing=0.999)
    run_steps(hook, make_runner(model), range(1, 4))
    assert model.teacher.bn.running_var.item() == pytest.approx(
        1.002999, abs=1e-14)


def test_floating_buffers_are_queued():
    hook = QueueTeacherHook(queue_size=2, smoothing=0.5)
    model = TeacherStudent()
    run_steps(hook, make_runner(model), [1])
    assert hook.queued_names == [
        'fc.weight', 'fc.bias', 'bn.weight', 'bn.bias', 'bn.running_mean',
        'bn.running_var'
    ]
    # fc.weight (2) + fc.bias + bn.weight + bn.bias + 2 buffers: 7 float64
    assert hook.snapshot_bytes(model.student) == 7 * 8


def test_interval_and_begin_iter():
    # begin_iter = 2, interval = 2: updates after iterations 4 and 6
    # (1-based), i.e. runner.iter = 3 and 5. lambda = 0, v = 2.
    model = TeacherStudent()
    with torch.no_grad():
        model.teacher.fc.weight[0, 0] = 100.
    hook = QueueTeacherHook(
        queue_size=2, smoothing=0., interval=2, begin_iter=2)
    assert [hook.should_update(i) for i in range(7)] == [
        False, False, False, True, False, True, False]
    trace = run_steps(hook, make_runner(model), range(1, 7))
    # student at runner.iter 3 is 4, at 5 is 6: queue {4}, then {4, 6}
    assert trace == [100., 100., 100., 4., 4., 5.]
    assert hook.num_updates == 2


def _save_and_load(checkpoint: dict, path: Path) -> dict:
    torch.save(checkpoint, path)
    return torch.load(path, map_location='cpu', weights_only=True)


def test_resume_mid_way_is_exact(tmp_path):
    # uninterrupted: 5 steps
    ref_model = TeacherStudent()
    run_steps(QueueTeacherHook(3, 0.5), make_runner(ref_model), range(1, 6))

    # interrupted: 2 steps, save, fresh model + hook, load, 3 more steps
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    run_steps(hook, make_runner(model), range(1, 3))
    checkpoint = dict(meta=dict(iter=2), state_dict=model.state_dict())
    hook.before_save_checkpoint(make_runner(model), checkpoint)
    entry = checkpoint[QueueTeacherHook.CHECKPOINT_KEY]
    assert entry['num_updates'] == 2 and entry['queue_size'] == 3
    assert [s['fc.weight'].tolist() for s in entry['queue']] == [
        [[1., 1.]], [[2., 4.]]]
    loaded = _save_and_load(checkpoint, tmp_path / 'iter_2.pth')

    new_model = TeacherStudent()
    with torch.no_grad():  # make sure nothing survives from the new init
        for p in new_model.parameters():
            p.fill_(-7.)
    new_model.load_state_dict(loaded['state_dict'])
    new_hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    new_hook.after_load_checkpoint(make_runner(new_model), loaded)
    assert new_hook.num_updates == 2 and len(new_hook.queue) == 2
    trace = run_steps(new_hook, make_runner(new_model), range(3, 6))

    assert trace == pytest.approx(V3_L05_TRACE[2:], abs=1e-12)
    for key, value in teacher_values(ref_model).items():
        assert torch.equal(new_model.teacher.state_dict()[key], value), key
    assert new_hook.num_updates == 5
    assert_teacher(new_model, **V3_L05_FINAL)


#: Written by the hook as of commit d5f33bb (before Eq. 8 became the pure
#: function queue_average_): the module docstring's model after steps 1 and 2
#: with v = 3, lambda = 0.5, saved as in test_resume_mid_way_is_exact.
OLD_CHECKPOINT = (Path(__file__).parents[2] / 'data' / 'checkpoints' /
                  'queue_teacher_hook_iter2.pth')


def test_resume_from_checkpoint_of_earlier_implementation():
    loaded = torch.load(OLD_CHECKPOINT, map_location='cpu', weights_only=True)
    entry = loaded[QueueTeacherHook.CHECKPOINT_KEY]
    assert entry['num_updates'] == 2 and entry['queue_size'] == 3
    model = TeacherStudent()
    model.load_state_dict(loaded['state_dict'])
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    hook.after_load_checkpoint(make_runner(model), loaded)
    assert hook.num_updates == 2
    assert [snap[0].tolist() for snap in hook.queue] == [[[1., 1.]],
                                                         [[2., 4.]]]
    trace = run_steps(hook, make_runner(model), range(3, 6))
    assert trace == pytest.approx(V3_L05_TRACE[2:], abs=1e-12)
    assert_teacher(model, **V3_L05_FINAL)
    # bit for bit what an uninterrupted run of this implementation gives
    ref_model = TeacherStudent()
    run_steps(QueueTeacherHook(3, 0.5), make_runner(ref_model), range(1, 6))
    for key, value in teacher_values(ref_model).items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


def test_load_without_resume_or_entry_starts_empty(tmp_path):
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    run_steps(hook, make_runner(model), range(1, 3))
    checkpoint = dict(state_dict=model.state_dict())
    hook.before_save_checkpoint(make_runner(model), checkpoint)

    # load_from without resume (fine-tuning, testing): queue not restored
    fresh = QueueTeacherHook(queue_size=3, smoothing=0.5)
    fresh.after_load_checkpoint(make_runner(model, resume=False), checkpoint)
    assert len(fresh.queue) == 0 and fresh.num_updates == 0

    # resuming from a checkpoint without the entry: warn, start empty
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        fresh.after_load_checkpoint(make_runner(model), dict(state_dict={}))
    finally:
        logger.removeHandler(handler)
    assert len(fresh.queue) == 0
    assert any('restarts empty' in r.getMessage() for r in records)


def test_resume_with_smaller_queue_keeps_newest():
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    run_steps(hook, make_runner(model), range(1, 4))
    checkpoint = {}
    hook.before_save_checkpoint(make_runner(model), checkpoint)
    small = QueueTeacherHook(queue_size=2, smoothing=0.5)
    small.after_load_checkpoint(make_runner(model), checkpoint)
    assert [snap[0][0, 0].item() for snap in small.queue] == [2., 3.]


def test_save_queue_false_stores_counter_only():
    model = TeacherStudent()
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5, save_queue=False)
    run_steps(hook, make_runner(model), range(1, 3))
    checkpoint = {}
    hook.before_save_checkpoint(make_runner(model), checkpoint)
    assert checkpoint['queue_teacher_hook'] == dict(
        num_updates=2, queue_size=3, queue=[])


def test_wrapped_model_is_unwrapped():
    # nn.DataParallel is registered in mmengine's MODEL_WRAPPERS and runs on
    # CPU without a process group; DDP wrappers are unwrapped the same way.
    model = TeacherStudent()
    wrapped = nn.DataParallel(model)
    assert unwrap_model(wrapped) is model
    assert unwrap_model(nn.DataParallel(wrapped)) is model
    assert unwrap_model(model) is model
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    run_steps(hook, make_runner(wrapped), range(1, 6))
    assert_teacher(model, **V3_L05_FINAL)


def test_separately_wrapped_teacher_and_student():
    # like mmengine's MMSeparateDistributedDataParallel: each network wrapped
    model = TeacherStudent()
    outer = nn.Module()
    outer.teacher = nn.DataParallel(model.teacher)
    outer.student = nn.DataParallel(model.student)
    hook = QueueTeacherHook(queue_size=3, smoothing=0.5)
    runner = make_runner(outer)
    for t in range(1, 6):
        set_student(model, t)
        runner.iter = t - 1
        hook.after_train_iter(runner, t - 1)
    assert_teacher(model, **V3_L05_FINAL)


def test_structure_contract_errors():
    hook = QueueTeacherHook(queue_size=2, smoothing=0.5)
    bad = nn.Module()
    bad.teacher = nn.Linear(2, 1)
    bad.student = nn.Linear(3, 1)
    with pytest.raises(ValueError, match='differ at `weight`'):
        hook.after_train_iter(make_runner(bad), 0)
    bad.student = nn.Sequential(nn.Linear(2, 1))
    with pytest.raises(ValueError, match='identical structure'):
        hook.before_train(make_runner(bad))
    lonely = nn.Module()
    lonely.student = nn.Linear(2, 1)
    with pytest.raises(AttributeError, match='teacher'):
        hook.after_train_iter(make_runner(lonely), 0)


@pytest.mark.parametrize('kwargs', [
    dict(queue_size=0, smoothing=0.5),
    dict(queue_size=2, smoothing=1.5),
    dict(queue_size=2, smoothing=0.5, interval=0),
    dict(queue_size=2, smoothing=0.5, begin_iter=-1),
    dict(queue_size=True, smoothing=0.5),
    dict(queue_size=2, smoothing=-0.1),
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        QueueTeacherHook(**kwargs)


def test_registered_in_mmpose_hooks():
    from mmpose.registry import HOOKS
    hook = HOOKS.build(dict(type='QueueTeacherHook', queue_size=4,
                            smoothing=0.9, interval=2))
    assert isinstance(hook, QueueTeacherHook)
    assert (hook.queue_size, hook.smoothing, hook.interval) == (4, 0.9, 2)


class ToyEstimator(BaseModel):
    """Teacher and student trained on their own targets (Alg. 1, lines 2-3).
    """

    def __init__(self) -> None:
        super().__init__()
        self.teacher = Net()
        self.student = Net()

    def forward(self, inputs, targets, mode='loss'):
        return dict(
            loss_teacher=((self.teacher(inputs) - targets)**2).mean(),
            loss_student=((self.student(inputs) - 2 * targets)**2).mean())


def _train(work_dir: Path, max_iters: int, resume_from: Path = None,
           name: str = 'run') -> ToyEstimator:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(16, 2, generator=generator)
    dataset = [dict(inputs=x, targets=x.sum(0, keepdim=True)) for x in inputs]
    torch.manual_seed(0)
    model = ToyEstimator()
    runner = Runner(
        model=model,
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=dataset,
            # InfiniteSampler: mmengine pauses 2 s when a finite one restarts
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=4,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[QueueTeacherHook(queue_size=3, smoothing=0.5)],
        resume=resume_from is not None,
        load_from=None if resume_from is None else str(resume_from),
        log_level='WARNING')
    runner.train()
    return model


def test_mmengine_runner_resume_matches_uninterrupted(tmp_path, monkeypatch):
    # A real mmengine Runner: 5 iterations in one go vs 2 iterations, save,
    # resume from iter_2.pth, 3 more. Both networks take SGD steps.
    # Skip the environment report (subprocess calls, logging only).
    monkeypatch.setattr(Runner, '_log_env', lambda self, env_cfg: None)
    full = _train(tmp_path / 'full', max_iters=5, name='qth_full')
    _train(tmp_path / 'part', max_iters=2, name='qth_part')
    ckpt = tmp_path / 'part' / 'iter_2.pth'
    # mmengine's torch.load runs with weights_only=True.
    allow_mmengine_checkpoints()
    saved = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert saved['queue_teacher_hook']['num_updates'] == 2
    assert len(saved['queue_teacher_hook']['queue']) == 2
    resumed = _train(tmp_path / 'part', max_iters=5, resume_from=ckpt,
                     name='qth_resumed')
    assert not torch.equal(full.teacher.fc.weight, full.student.fc.weight)
    for key, value in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
