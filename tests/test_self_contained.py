"""The repository reads nothing outside itself, and ships its source faces."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tsal_mmpose.datasets.synthetic.generator import (PACKAGED_FACES_DIR,
                                                      GeneratorConfig,
                                                      SyntheticSources,
                                                      default_faces_dir)
from tsal_mmpose.datasets.synthetic.sources import (ALL_IDENTITIES,
                                                    identities_of,
                                                    load_source_faces)

REPO_ROOT = Path(__file__).resolve().parents[1]
# Spelled in pieces so that this file does not match itself.
OUTSIDE = ('..' + '/shared', 'shared' + '/data', "'shared'" + ' /',
           '/work' + '/', '/root' + '/', '/home' + '/')
# Dated logs of runs on other machines quote that machine's output paths.
RECORDS = ('docs/benchmarks/', 'tools/benchmark/results/')


def _tracked_files() -> list[Path]:
    if not (REPO_ROOT / '.git').exists():
        pytest.skip('not a git checkout: the tracked files are unknown')
    out = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO_ROOT, check=True,
                         capture_output=True).stdout.decode()
    return [REPO_ROOT / f for f in out.split('\0')
            if f and not f.startswith(RECORDS)]


def test_no_tracked_file_refers_outside_the_repository():
    offenders = []
    for path in _tracked_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue                       # binary, or deleted in the tree
        for lineno, line in enumerate(text.splitlines(), 1):
            if any(p in line for p in OUTSIDE):
                offenders.append(f'{path.relative_to(REPO_ROOT)}:{lineno}: '
                                 f'{line.strip()}')
    assert not offenders, 'paths outside the repository:\n' + \
        '\n'.join(offenders)


def test_packaged_faces_hold_every_source_identity(monkeypatch):
    monkeypatch.delenv('TSAL_FACES_DIR', raising=False)
    assert default_faces_dir() == PACKAGED_FACES_DIR
    assert PACKAGED_FACES_DIR.is_relative_to(REPO_ROOT / 'tsal_mmpose')
    faces = load_source_faces(PACKAGED_FACES_DIR)
    assert identities_of(faces) == list(ALL_IDENTITIES)
    # 300W 2 + WFLW 4 + 300VW 2 x 2 images
    assert len(faces) == 10
    assert all(f.points.shape == (68, 2) for f in faces)
    assert (PACKAGED_FACES_DIR / 'LICENSE-mmpose').is_file()


def test_override_names_the_missing_file(tmp_path, monkeypatch):
    partial = tmp_path / 'faces'
    shutil.copytree(PACKAGED_FACES_DIR, partial)
    (partial / 'wflw' / 'test_wflw.json').unlink()
    monkeypatch.setenv('TSAL_FACES_DIR', str(partial))
    assert default_faces_dir() == partial
    with pytest.raises(FileNotFoundError,
                       match=r'faces/wflw/test_wflw\.json: missing'):
        SyntheticSources(default_faces_dir(), GeneratorConfig())
    shutil.rmtree(partial / '300vw' / '001' / 'annot')
    with pytest.raises(FileNotFoundError, match=r'300vw/001/annot: no \.pts'):
        load_source_faces(partial, ['300vw/001'])
    (partial / '300w' / 'indoor_020.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'indoor_020\.png: missing'):
        load_source_faces(partial, ['300w/indoor_020'])


@pytest.mark.slow
def test_wheel_carries_the_source_faces(tmp_path):
    """A ``pip install`` user gets the faces the generator needs."""
    build = tmp_path / 'src'
    shutil.copytree(REPO_ROOT, build, ignore=shutil.ignore_patterns(
        '.git', '.venv', 'work_dirs', 'data', '*.egg-info', 'build',
        '__pycache__'))
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist'),
         str(build)], capture_output=True, text=True,
        env=dict(os.environ, PIP_NO_INDEX='1'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel, = (tmp_path / 'dist').glob('tsal_mmpose-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        'tsal_mmpose/datasets/synthetic/' +
        p.relative_to(PACKAGED_FACES_DIR.parent).as_posix()
        for p in PACKAGED_FACES_DIR.rglob('*') if p.is_file()}
    assert len(expected) == 16
    assert expected <= names, sorted(expected - names)
