"""Real annotated faces used as textures of the synthetic benchmark.

Sources (all in the package's ``faces/`` folder, see its README.md):

=================  =========================================  =========
identity            files                                      split
=================  =========================================  =========
300w/indoor_029     300w/indoor_029.png (man, beard, colour)   train
wflw/2              wflw/36_Football_... face id 2 (woman)     train
wflw/12             wflw/7_Cheering_... face id 12 (man)       train
wflw/1169           wflw/7_Cheering_... face id 1169 (woman)   train
300vw/401           300vw/401 frames 731, 732 (man, grey)      train
300w/indoor_020     300w/indoor_020.png (woman, grey)          test
wflw/40             wflw/7_Cheering_... face id 40 (man)       test
300vw/001           300vw/001 frames 6, 9 (woman, colour)      test
=================  =========================================  =========

Each split has a grey-level face and both sexes; no identity (and no
image) is shared between the splits, and a synthetic identity only morphs
sources of one split. The AFLW samples are not used: their 19 points do
not determine the 68-point mesh.

Landmark conventions: 300W JSON and WFLW JSON values are taken as they are
(0-based, as mmpose reads them); 300VW ``.pts`` values get one subtracted.
WFLW's 98 points are mapped to the 68 iBUG points by :data:`WFLW98_TO_68`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import cv2
import numpy as np

from ..converters.pts_io import read_pts

__all__ = ['SourceFace', 'IBUG68_FLIP_INDICES', 'WFLW98_TO_68',
           'wflw98_to_68', 'TRAIN_IDENTITIES', 'TEST_IDENTITIES',
           'ALL_IDENTITIES', 'load_source_faces', 'mirror_face',
           'identities_of']

PathLike = Union[str, os.PathLike]


def _ibug68_flip_indices() -> list[int]:
    pairs = [(i, 16 - i) for i in range(8)]              # jaw line
    pairs += [(17 + i, 26 - i) for i in range(5)]        # brows
    pairs += [(31, 35), (32, 34)]                        # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
    pairs += [(60, 64), (61, 63), (65, 67)]
    flip = list(range(68))
    for a, b in pairs:
        flip[a], flip[b] = b, a
    return flip


#: Index of the mirrored landmark, iBUG 68-point order (0-based).
IBUG68_FLIP_INDICES: list[int] = _ibug68_flip_indices()


def _wflw98_to_68() -> np.ndarray:
    """Weights ``[68, 98]``: iBUG point = weighted sum of WFLW points.

    Derived from the two point definitions:

    * jaw: WFLW has 33 contour points (0-32) at even spacing, iBUG 17
      (0-16): iBUG ``i`` = WFLW ``2 i``;
    * brows: iBUG 17-21 / 22-26 are the upper brow edges = WFLW 33-37 /
      42-46 (WFLW 38-41 and 47-50, the lower edges, are unused);
    * nose: iBUG 27-35 = WFLW 51-59;
    * eyes: iBUG has 6 points per eye, the lid points at 1/3 and 2/3 of
      each lid; WFLW has 8 (corners 60, 64 / 68, 72 and lid points at 1/4,
      1/2, 3/4). Along a lid parametrised 0..4 over WFLW's points, iBUG's
      points at 4/3 and 8/3 are linear interpolations:
      ``2/3 p61 + 1/3 p62`` and ``1/3 p62 + 2/3 p63`` (upper lid of the
      image-left eye), likewise for the lower lid (65-67, running from
      the inner corner 64 back to 60) and for the other eye (68-75);
    * mouth: iBUG 48-59 (outer) = WFLW 76-87, iBUG 60-67 (inner) = WFLW
      88-95. The pupils (WFLW 96, 97) are unused.
    """
    w = np.zeros((68, 98))
    for i in range(17):
        w[i, 2 * i] = 1
    for i in range(5):
        w[17 + i, 33 + i] = 1
        w[22 + i, 42 + i] = 1
    for i in range(9):
        w[27 + i, 51 + i] = 1
    for ibug0, wflw0 in ((36, 60), (42, 68)):
        c0, c1 = wflw0, wflw0 + 4                    # corners
        up, low = wflw0 + 1, wflw0 + 5               # first lid points
        w[ibug0, c0] = 1
        w[ibug0 + 1, [up, up + 1]] = [2 / 3, 1 / 3]
        w[ibug0 + 2, [up + 1, up + 2]] = [1 / 3, 2 / 3]
        w[ibug0 + 3, c1] = 1
        w[ibug0 + 4, [low, low + 1]] = [2 / 3, 1 / 3]
        w[ibug0 + 5, [low + 1, low + 2]] = [1 / 3, 2 / 3]
    for i in range(12):
        w[48 + i, 76 + i] = 1
    for i in range(8):
        w[60 + i, 88 + i] = 1
    return w


#: ``[68, 98]`` weights, see :func:`_wflw98_to_68` for the derivation.
WFLW98_TO_68: np.ndarray = _wflw98_to_68()


def wflw98_to_68(points: np.ndarray) -> np.ndarray:
    """Map WFLW points ``[98, 2]`` to iBUG points ``[68, 2]``."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (98, 2):
        raise ValueError(f'expected [98, 2] WFLW points, got {points.shape}')
    return WFLW98_TO_68 @ points


