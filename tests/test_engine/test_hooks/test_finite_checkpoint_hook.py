"""A non-finite loss or weight cannot poison a TSAL run.

An mmengine Runner trains the tiny CPU TSAL model (teacher, student, the
Eq. 8 hook) on one fixed batch of clips and a NaN is injected at a chosen
iteration: into a loss term (training stops before the optimizer steps and
the teacher update, and writes no later checkpoint), into the student's
inputs with ``nonfinite_loss='skip'`` (the batch is skipped and counted in
the log), or into a weight (no checkpoint is written).
"""
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpose.registry import MODELS
from torch.utils.data import DataLoader

import tsal_mmpose  # noqa: F401
from tsal_mmpose.engine.hooks import FiniteCheckpointHook, nonfinite_tensors
from tsal_mmpose.models.pose_estimators import NonFiniteLossError
from tsal_mmpose.testing import moving_texture_clips, pack_clips

TINY_CONFIG = Path(__file__).resolve().parents[3] / 'configs' / \
    'tsal_tiny_synthetic.py'


def _model(**kwargs):
    cfg = Config.fromfile(str(TINY_CONFIG)).model.to_dict()
    cfg['test_cfg'] = dict(flip_test=False)
    cfg.update(kwargs)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        return MODELS.build(cfg)


class Inject(Hook):
    """Call ``before(runner)`` / ``after(runner)`` at one iteration."""

    def __init__(self, at: int, before=None, after=None) -> None:
        self.at, self.before, self.after = at, before, after
        self.params_before = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if batch_idx == self.at:
            self.params_before = {
                k: v.detach().clone()
                for k, v in runner.model.named_parameters()
            }
            if self.before is not None:
                self.before(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if batch_idx == self.at and self.after is not None:
            self.after(runner)


def _train(tmp_path, model, inject, max_iters=4):
    codec = model.teacher.head.decoder
    batch = pack_clips(
        moving_texture_clips(2, 3, codec.input_size, seed=0, shift=(1, 1)),
        dict(type='TSALLabel', input_size=codec.input_size,
             heatmap_size=codec.heatmap_size, sigma=codec.sigma))
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=DataLoader([batch] * max_iters, batch_size=None,
                                    collate_fn=lambda item: item),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1),
            sampler_seed=None),  # a fixed batch, no sampler
        custom_hooks=[
            dict(type='QueueTeacherHook', queue_size=2, smoothing=0.5),
            dict(type='FiniteCheckpointHook'), inject
        ],
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
        default_scope='mmpose')
    return runner


def _checkpoint(tmp_path, it):
    return torch.load(tmp_path / f'iter_{it}.pth', map_location='cpu',
                      weights_only=False)


def test_nonfinite_tensors():
    state = {
        'a': torch.tensor([1.0, math.nan]),
        'b': torch.ones(3),
        'c': torch.tensor([[-math.inf]]),
        'count': torch.tensor(5),
        'meta': 'text'
    }
    assert nonfinite_tensors(state) == ['a', 'c']
    assert nonfinite_tensors({'count': torch.tensor(1)}) == []
    assert isinstance(FiniteCheckpointHook(), Hook)


def test_nan_loss_stops_before_the_steps_and_the_teacher_update(tmp_path):
    model = _model()

    def nan_mfds(runner):
        runner.model.mfds_loss.loss_weight = math.nan

    inject = Inject(2, before=nan_mfds)
    runner = _train(tmp_path, model, inject)
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    assert 'training iteration 3 ' in message
    assert "network 'teacher' term 'loss_mfds' = nan" in message
    assert "network 'student' term 'loss_mfds' = nan" in message
    # neither network stepped and Eq. 8 did not run (the teacher's
    # parameters are those after iteration 2, which differ from the
    # student's)
    for name, value in model.named_parameters():
        assert torch.equal(value, inject.params_before[name]), name
    assert not torch.equal(model.teacher.head.heatmap_layer.weight,
                           model.student.head.heatmap_layer.weight)
    assert (tmp_path / 'iter_2.pth').exists()
    assert not (tmp_path / 'iter_3.pth').exists()
    assert nonfinite_tensors(_checkpoint(tmp_path, 2)['state_dict']) == []


def test_nan_batch_is_skipped_and_counted(tmp_path):
    model = _model(nonfinite_loss='skip')
    handles = []

    def nan_inputs(runner):
        handles.append(
            runner.model.student.backbone.register_forward_pre_hook(
                lambda module, args: (args[0] * math.nan, )))

    def remove(runner):
        handles.pop().remove()

    inject = Inject(1, before=nan_inputs, after=remove)
    runner = _train(tmp_path, model, inject)
    runner.train()
    hub = runner.message_hub
    assert hub.get_info('nonfinite_skips') == 1
    assert hub.get_scalar('train/nonfinite_skips').current() == 1
    assert len(hub.get_scalar('train/loss').data[0]) == 3  # of 4 batches
    for it in range(1, 5):
        state = _checkpoint(tmp_path, it)['state_dict']
        assert nonfinite_tensors(state) == [], it
    # the skipped batch left the student as it was (the Eq. 8 hook moves
    # only the teacher)
    after_skip = _checkpoint(tmp_path, 2)['state_dict']
    for name, value in inject.params_before.items():
        if name.startswith('student.'):
            assert torch.equal(after_skip[name], value), name


def test_nan_weight_writes_no_checkpoint(tmp_path):
    model = _model()

    def nan_weight(runner):
        with torch.no_grad():
            runner.model.teacher.head.heatmap_layer.bias[0] = math.nan

    runner = _train(tmp_path, model, Inject(1, after=nan_weight))
    with pytest.raises(FloatingPointError,
                       match='teacher.head.heatmap_layer.bias') as info:
        runner.train()
    assert not isinstance(info.value, NonFiniteLossError)
    assert 'not saving a checkpoint' in str(info.value)
    assert (tmp_path / 'iter_1.pth').exists()
    assert not (tmp_path / 'iter_2.pth').exists()
    assert nonfinite_tensors(_checkpoint(tmp_path, 1)['state_dict']) == []
