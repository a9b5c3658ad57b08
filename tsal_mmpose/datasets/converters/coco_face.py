"""COCO-style face annotation records shared by the face converters."""
from __future__ import annotations

import math

import numpy as np

__all__ = ['landmark_box', 'vw_annotation', 'w300_annotation',
           'FACE_CATEGORY_300VW', 'FACE_CATEGORY_300W']

#: ``categories`` entry of mmpose's 300VW JSON.
FACE_CATEGORY_300VW = {'id': 1, 'name': 'person'}
#: ``categories`` entry of mmpose's 300W / WFLW / AFLW JSON files.
FACE_CATEGORY_300W = {'supercategory': 'person', 'id': 1, 'name': 'face',
                      'keypoints': [], 'skeleton': []}


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """Tight box of the landmarks.

    Args:
        points: ``[N, 2]`` coordinates.

    Returns:
        ``(x_min, y_min, x_max, y_max)`` as Python floats.
    """
    x_min, y_min = (float(v) for v in points.min(axis=0))
    x_max, y_max = (float(v) for v in points.max(axis=0))
    return x_min, y_min, x_max, y_max


def _keypoint_list(points: np.ndarray) -> list[float]:
    flat: list[float] = []
    for x, y in points.tolist():
        flat += [x, y, 1]
    return flat


def vw_annotation(points: np.ndarray, image_id: int,
                  ann_id: int) -> dict:
    """One annotation as written by mmpose's 300VW converter.

    ``scale = ceil(max(w, h)) / 200`` and ``center`` is the centre of the
    tight landmark box (mmpose's top-down pipeline later pads the box by
    1.25); ``area = w * h`` of that box; every point is visible (1).

    Args:
        points: ``[68, 2]`` landmarks, 0-based pixels (or whatever
            convention the caller chose).
        image_id: The image's id.
        ann_id: This annotation's id.

    Returns:
        dict with the keys, in mmpose's order: segmentation, num_keypoints,
        iscrowd, category_id, keypoints, scale, area, center, image_id, id.
    """
    x_min, y_min, x_max, y_max = landmark_box(points)
    w, h = x_max - x_min, y_max - y_min
    return {
        'segmentation': [],
        'num_keypoints': int(len(points)),
        'iscrowd': 0,
        'category_id': 1,
        'keypoints': _keypoint_list(points),
        'scale': math.ceil(max(w, h)) / 200,
        'area': w * h,
        'center': [(x_min + x_max) / 2, (y_min + y_max) / 2],
        'image_id': image_id,
        'id': ann_id,
    }


def w300_annotation(points: np.ndarray, image_id: int, ann_id: int,
                    box_expand: float = 1.2) -> dict:
    """One annotation in the layout of mmpose's 300W / WFLW JSON files.

    The published 300W JSON satisfies, on every record checked:
    ``bbox`` = tight landmark box enlarged ``box_expand`` (1.2) times about
    its centre, ``area`` = that box's area, ``scale = ceil(max(w, h)) / 200``
    of the tight box. Its ``center`` values are the tight box centre rounded
    to half pixels by an unknown rule; the exact centre is written here.

    Args:
        points: ``[N, 2]`` landmarks.
        image_id: The image's id.
        ann_id: This annotation's id.
        box_expand: Enlargement of the tight box for ``bbox``.

    Returns:
        dict with image_id, id, keypoints, num_keypoints, bbox (x, y, w, h),
        iscrowd, area, category_id, center, scale.
    """
    x_min, y_min, x_max, y_max = landmark_box(points)
    w, h = x_max - x_min, y_max - y_min
    cx, cy = (x_min + x_max) / 2, (y_min + y_max) / 2
    bw, bh = w * box_expand, h * box_expand
    return {
        'image_id': image_id,
        'id': ann_id,
        'keypoints': _keypoint_list(points),
        'num_keypoints': int(len(points)),
        'bbox': [cx - bw / 2, cy - bh / 2, bw, bh],
        'iscrowd': 0,
        'area': bw * bh,
        'category_id': 1,
        'center': [cx, cy],
        'scale': math.ceil(max(w, h)) / 200,
    }
