"""End-to-end: tools/train.py and tools/test.py on a stock mmpose model.

A TopdownPoseEstimator + HeatmapHead from mmpose's own 300W config (shrunk)
trains for 4 iterations on the real 300W images, resumes from its
iteration-2 checkpoint up to iteration 6, and is evaluated with NME.
"""
import json
import re
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'stock_300w_tiny.py'


def _run(args, cwd):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _data_options(faces_dir):
    root = f'{faces_dir / "300w"}/'
    return [f'{split}_dataloader.dataset.data_root={root}'
            for split in ('train', 'val', 'test')]


@pytest.mark.slow
def test_train_resume_test_stock_model(tmp_path, faces_dir):
    work = tmp_path / 'work'
    opts = _data_options(faces_dir)
    out = _run([str(REPO_ROOT / 'tools' / 'train.py'), str(CONFIG),
                '--work-dir', str(work), '--cfg-options', *opts], REPO_ROOT)
    assert (work / 'iter_2.pth').is_file() and (work / 'iter_4.pth').is_file()
    assert re.search(r'Iter\(train\) \[4/4\]', out)

    # (the resumed run also keeps freed memory, as on CPU training hosts)
    out = _run([str(REPO_ROOT / 'tools' / 'train.py'), str(CONFIG),
                '--work-dir', str(work), '--resume', str(work / 'iter_2.pth'),
                '--retain-freed-memory', '--cfg-options',
                'train_cfg.max_iters=6', *opts], REPO_ROOT)
    assert 'resumed epoch: 0, iter: 2' in out
    # the iteration count continues from the checkpoint
    assert re.search(r'Iter\(train\) \[3/6\]', out)
    assert not re.search(r'Iter\(train\) \[1/6\]', out)
    ckpt = torch.load(work / 'iter_6.pth', map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['iter'] == 6

    _run([str(REPO_ROOT / 'tools' / 'test.py'), str(CONFIG),
          str(work / 'iter_6.pth'), '--work-dir', str(work), '--cfg-options',
          *opts], REPO_ROOT)
    metrics = json.loads((work / 'metrics.json').read_text())
    assert set(metrics) == {'NME'}
    assert 0.0 < metrics['NME'] < 2.0
