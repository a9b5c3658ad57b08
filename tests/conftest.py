"""Shared pytest fixtures."""
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGED_FACES = REPO_ROOT / 'tsal_mmpose' / 'datasets' / 'synthetic' / 'faces'
TEST_FACES = REPO_ROOT / 'tests' / 'data' / 'faces'
#: One file of each sample set, checked so that a partial folder fails early.
FACE_FILES = ('300w/test_300w.json', 'wflw/test_wflw.json',
              'aflw/test_aflw.json', '300vw/anno_300vw.json',
              '300vw/401/annot/000732.pts', '300vw_raw/401/vid.avi')


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
def faces_dir(tmp_path_factory) -> Path:
    """The real annotated faces (300W, 300VW, AFLW, WFLW) in one folder.

    ``$TSAL_FACES_DIR`` when set; otherwise the package's source faces
    (``tsal_mmpose/datasets/synthetic/faces``) and the test-only samples
    (``tests/data/faces``) copied side by side into one temporary folder,
    the layout of mmpose's ``tests/data``: ``300w/``, ``300vw/``,
    ``300vw_raw/``, ``aflw/``, ``wflw/``.
    """
    override = os.environ.get('TSAL_FACES_DIR')
    if override:
        path = Path(override)
    else:
        path = tmp_path_factory.mktemp('faces')
        for part in (PACKAGED_FACES, TEST_FACES):
            shutil.copytree(part, path, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns('README.md'))
    origin = ('$TSAL_FACES_DIR' if override else
              f'copied from {PACKAGED_FACES} and {TEST_FACES}')
    for name in FACE_FILES:
        if not (path / name).is_file():
            raise FileNotFoundError(
                f'{path / name}: missing from the faces folder ({origin})')
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


@pytest.fixture(scope='session')
def face_300w(faces_dir):
    """The 300W photograph indoor_029 and its landmarks [68, 2]."""
    ann = json.loads((faces_dir / '300w' / 'test_300w.json').read_text())
    image = next(i for i in ann['images']
                 if i['file_name'] == 'indoor_029.png')
    record = next(a for a in ann['annotations']
                  if a['image_id'] == image['id'])
    points = np.array(record['keypoints'], dtype=np.float64).reshape(-1, 3)
    img = cv2.imread(str(faces_dir / '300w' / 'indoor_029.png'))
    return img, points[:, :2]
