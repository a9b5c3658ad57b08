"""Shared pytest fixtures."""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def faces_dir() -> Path:
    """The real annotated faces (300W, 300VW, AFLW, WFLW samples).

    Looked up in ``$TSAL_FACES_DIR``, then ``<repo>/../shared/data/faces``.
    """
    path = Path(os.environ.get(
        'TSAL_FACES_DIR', REPO_ROOT.parent / 'shared' / 'data' / 'faces'))
    if not (path / '300w' / 'test_300w.json').is_file():
        raise FileNotFoundError(
            f'real face fixtures not found at {path}: set TSAL_FACES_DIR to '
            'the folder holding 300w/, 300vw/, 300vw_raw/, aflw/, wflw/')
    return path
