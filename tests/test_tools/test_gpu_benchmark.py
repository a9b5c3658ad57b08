"""tools/benchmark/gpu_benchmark.sh: the step order and the time budget,
with a stand-in for Python (no GPU and no stack needed)."""
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'benchmark' / 'gpu_benchmark.sh'


def run_script(tmp_path: Path, budget: int, steps: str = '') -> tuple:
    calls = tmp_path / 'calls.txt'
    fake = tmp_path / 'fakepython'
    # records every speed.py call; the version check (-c) just succeeds
    fake.write_text('#!/usr/bin/env bash\n'
                    '[ "$1" = -c ] && exit 0\n'
                    f'echo "$@" >> {calls}\n')
    fake.chmod(0o755)
    env = dict(os.environ, PYTHON=str(fake), BUDGET=str(budget),
               STEPS=steps, DEVICE='cpu', PATH='/usr/bin:/bin')
    out = subprocess.run(['bash', str(SCRIPT), str(tmp_path / 'out')],
                         cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    log = (tmp_path / 'out' / 'log.txt').read_text()
    ran = calls.read_text().splitlines() if calls.exists() else []
    return log, ran


def test_steps_run_in_order_without_a_budget(tmp_path):
    log, ran = run_script(tmp_path, budget=0)
    steps = re.findall(r'\] (\w+): speed\.py', log)
    assert steps == ['fp32', 'fp32_compiled', 'memory_loader', 'bf16',
                     'bf16_compiled', 'profile']
    assert len(ran) == 6
    # each step writes its own JSON; the fast paths fit 2 clips first
    assert [re.search(r'--out \S+/(\w+)\.json', c).group(1)
            for c in ran] == steps
    for call in ran:
        fits = '--fit-steps 100 --fit-clips 2' in call
        assert fits == ('--amp bf16' in call or '--compile' in call), call


def test_a_step_gets_what_is_left_and_is_skipped_below_its_minimum(
        tmp_path):
    # 50 s: enough for fp32 (minimum 45), memory_loader (40) and profile
    # (40), each limited to what is left; not for the others
    log, ran = run_script(tmp_path, budget=50)
    assert re.search(r'fp32: speed\.py .* \(limit (49|50)s\)', log)
    for name, need in (('fp32_compiled', 120), ('bf16', 60),
                       ('bf16_compiled', 100)):
        assert re.search(
            rf'{name}: skipped, (49|50)s of the budget left '
            rf'\(needs {need}s\)', log), name
    assert re.search(r'memory_loader: speed\.py .* \(limit (49|50)s\)', log)
    assert len(ran) == 3


def test_steps_selects_steps(tmp_path):
    log, ran = run_script(tmp_path, budget=0,
                          steps='bf16_compiled fp32_compiled')
    assert re.findall(r'\] (\w+): speed\.py', log) == [
        'fp32_compiled', 'bf16_compiled'
    ]
    assert len(ran) == 2
    for name in ('fp32', 'memory_loader', 'bf16', 'profile'):
        assert f'] {name}: not in STEPS' in log
