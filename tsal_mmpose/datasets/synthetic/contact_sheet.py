"""Contact sheets: a grid of video frames with their 68 landmarks drawn.

Reads the raw 300VW layout (``NNN/vid.avi`` + ``NNN/annot/*.pts``) or a
converted COCO-style JSON with its image folder, so a person can judge the
realism of synthetic videos and the alignment of their labels.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence, Union

import cv2
import numpy as np

from ..converters.pts_io import read_pts

__all__ = ['SheetItem', 'frames_from_raw', 'frames_from_json',
           'draw_landmarks', 'make_contact_sheet']

PathLike = Union[str, os.PathLike]
SheetItem = tuple  # (label: str, image [H, W, 3] uint8, points [68, 2])

#: (first, last, closed, BGR colour) of the iBUG 68 landmark groups.
GROUPS = ((0, 16, False, (255, 200, 0)), (17, 21, False, (0, 255, 255)),
          (22, 26, False, (0, 255, 255)), (27, 30, False, (0, 160, 255)),
          (31, 35, False, (0, 160, 255)), (36, 41, True, (0, 255, 0)),
          (42, 47, True, (0, 255, 0)), (48, 59, True, (255, 0, 255)),
          (60, 67, True, (200, 120, 255)))


def _pick(n: int, k: int) -> list[int]:
    """``k`` evenly spaced indices in ``range(n)``."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def frames_from_raw(raw_root: PathLike, videos: Sequence[str] | None = None,
                    per_video: int = 4, max_videos: int = 8,
                    pts_origin: int = 1) -> list[SheetItem]:
    """Evenly spaced frames of raw videos with their .pts labels."""
    raw_root = Path(raw_root)
    if videos is None:
        videos = sorted(p.name for p in raw_root.iterdir()
                        if (p / 'vid.avi').is_file())[:max_videos]
    items = []
    for video in videos:
        annot = raw_root / video / 'annot'
        n = len(list(annot.glob('*.pts')))
        wanted = set(_pick(n, per_video))
        cap = cv2.VideoCapture(str(raw_root / video / 'vid.avi'))
        for k in range(max(wanted) + 1 if wanted else 0):
            ok, frame = cap.read()
            if not ok:
                break
            if k in wanted:
                pts = read_pts(annot / f'{k + 1:06d}.pts', None, pts_origin)
                items.append((f'{video}/{k + 1:06d}', frame, pts))
        cap.release()
    return items


def frames_from_json(json_path: PathLike, img_root: PathLike,
                     videos: Sequence[str] | None = None,
                     per_video: int = 4, max_videos: int = 8
                     ) -> list[SheetItem]:
    """Evenly spaced frames of a 300VW-style JSON (videos grouped by the
    first folder of ``file_name``)."""
    data = json.loads(Path(json_path).read_text())
    anns = {a['image_id']: a for a in data['annotations']}
    by_video = defaultdict(list)
    for image in data['images']:
        by_video[image['file_name'].split('/')[0]].append(image)
    if videos is None:
        videos = sorted(by_video)[:max_videos]
    items = []
    for video in videos:
        images = sorted(by_video[video], key=lambda i: i['file_name'])
        for i in _pick(len(images), per_video):
            image = images[i]
            frame = cv2.imread(str(Path(img_root) / image['file_name']))
            if frame is None:
                raise FileNotFoundError(f'{img_root}/{image["file_name"]}')
            kpts = np.asarray(anns[image['id']]['keypoints'],
                              dtype=np.float64).reshape(-1, 3)[:, :2]
            items.append((image['file_name'], frame, kpts))
    return items


def draw_landmarks(image: np.ndarray, points: np.ndarray,
                   radius: int = 1, lines: bool = True) -> np.ndarray:
    """Draw 68 landmarks (sub-pixel positions) on a copy of ``image``."""
    out = image.copy()
    fixed = np.round(np.asarray(points) * 16).astype(np.int32)
    for first, last, closed, colour in GROUPS:
        if last >= len(fixed):
            continue
        group = fixed[first:last + 1]
        if lines:
            cv2.polylines(out, [group], closed, colour, 1, cv2.LINE_AA, 4)
        for p in group:
            cv2.circle(out, tuple(int(v) for v in p), radius * 16, (0, 0, 255),
                       -1, cv2.LINE_AA, 4)
    return out


def make_contact_sheet(items: Sequence[SheetItem], columns: int = 4,
                       tile_height: int = 240, crop: bool = False,
                       draw: bool = True) -> np.ndarray:
    """Tile frames into one image.

    Args:
        items: ``(label, image, points)`` triples.
        columns: Tiles per row.
        tile_height: Height of every tile (px); width follows the first
            frame's aspect ratio (square when cropping).
        crop: Crop each frame to twice the landmark box (face detail).
        draw: Draw the landmarks.

    Returns:
        The sheet, BGR uint8.
    """
    if not items:
        raise ValueError('no frames to show')
    tiles = []
    for label, image, points in items:
        pts = np.asarray(points, dtype=np.float64)
        if crop:
            c = (pts.min(0) + pts.max(0)) / 2
            half = (pts.max(0) - pts.min(0)).max()
            scale = tile_height / (2 * half)
            matrix = np.array([[scale, 0, tile_height / 2 - scale * c[0]],
                               [0, scale, tile_height / 2 - scale * c[1]]])
            tile = cv2.warpAffine(image, matrix, (tile_height, tile_height),
                                  flags=cv2.INTER_LINEAR)
        else:
            scale = tile_height / image.shape[0]
            matrix = np.array([[scale, 0, (scale - 1) / 2],
                               [0, scale, (scale - 1) / 2]])
            width = int(round(image.shape[1] * scale))
            tile = cv2.warpAffine(image, matrix, (width, tile_height),
                                  flags=cv2.INTER_LINEAR)
        if draw:
            tile = draw_landmarks(tile, pts @ matrix[:, :2].T + matrix[:, 2],
                                  radius=1 if tile_height < 400 else 2)
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    width = max(t.shape[1] for t in tiles)
    rows = []
    for r in range(0, len(tiles), columns):
        row = [cv2.copyMakeBorder(t, 1, 1, 1, 1 + width - t.shape[1],
                                  cv2.BORDER_CONSTANT, value=(40, 40, 40))
               for t in tiles[r:r + columns]]
        while len(row) < columns:
            row.append(np.full_like(row[0], 40))
        rows.append(np.hstack(row))
    return np.vstack(rows)
