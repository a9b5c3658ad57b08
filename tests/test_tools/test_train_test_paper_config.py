"""End-to-end: the paper's config (configs/tsal_hrnet_300vw.py) as shipped.

Two HRNetV2-W18 networks at 256x256 train for one epoch on a tiny
embedded benchmark in the converted 300VW layout (clips of 2 frames,
batch 1), with only the data settings overridden; tools/test.py then
evaluates the teacher and writes the metrics and the CED curves.
"""
import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / 'configs' / 'tsal_hrnet_300vw.py'


def _data_options(root, splits=('train', 'val', 'test')):
    opts = []
    for split in splits:
        loader = f'{split}_dataloader'
        opts += [
            f'{loader}.dataset.data_root={root}/',
            f'{loader}.dataset.broken_frames_file=None',
            f'{loader}.dataset.clip_len=2', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
        if split != 'train':
            opts.append(
                f'{loader}.dataset.categories=annotations/categories.json')
    return opts


def _run(args):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO_ROOT,
                          text=True, capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_paper_config_trains_and_tests(tmp_path, faces_dir):
    from tsal_mmpose.datasets.synthetic.generator import (GeneratorConfig,
                                                          generate_benchmark)
    data = tmp_path / 'data'
    generate_benchmark(
        data,
        GeneratorConfig(train_videos=1, test_easy_videos=1,
                        test_hard_videos=1, frames=12),
        faces_dir=faces_dir, workers=1, convert=True, progress=False,
        log=None)
    work = tmp_path / 'work'
    out = _run([
        REPO_ROOT / 'tools' / 'train.py', CONFIG, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=1', *_data_options(data)
    ])
    assert 'Epoch(train) [1][2/2]' in out  # frames 1 and 11 are labelled
    state = torch.load(work / 'epoch_1.pth', map_location='cpu',
                       weights_only=False)
    keys = state['state_dict']
    assert 'teacher.backbone.conv1.weight' in keys
    assert 'student.motion_field.encoders.0.0.0.weight' in keys
    assert 'queue_teacher_hook' in state  # Eq. 8 queue, for resuming

    _run([
        REPO_ROOT / 'tools' / 'test.py', CONFIG, work / 'epoch_1.pth',
        '--work-dir', work, '--cfg-options', *_data_options(data, ('test', ))
    ])
    metrics = json.loads((work / 'metrics.json').read_text())
    for key in ('NME_inter_ocular', 'AUC@0.08_inter_ocular',
                'FR@0.08_inter_ocular', 'easy/NME_inter_ocular',
                'hard/NME_inter_ocular'):
        assert key in metrics
    assert metrics['NME_inter_ocular'] > 0
    assert (work / 'test' / 'ced_inter_ocular.png').is_file()
