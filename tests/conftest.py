"""Shared pytest fixtures."""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def mmpose_default_scope():
    """Run every test in mmpose's registry scope.

    An mmengine Runner built by one test leaves its own default scope
    behind; without this, registry look-ups in later tests would depend on
    the order the tests run in.
    """
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


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


@pytest.fixture(scope='session')
def synthetic_300vw(tmp_path_factory, faces_dir) -> Path:
    """A tiny converted embedded benchmark (2 train, 1 easy, 1 hard video).

    Layout of ``tools/make_synthetic_300vw.py --convert``: ``images/``,
    ``annotations/{train,test}.json``, ``annotations/categories.json``,
    ``raw/NNN/vid.avi``.
    """
    from tsal_mmpose.datasets.synthetic.generator import (GeneratorConfig,
                                                          generate_benchmark)
    root = tmp_path_factory.mktemp('synthetic_300vw')
    config = GeneratorConfig(
        seed=1, train_videos=2, test_easy_videos=1, test_hard_videos=1,
        frames=24)
    generate_benchmark(root, config, faces_dir=faces_dir, workers=1,
                       convert=True, progress=False, log=None)
    return root