@dataclass
class SourceFace:
    """One real face image with 68 landmarks.

    Attributes:
        identity: Identity name (e.g. ``'300vw/401'``); several images can
            share it.
        name: Unique name of this image (``'300vw/401/000731'``).
        image: BGR uint8 image ``[H, W, 3]`` (grey sources are replicated).
        points: ``[68, 2]`` float64, 0-based pixel coordinates.
    """
    identity: str
    name: str
    image: np.ndarray
    points: np.ndarray


TRAIN_IDENTITIES = ('300w/indoor_029', 'wflw/2', 'wflw/12', 'wflw/1169',
                    '300vw/401')
TEST_IDENTITIES = ('300w/indoor_020', 'wflw/40', '300vw/001')
ALL_IDENTITIES = TRAIN_IDENTITIES + TEST_IDENTITIES


def _require(path: Path) -> Path:
    """``path``, or an error naming it (a missing or partial faces folder)."""
    if not path.is_file():
        raise FileNotFoundError(
            f'{path}: missing from the source-faces folder (the layout is '
            'that of tsal_mmpose/datasets/synthetic/faces/, see its '
            'README.md; $TSAL_FACES_DIR overrides the folder)')
    return path


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(_require(path)), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'{path}: not an image OpenCV can read')
    return image


def _coco_faces(json_path: Path, prefix: str, stem_names: bool,
                convert=None) -> list[SourceFace]:
    data = json.loads(_require(json_path).read_text())
    images = {i['id']: i for i in data['images']}
    faces = []
    for ann in data['annotations']:
        file_name = images[ann['image_id']]['file_name']
        kpts = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
        points = kpts[:, :2] if convert is None else convert(kpts[:, :2])
        identity = f'{prefix}/{Path(file_name).stem}' if stem_names \
            else f'{prefix}/{ann["id"]}'
        faces.append(SourceFace(identity, identity,
                                _read_image(json_path.parent / file_name),
                                points))
    return faces


def load_source_faces(faces_dir: PathLike,
                      identities: Iterable[str] | None = None
                      ) -> list[SourceFace]:
    """Load the real source faces.

    Args:
        faces_dir: The folder holding ``300w/``, ``300vw/`` and ``wflw/``
            (the package's ``faces/`` or ``$TSAL_FACES_DIR``).
        identities: Identities to keep (default: all of
            :data:`ALL_IDENTITIES`), in the order given.

    Returns:
        The faces, grouped by identity in the requested order.

    Raises:
        KeyError: for an unknown identity.
        FileNotFoundError: naming the first file of a wanted identity
            that the folder lacks.
    """
    faces_dir = Path(faces_dir)
    wanted = list(ALL_IDENTITIES if identities is None else identities)
    unknown = set(wanted) - set(ALL_IDENTITIES)
    if unknown:
        raise KeyError(f'unknown source identities {sorted(unknown)}; '
                       f'known: {ALL_IDENTITIES}')
    faces: list[SourceFace] = []
    prefixes = {w.split('/')[0] for w in wanted}
    if '300w' in prefixes:
        faces += _coco_faces(faces_dir / '300w' / 'test_300w.json', '300w',
                             stem_names=True)
    if 'wflw' in prefixes:
        faces += _coco_faces(faces_dir / 'wflw' / 'test_wflw.json', 'wflw',
                             stem_names=False, convert=wflw98_to_68)
    if '300vw' in prefixes:
        for video in ('001', '401'):
            if f'300vw/{video}' not in wanted:
                continue
            annot = faces_dir / '300vw' / video / 'annot'
            pts_files = sorted(annot.glob('*.pts'))
            if not pts_files:
                raise FileNotFoundError(
                    f'{annot}: no .pts files for source identity '
                    f'300vw/{video} in the source-faces folder')
            for pts in pts_files:
                image = faces_dir / '300vw' / video / 'imgs' / \
                    f'{pts.stem}.jpg'
                faces.append(SourceFace(
                    f'300vw/{video}', f'300vw/{video}/{pts.stem}',
                    _read_image(image), read_pts(pts, 68, origin=1)))
    order = {name: i for i, name in enumerate(wanted)}
    faces = [f for f in faces if f.identity in order]
    faces.sort(key=lambda f: (order[f.identity], f.name))
    return faces


def mirror_face(face: SourceFace) -> SourceFace:
    """The horizontally mirrored face (landmarks re-ordered left/right)."""
    width = face.image.shape[1]
    points = face.points[IBUG68_FLIP_INDICES].copy()
    points[:, 0] = width - 1 - points[:, 0]
    return SourceFace(face.identity, face.name + '/mirror',
                      np.ascontiguousarray(face.image[:, ::-1]), points)


def identities_of(faces: Sequence[SourceFace]) -> list[str]:
    """Distinct identities, in order of appearance."""
    return list(dict.fromkeys(f.identity for f in faces))
