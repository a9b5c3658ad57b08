"""Convert raw 300W-style images + iBUG ``.pts`` files to a COCO-style JSON.

mmpose ships no converter for the raw 300W release (its 300W JSON files are
downloaded pre-converted), so this module writes the same structure as
mmpose's ``test_300w.json``: ``images`` (id, file_name, height, width),
``annotations`` (image_id, id, keypoints ``[x, y, 1] * 68``, num_keypoints,
bbox, iscrowd, area, category_id, center, scale) and ``categories``
(``[{supercategory: person, id: 1, name: face, ...}]``). See
:func:`..coco_face.w300_annotation` for bbox / center / scale.

Input: any folder tree in which an image (``.png``, ``.jpg``, ``.jpeg``)
sits beside a ``.pts`` file of the same stem (the layout of 300W's
``01_Indoor`` / ``02_Outdoor`` and of the AFW / HELEN / LFPW / IBUG
training sets). ``file_name`` is the image path relative to the root.
Coordinates: ``pts_origin=1`` (default) subtracts one (0-based output).

The raw AFLW release (an SQLite database of 21 points) is not covered: the
19-point AFLW JSON used by mmpose derives from a separately published
``.mat`` file.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Union

from PIL import Image

from .coco_face import FACE_CATEGORY_300W, w300_annotation
from .pts_io import PtsError, read_pts

__all__ = ['convert_300w_raw', 'IMAGE_SUFFIXES']

PathLike = Union[str, os.PathLike]
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')
logger = logging.getLogger(__name__)


def convert_300w_raw(root: PathLike, json_path: PathLike,
                     pts_origin: int = 1, num_points: int = 68,
                     skip_invalid: bool = False) -> dict:
    """Convert every ``image + .pts`` pair under ``root``.

    Args:
        root: Folder searched recursively for ``.pts`` files.
        json_path: JSON file to write.
        pts_origin: 1: .pts values are 1-based (one is subtracted); 0: kept.
        num_points: Points expected per file.
        skip_invalid: Leave invalid pairs out with a logged warning instead
            of raising.

    Returns:
        The written dict.

    Raises:
        ValueError: naming every invalid file (missing image, malformed
            .pts, unreadable image) unless ``skip_invalid``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f'{root}: folder not found')
    data = {'categories': [dict(FACE_CATEGORY_300W)], 'images': [],
            'annotations': []}
    problems = []
    for pts in sorted(root.rglob('*.pts')):
        image = next((pts.with_suffix(s) for s in IMAGE_SUFFIXES
                      if pts.with_suffix(s).is_file()), None)
        if image is None:
            problems.append(f'{pts}: no image beside it ({IMAGE_SUFFIXES})')
            continue
        try:
            points = read_pts(pts, num_points, origin=pts_origin)
            with Image.open(image) as im:
                width, height = im.size
        except PtsError as exc:
            problems.append(str(exc))
            continue
        except OSError as exc:
            problems.append(f'{image}: unreadable image ({exc})')
            continue
        idx = len(data['images'])
        data['images'].append({'id': idx,
                               'file_name': image.relative_to(root).as_posix(),
                               'height': height, 'width': width})
        data['annotations'].append(w300_annotation(points, idx, idx))
    if problems:
        text = f'{len(problems)} invalid file(s):\n    ' + \
            '\n    '.join(problems)
        if not skip_invalid:
            raise ValueError(text)
        logger.warning('skip-invalid: %s', text)
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data))
    return data
