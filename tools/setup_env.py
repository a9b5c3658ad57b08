#!/usr/bin/env python3
"""Create ``.venv/`` at the repository root with the pinned OpenMMLab stack.

Usage::

    python3 tools/setup_env.py          # create or refresh .venv (idempotent)
    python3 tools/setup_env.py --check  # exit 0 if .venv is up to date, else 1

The pins live in ``pyproject.toml`` (``[project].dependencies`` and
``[tool.tsal_mmpose.setup]``); this script only decides *how* each one is
installed:

* torch / torchvision and the pure-Python or wheel packages: plain ``pip``.
* xtcocotools: rebuilt from its sdist against the installed numpy.
* mmcv (full build with ops): compiled from its sdist with the C++ standard
  the installed torch headers need, then cached as a wheel under
  ``$TSAL_CACHE_DIR`` (default ``~/.cache/tsal_mmpose/wheels``) keyed by
  Python and torch versions, so that a second set-up takes seconds.
* mmpose: ``--no-deps`` (its chumpy requirement does not build).
* tsal_mmpose itself: editable, ``--no-deps``.

A stamp (``.venv/.tsal_stamp``) records a hash of pyproject.toml and of this
script; ``--check`` compares it, so ``make`` targets re-run the set-up only
when the venv is missing or stale. Every failing step stops the script with
the command, its exit status and the tail of its log.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / '.venv'
STAMP = VENV / '.tsal_stamp'
PYPROJECT = ROOT / 'pyproject.toml'
CACHE = Path(
    os.environ.get('TSAL_CACHE_DIR',
                   Path.home() / '.cache' / 'tsal_mmpose')) / 'wheels'

_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f'[setup {time.monotonic() - _T0:6.0f}s] {msg}', flush=True)


def fail(msg: str) -> None:
    print(f'[setup] FAILED: {msg}', file=sys.stderr, flush=True)
    sys.exit(1)


def stamp_value() -> str:
    h = hashlib.sha256()
    h.update(PYPROJECT.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def is_fresh() -> bool:
    return (VENV / 'bin' / 'python').exists() and STAMP.exists() and \
        STAMP.read_text().strip() == stamp_value()


def run(cmd: list[str], what: str, env: dict | None = None,
        cwd: Path | None = None, heartbeat=None) -> None:
    """Run ``cmd``; on failure print its log tail and stop.

    With ``heartbeat`` (a callable returning a progress string), a line with
    the elapsed time is printed every 30 s so long builds never look hung.
    """
    log(f'{what} ...')
    t0 = time.monotonic()
    with tempfile.NamedTemporaryFile('w+', suffix='.log', delete=False) as f:
        logfile = f.name
    with open(logfile, 'w') as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd)
        while True:
            try:
                proc.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                extra = f' ({heartbeat()})' if heartbeat else ''
                log(f'  ... {what}: {time.monotonic() - t0:.0f}s elapsed'
                    f'{extra}')
    if proc.returncode != 0:
        tail = Path(logfile).read_text(errors='replace').splitlines()[-40:]
        print('\n'.join(tail), file=sys.stderr)
        fail(f'{what}: `{" ".join(cmd)}` exited with {proc.returncode} '
             f'(full log: {logfile})')
    os.unlink(logfile)
    log(f'{what}: done in {time.monotonic() - t0:.0f}s')


def read_pins() -> tuple[dict[str, str], dict]:
    data = tomllib.loads(PYPROJECT.read_text())
    pins = {}
    extras = data['project']['optional-dependencies']
    for req in data['project']['dependencies'] + extras['test'] + \
            extras['face']:
        m = re.fullmatch(r'([A-Za-z0-9_.\-]+)==([^\s;]+)', req.strip())
        if not m:
            fail(f'pyproject.toml: dependency {req!r} is not pinned with ==')
        pins[m.group(1).lower().replace('_', '-')] = m.group(2)
    return pins, data['tool']['tsal_mmpose']['setup']


def venv_python() -> str:
    return str(VENV / 'bin' / 'python')


CONSTRAINTS = Path(tempfile.gettempdir()) / 'tsal_mmpose_constraints.txt'


def pip(*args: str, constrained: bool = True) -> list[str]:
    """A pip command of the venv.

    Args:
        *args: pip's arguments.
        constrained: Add the pins as constraints (``-c``), so that no
            dependency resolution moves a pinned package (e.g. a newer
            setuptools without pkg_resources). Only installs outside the
            venv (mmcv's build tools) go without them.

    Returns:
        list[str]: The command.
    """
    constraints = ['-c', str(CONSTRAINTS)] if constrained else []
    return [venv_python(), '-m', 'pip', '--disable-pip-version-check',
            '--no-input', *args, *constraints]


def py_out(code: str) -> str:
    return subprocess.check_output([venv_python(), '-c', code],
                                   text=True).strip()


def cxx_std_for_torch() -> str:
    """The -std flag the installed torch's C++ headers require."""
    src = py_out('import torch.utils.cpp_extension as c, inspect; '
                 'print(inspect.getsource(c))')
    stds = re.findall(r'-std=c\+\+(\d\d)', src)
    return f'c++{max(stds, key=int)}' if stds else 'c++17'


def build_mmcv(version: str, build_setuptools: str) -> Path:
    """Return a cached full-mmcv wheel, compiling it if needed."""
    pyver = py_out('import sys; print("%d%d" % sys.version_info[:2])')
    torchver = py_out('import torch; print(torch.__version__.split("+")[0])')
    key = f'py{pyver}-torch{torchver}'
    cache = CACHE / key
    found = sorted(cache.glob(f'mmcv-{version}-*.whl'))
    if found:
        log(f'mmcv {version}: cached wheel {found[-1]} (key {key})')
        return found[-1]
    std = cxx_std_for_torch()
    log(f'mmcv {version}: no cached wheel for {key}; compiling its ops with '
        f'-std={std} (7-15 minutes on 2 cores)')
    work = Path(tempfile.mkdtemp(prefix='tsal_mmcv_'))
    # An old setuptools (with pkg_resources) shadows the venv's own for
    # mmcv's setup.py only; it goes to its own folder, outside the pins.
    tools = work / 'buildtools'
    run(pip('install', '--no-deps', '--target', str(tools), build_setuptools,
            constrained=False),
        f'install {build_setuptools} for the mmcv build')
    env = dict(os.environ, PYTHONPATH=str(tools), MMCV_WITH_OPS='1',
               FORCE_CUDA='0', MAX_JOBS=str(os.cpu_count() or 2))
    run(pip('download', '--no-deps', '--no-binary', ':all:',
            '--no-build-isolation', '-d', str(work), f'mmcv=={version}'),
        f'download mmcv {version} sdist', env=env)
    sdist = next(work.glob('mmcv-*.tar.gz'))
    with tarfile.open(sdist) as tar:
        tar.extractall(work, filter='data')
    src = next(p for p in work.iterdir()
               if p.is_dir() and p.name.startswith('mmcv-'))
    setup_py = src / 'setup.py'
    text = setup_py.read_text()
    if std != 'c++17':
        n = text.count('-std=c++17')
        if n == 0:
            fail(f'{setup_py}: no -std=c++17 flag to raise to {std}')
        setup_py.write_text(text.replace('-std=c++17', f'-std={std}'))
        log(f'  raised {n} -std=c++17 flag(s) in mmcv setup.py to {std}')
    build_dir = src / 'build'

    def progress() -> str:
        n = len(list(build_dir.rglob('*.o'))) if build_dir.exists() else 0
        return f'{n} object files compiled'

    dist = work / 'dist'
    run(pip('wheel', '--no-deps', '--no-build-isolation', '-w', str(dist),
            str(src)),
        f'compile mmcv {version} (full, CPU ops)', env=env, heartbeat=progress)
    wheel = next(dist.glob('mmcv-*.whl'))
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / wheel.name
    shutil.copy2(wheel, target.with_suffix('.tmp'))
    target.with_suffix('.tmp').rename(target)
    shutil.rmtree(work, ignore_errors=True)
    log(f'mmcv wheel cached at {target}')
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='exit 0 if .venv is up to date, 1 otherwise')
    parser.add_argument('--force', action='store_true',
                        help='reinstall even if the stamp is current')
    args = parser.parse_args()
    if args.check:
        sys.exit(0 if is_fresh() else 1)
    if is_fresh() and not args.force:
        log(f'{VENV} is up to date')
        return

    pins, setup = read_pins()
    special = set(setup['no-deps']) | set(setup['from-source']) | \
        {'torch', 'torchvision', 'mmpose', 'mmcv'}

    def pinned(name: str) -> str:
        return f'{name}=={pins[name]}'

    CONSTRAINTS.write_text('\n'.join(
        [pinned(n) for n in pins] + list(setup['build-tools'])) + '\n')

    if STAMP.exists():
        STAMP.unlink()
    if not (VENV / 'bin' / 'python').exists():
        run([sys.executable, '-m', 'venv', str(VENV)], f'create {VENV}')
    run(pip('install', *setup['build-tools']), 'install build tools')
    run(pip('install', pinned('torch'), pinned('torchvision'),
            pinned('numpy')), 'install torch + torchvision')
    rest = [pinned(n) for n in pins if n not in special]
    run(pip('install', *rest), 'install pinned packages')
    run(pip('install', '--no-deps', '--no-build-isolation', '--no-binary',
            'xtcocotools', '--force-reinstall', pinned('xtcocotools')),
        'build xtcocotools against the installed numpy')
    wheel = build_mmcv(pins['mmcv'], setup['mmcv-build-setuptools'])
    run(pip('install', '--no-deps', str(wheel)), 'install mmcv (full)')
    run(pip('install', '--no-deps', pinned('mmpose')),
        'install mmpose without chumpy')
    run(pip('install', '--no-deps', '--no-build-isolation', '-e', str(ROOT)),
        'install tsal_mmpose (editable)')
    run([venv_python(), '-c',
         'import mmcv.ops, mmdet, xtcocotools.coco, torchvision; '
         'from mmpose.utils import register_all_modules; '
         'register_all_modules(); import tsal_mmpose'],
        'check that the stack imports')
    STAMP.write_text(stamp_value() + '\n')
    size = sum(p.stat().st_size for p in VENV.rglob('*')
               if p.is_file() and not p.is_symlink())
    log(f'{VENV} ready ({size / 2**30:.1f} GiB)')


if __name__ == '__main__':
    main()
