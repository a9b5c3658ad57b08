"""tools/train.py --launcher pytorch: 2 CPU processes (gloo) under torchrun."""
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'tsal_tiny_ddp.py'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _torchrun(args):
    port = _free_port()
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
           '2', '--master_port', str(port),
           str(REPO_ROOT / 'tools' / 'train.py'), str(CONFIG), '--launcher',
           'pytorch', *args]
    # the test hook module is imported from the repository root
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(cmd, cwd=REPO_ROOT, text=True, capture_output=True,
                          timeout=900, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def _assert_same_weights(state0, state1):
    """Parameters of teacher and student are identical on both ranks.

    BatchNorm running statistics are rank-local (mmengine's DDP does not
    broadcast buffers), so they are not compared.
    """
    weights = [k for k in state0
               if not k.endswith(('running_mean', 'running_var',
                                  'num_batches_tracked'))]
    assert any(k.startswith('teacher.') for k in weights)
    assert any(k.startswith('student.') for k in weights)
    for key in weights:
        assert torch.equal(state0[key], state1[key]), key


@pytest.mark.slow
def test_ddp_two_cpu_processes_stay_identical_and_resume(
        tmp_path, synthetic_300vw):
    work = tmp_path / 'work'
    root = f'{synthetic_300vw}/'
    opts = [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
    ]
    out = _torchrun(['--work-dir', str(work), '--cfg-options',
                     'train_cfg.max_iters=2', *opts])
    assert "'backend': 'gloo'" in out or 'gloo' in out
    assert re.search(r'Iter\(train\) \[2/2\]', out)
    ranks = [torch.load(work / f'rank{r}_state.pth', weights_only=True)
             for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    _assert_same_weights(*ranks)
    # the teacher moved away from the student (own steps + Eq. 8 queue)
    t, s = (ranks[0][f'{r}.head.heatmap_layer.weight']
            for r in ('teacher', 'student'))
    assert not torch.equal(t, s)

    out = _torchrun(['--work-dir', str(work), '--resume',
                     str(work / 'iter_2.pth'), '--cfg-options',
                     'train_cfg.max_iters=3', *opts])
    assert 'resumed epoch: 0, iter: 2' in out
    assert re.search(r'Iter\(train\) \[3/3\]', out)
    ranks = [torch.load(work / f'rank{r}_state.pth', weights_only=True)
             for r in (0, 1)]
    _assert_same_weights(*ranks)
