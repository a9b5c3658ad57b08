"""tools/benchmark/speed.py end to end with tiny settings."""
import json
import math
import os
import signal

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


def test_speed_benchmark_writes_the_four_ratios(tmp_path, faces_dir, capsys):
    data = tmp_path / 'data'
    generate_benchmark(
        data,
        GeneratorConfig(train_videos=1, test_easy_videos=1,
                        test_hard_videos=1, frames=12, width=96, height=80),
        faces_dir=faces_dir, convert=True, progress=False, log=None)
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


def test_memory_process_killed_is_named(monkeypatch):
    """A memory job killed by the kernel (out of memory) says so."""
    tool = load_tool()
    monkeypatch.setattr(tool, '_memory_child',
                        lambda *args: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(RuntimeError,
                       match=r'peak memory of tsal/train: memory process '
                       r'exited with -9 \(SIGKILL: out of memory'):
        tool.measure_memory(None, 'tsal', 'train',
                            device=torch.device('cpu'))
