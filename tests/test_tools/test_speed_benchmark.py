"""tools/benchmark/speed.py end to end with tiny settings."""
import json
import math
import os
import signal
import sys

import pytest
import torch
from tsal_mmpose.datasets.synthetic import (GeneratorConfig,
                                            generate_benchmark)

from tests.test_tools.tool_loader import load_script


def load_tool():
    return load_script('tools/benchmark/speed.py')


def test_summary_is_min_median_max():
    stats = load_tool().summarize([3.0, 1.0, 2.0])
    assert (stats['min'], stats['median'], stats['max']) == (1.0, 2.0, 3.0)


def test_agreement_of_landmarks():
    import numpy as np

    # 2 faces x 2 landmarks x (x, y)
    diff = np.array([[[0.0, 0.05], [0.2, 0.0]], [[0.1, 0.1], [3.0, 0.5]]])
    assert load_tool().agreement(diff) == dict(
        max_abs_diff_px=3.0, median_abs_diff_px=0.1, within_0_1px=0.5)


def test_label_times_keeps_host_and_gpu_entries_apart():
    """On a GPU each labelled range comes twice, host and GPU annotation,
    under one key; neither may overwrite the other."""
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    def event(key, device, count, cpu_us, gpu_us):
        return SimpleNamespace(key=key, device_type=device, count=count,
                               cpu_time_total=cpu_us,
                               device_time_total=gpu_us)

    averages = [
        event('net.backbone', DeviceType.CPU, 2, 30_000, 0),
        event('net.backbone', DeviceType.CUDA, 2, 0, 120_000),
        event('net.head', DeviceType.CUDA, 2, 0, 9_000),
        event('net.head', DeviceType.CPU, 2, 4_000, 0),
        event('aten::conv2d', DeviceType.CPU, 50, 10_000, 0),
        event('cpu.only', DeviceType.CPU, 4, 8_000, 0),
    ]
    times = load_tool().label_times(
        averages, ['net.backbone', 'net.head', 'cpu.only'], calls=2)
    assert times == {
        'net.backbone': dict(ms=15.0, calls=1.0, gpu_ms=60.0),
        'net.head': dict(ms=2.0, calls=1.0, gpu_ms=4.5),
        'cpu.only': dict(ms=4.0, calls=2.0),
    }


@pytest.fixture
def tiny_data(tmp_path, faces_dir):
    """A generated 300VW-layout dataset: one training video of 12 frames
    of 96x80 pixels (and one easy and one hard test video)."""
    data = tmp_path / 'data'
    generate_benchmark(
        data,
        GeneratorConfig(train_videos=1, test_easy_videos=1,
                        test_hard_videos=1, frames=12, width=96, height=80),
        faces_dir=faces_dir, convert=True, progress=False, log=None)
    return data


def test_speed_benchmark_writes_the_four_ratios(tmp_path, tiny_data, capsys):
    data = tiny_data
    out = tmp_path / 'speed.json'
    tool = load_tool()
    tool.main([
        '--warmup', '1', '--repeats', '1', '--batch-sizes', '1',
        '--clip-len', '2', '--threads', '1', '--memory-steps', '1',
        '--num-workers', '0', '--loader-batches', '1', '--data-root',
        str(data) + '/', '--out', str(out)
    ])
    # progress during the long sections, not only after them
    err = capsys.readouterr().err
    for line in ('B=1: peak memory of tsal train',
                 'B=1 (2 frames): timing training steps',
                 'B=1 training: warm-up done (1 round(s) of tsal, plain)',
                 'B=1 training: round 1/1: tsal ',
                 'B=1 inference: round 1/1: '):
        assert line in err, line
    results = json.loads(out.read_text())
    assert set(results['ratios']) == set(tool.RATIO_KEYS)
    for key in tool.RATIO_KEYS:
        for stat in ('min', 'median', 'max'):
            value = results['ratios'][key][stat]
            assert math.isfinite(value) and value > 0, (key, stat, value)
    entry = results['per_batch_size']['1']
    train = entry['train']
    for kind in ('tsal', 'plain'):
        # the system part of a step's CPU time is within its CPU time
        sys_s, cpu_s = train[f'{kind}_sys_s'], train[f'{kind}_cpu_s']
        assert 0 <= sys_s['min'] <= cpu_s['max'], (kind, sys_s, cpu_s)
    assert results['settings']['retain_freed_memory'] is False
    assert entry['inference']['frames'] == 2
    assert entry['loader']['num_workers'] == 0
    assert results['settings']['clip_len'] == 2


