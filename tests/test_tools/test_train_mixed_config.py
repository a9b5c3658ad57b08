"""tools/train.py on configs/tsal_hrnet_300w_300vw.py: 300W images and 300VW
clips in every batch, alone and with --launcher pytorch on 2 CPU processes.

The data are the repository's own samples (the ``faces_dir`` fixture): the
two 300W images and the real 300VW frames 6 and 9 of video 001 as one clip
of 2 frames. Every batch is 1 image and 2 clips (a test config adds only a
hook that records each batch's sources); validation runs on 300W "common"
and "challenge" (both the two sample images here).
"""
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / \
    'tsal_hrnet_300w_300vw_counted.py'


def _options(faces_dir):
    images = 'train_dataloader.dataset.datasets.0'
    clips = 'train_dataloader.dataset.datasets.1'
    opts = [
        'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=3',
        'train_dataloader.sampler.batch_size=3',
        'train_dataloader.sampler.source_ratio=[1,2]',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'{images}.data_root={faces_dir}/',
        f'{images}.ann_file=300w/test_300w.json',
        f'{images}.data_prefix.img=300w/',
        f'{clips}.data_root={faces_dir}/',
        f'{clips}.ann_file=300vw/anno_300vw.json',
        f'{clips}.data_prefix.img=300vw/',
        f'{clips}.broken_frames_file=None',
        f'{clips}.clip_len=2',
        f'{clips}.label_stride=5',
        f'{clips}.max_frame_gap=3',
        'val_dataloader.batch_size=4',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
    ]
    for i in (0, 1):
        subset = f'val_dataloader.dataset.datasets.{i}'
        opts += [
            f'{subset}.data_root={faces_dir}/',
            f'{subset}.ann_file=300w/test_300w.json',
            f'{subset}.data_prefix.img=300w/'
        ]
    return opts


def _run(cmd):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=1800, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _batches(work, rank):
    return json.loads((work / f'batch_sources_rank{rank}.json').read_text())


@pytest.mark.slow
def test_mixed_config_trains_with_the_ratio(tmp_path, faces_dir):
    work = tmp_path / 'work'
    out = _run([sys.executable, REPO_ROOT / 'tools' / 'train.py', CONFIG,
                '--work-dir', work, '--cfg-options', *_options(faces_dir)])
    # 3 items (2 images, 1 clip) in batches of 3: one iteration an epoch
    assert re.search(r'Epoch\(train\)\s*\[2\]\[1/1\]', out)
    assert 'teacher/loss_pseudo' in out and 'student/loss_sic' in out
    batches = _batches(work, 0)
    assert len(batches) == 2
    for batch in batches:
        assert batch == dict(sources={'300w': 1, '300vw': 2},
                             clip_lens=[1, 2, 2])
    # validation on the two 300W subsets and their union
    metrics = re.findall(r'(common|challenge)/NME_inter_pupil: ([\d.]+)', out)
    assert {name for name, _ in metrics} == {'common', 'challenge'}
    assert re.search(r'Epoch\(val\) \[2\]\[\d+/\d+\].*NME_inter_pupil: '
                     r'[\d.]+', out)


@pytest.mark.slow
def test_mixed_config_trains_on_two_cpu_processes(tmp_path, faces_dir):
    work = tmp_path / 'work'
    out = _run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
        '2', '--master_port', _free_port(),
        REPO_ROOT / 'tools' / 'train.py', CONFIG, '--launcher', 'pytorch',
        '--work-dir', work, '--cfg-options', *_options(faces_dir)
    ])
    assert 'gloo' in out
    # ceil(3 items / 2 ranks) = 2 per rank: one batch of 3 an epoch
    assert re.search(r'Epoch\(train\)\s*\[2\]\[1/1\]', out)
    for rank in (0, 1):
        batches = _batches(work, rank)
        assert len(batches) == 2
        for batch in batches:
            assert batch == dict(sources={'300w': 1, '300vw': 2},
                                 clip_lens=[1, 2, 2]), rank