def test_loader_measurement_samples_endlessly(tiny_data, monkeypatch):
    """The data-pipeline measurement sees one endless epoch (however few
    clips the dataset has) and sets OpenCV up as a training run does,
    restoring its thread count after."""
    import cv2
    from mmengine.runner import Runner
    data = tiny_data
    tool = load_tool()
    built, seen_threads = [], []
    build = Runner.build_dataloader

    def recording_build(cfg, **kwargs):
        seen_threads.append(cv2.getNumThreads())
        built.append(build(cfg, **kwargs))
        return built[-1]

    monkeypatch.setattr(Runner, 'build_dataloader', recording_build)
    cv2.setNumThreads(0)
    single = cv2.getNumThreads()  # what OpenCV reports for 0
    cv2.setNumThreads(3)
    try:
        result = tool.measure_loader(
            tool.load_config(str(tool.DEFAULT_CONFIG)), str(data) + '/',
            batch_size=1, clip_len=2, num_workers=0, warmup=1, repeats=2,
            batches=3)
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(0)
    assert type(built[0].sampler).__name__ == 'InfiniteSampler'
    assert seen_threads == [single]  # the config's env_cfg.mp_cfg
    assert result['dataset_clips'] < 1 + 2 * 3  # more batches than clips
    assert len(result['frames_per_s']) == 2


def test_fast_path_agreement_on_the_fitted_frames(tmp_path):
    """With --fit-clips the agreement is also reported over the frames of
    the fitted clips, which lead every batch. Float32 channels-last on the
    CPU computes the same landmarks as the eager path."""
    out = tmp_path / 'speed.json'
    load_tool().main([
        '--warmup', '0', '--repeats', '1', '--batch-sizes', '2',
        '--clip-len', '2', '--threads', '1', '--channels-last',
        '--fit-steps', '1', '--fit-clips', '1', '--skip', 'train', 'memory',
        'loader', '--out', str(out)
    ])
    results = json.loads(out.read_text())
    assert results['settings']['weights'] == (
        'random initialisation, then fitted to the first 1 clips of the '
        'benchmark batch for 1 steps')
    infer = results['per_batch_size']['2']['inference']
    assert infer['frames'] == 4
    for kind in ('tsal', 'plain'):
        fitted = infer['fast_fitted'][kind]
        assert fitted['frames'] == 2  # one clip of two frames
        assert fitted['within_0_1px'] == 1.0
        assert fitted['max_abs_diff_px'] < 1e-3
        assert infer['fast_within_0.1px'][kind] == 1.0


def test_train_step_times_the_update_of_a_full_queue():
    """Every timed or profiled step applies Eq. 8 as in a long run: the
    queue already holds v snapshots, and the update reuses the oldest
    one's storage instead of cloning the student."""
    tool = load_tool()
    cfg = tool.load_config(str(tool.DEFAULT_CONFIG))
    device = torch.device('cpu')
    model = tool.build_models(cfg, device)['tsal']
    hook = tool.build_teacher_hook(cfg)
    batch = tool.make_batches(cfg, 1, 2, 0)['tsal']
    step = tool.make_train_step(
        model, batch, tool.build_optim_wrapper(cfg, model, device, None),
        device, hook, tool.unsup_hold_iter(cfg))
    assert hook.queue_size == 5
    assert len(hook.queue) == 5 and hook.num_updates == 5
    storage = [[x.data_ptr() for x in snap] for snap in hook.queue]
    step()
    assert hook.num_updates == 6
    # the oldest snapshot was dropped and its storage holds the newest
    assert [[x.data_ptr() for x in snap] for snap in hook.queue] == \
        storage[1:] + storage[:1]
    _, student = hook.networks(model)
    newest = dict(zip(hook.queued_names, hook.queue[-1]))
    for name, param in student.named_parameters():
        assert torch.equal(newest[name], param), name


def test_memory_process_killed_is_named(monkeypatch):
    """A memory job killed by the kernel (out of memory) says so."""
    tool = load_tool()
    memory = sys.modules[tool.measure_memory.__module__]
    monkeypatch.setattr(memory, '_memory_child',
                        lambda *args: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(RuntimeError,
                       match=r'peak memory of tsal/train: memory process '
                       r'exited with -9 \(SIGKILL: out of memory'):
        tool.measure_memory(None, 'tsal', 'train',
                            device=torch.device('cpu'))


def test_profile_reports_the_named_ranges_and_module_totals():
    """The profile lists the ranges whose labels start with the estimator's
    prefixes (not others) and the calls of the model's modules, and leaves
    no hook behind."""

    class Toy(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Linear(4, 4)
            self.head = torch.nn.Linear(4, 2)
            self.loss_module = torch.nn.MSELoss()

        def forward(self, x):
            with torch.profiler.record_function('tsal.features'):
                y = self.head(self.backbone(x))
                y = self.head(self.backbone(x)) + y  # two calls each
            with torch.profiler.record_function('other.range'):
                return self.loss_module(y, torch.zeros_like(y))

    tool = load_tool()
    model, x = Toy(), torch.ones(3, 4)
    prof = tool.profile_call(model, lambda: model(x), torch.device('cpu'),
                             rows=5, calls=2)
    labels = prof['labels']
    assert set(labels) == {
        'tsal.features', 'module/backbone', 'module/head',
        'module/loss_module'
    }
    assert [labels[k]['calls'] for k in sorted(labels)] == [2, 2, 1, 1]
    assert all(v['ms'] > 0 for v in labels.values())
    assert prof['calls'] == 2
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_profiled_modules_of_both_models():
    """The module totals cover the data preprocessor, each network's parts
    and every loss module, under the names of the model."""
    tool = load_tool()
    cfg = tool.load_config(str(tool.DEFAULT_CONFIG))
    models = tool.build_models(cfg, torch.device('cpu'))
    tsal = set(tool.profiled_modules(models['tsal']))
    for role in ('teacher', 'student'):
        for part in ('backbone', 'head', 'motion_field', 'head.loss_module',
                     'motion_field.loss_module'):
            assert f'{role}.{part}' in tsal, (role, part)
    assert {'data_preprocessor', 'teacher', 'student'} <= tsal
    plain = set(tool.profiled_modules(models['plain']))
    assert {'data_preprocessor', 'backbone', 'head',
            'head.loss_module'} <= plain


def test_bf16_training_steps_take_float32_head_outputs():
    """Under bfloat16 autocast both models train with heads whose outputs
    are float32, which their losses' numpy accuracy needs: mmpose's own
    HeatmapHead stops there."""
    tool = load_tool()
    cfg = tool.load_config(str(tool.DEFAULT_CONFIG))
    device = torch.device('cpu')
    models = tool.build_models(cfg, device, float32_outputs=True)
    batches = tool.make_batches(cfg, 1, 2, 0)
    assert isinstance(models['plain'].head, tool.Float32Outputs)
    assert isinstance(models['tsal'].teacher.head, tool.Float32Outputs)
    for kind, model in models.items():
        wrapper = tool.build_optim_wrapper(cfg, model, device,
                                           torch.bfloat16)
        weights = [p.detach().clone() for p in model.parameters()]
        tool.make_train_step(model, batches[kind], wrapper, device, None,
                             tool.unsup_hold_iter(cfg))()
        moved = [not torch.equal(w, p)
                 for w, p in zip(weights, model.parameters())]
        assert sum(moved) > len(moved) // 2, kind
        assert all(torch.isfinite(p).all() for p in model.parameters())
    stock = tool.build_models(cfg, device)['plain']
    step = tool.make_train_step(
        stock, batches['plain'],
        tool.build_optim_wrapper(cfg, stock, device, torch.bfloat16),
        device)
    with pytest.raises(TypeError, match='BFloat16'):
        step()
