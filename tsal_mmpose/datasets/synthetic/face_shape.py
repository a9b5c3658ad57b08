"""Landmark shapes of the synthetic faces: canonical frame, mesh support
points, expressions and head pose.

All shapes live first in a *canonical texture frame* of
``CANONICAL_SIZE`` pixels in which every identity is similarity-aligned to
a reference shape (landmark box ``FACE_WIDTH`` px wide). A frame's shape is
the identity's canonical shape, deformed by an expression (mouth, smile,
brows, blink: displacements of landmark groups, in units of the face
width), turned by a pseudo-3-D yaw / pitch (each vertex gets a depth from a
rounded face model with a nose ridge; the turn moves it by
``depth * sin(angle)`` and shortens the face by ``cos(angle)``), then
rotated (roll), scaled and translated into the video frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .face_warp import apply_affine, similarity_transform
from .sources import IBUG68_FLIP_INDICES

__all__ = ['CANONICAL_SIZE', 'FACE_WIDTH', 'NUM_RING', 'NUM_FOREHEAD',
           'reference_shape', 'support_points', 'vertex_depths',
           'Expression', 'Pose', 'apply_expression', 'apply_pose',
           'head_mask', 'landmark_box']

CANONICAL_SIZE = 256
FACE_WIDTH = 112.0
NUM_RING = 24
FOREHEAD_FROM = (17, 19, 21, 22, 24, 26)
NUM_FOREHEAD = len(FOREHEAD_FROM)


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """``(cx, cy, w, h)`` of the tight box of ``points [N, 2]``."""
    lo, hi = points.min(0), points.max(0)
    return ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[0] - lo[0],
            hi[1] - lo[1])


def reference_shape(shapes: list[np.ndarray],
                    iterations: int = 5) -> np.ndarray:
    """Symmetric mean shape placed in the canonical frame.

    Generalised Procrustes mean of ``shapes`` and their mirror images,
    scaled to a ``FACE_WIDTH`` wide landmark box centred at
    ``(S / 2, 0.56 S)`` (room for the forehead above).

    Args:
        shapes: ``[68, 2]`` landmark arrays (any image coordinates).

    Returns:
        ``[68, 2]`` reference landmarks in canonical pixels.
    """
    all_shapes = []
    for s in shapes:
        s = np.asarray(s, dtype=np.float64)
        m = s[IBUG68_FLIP_INDICES].copy()
        m[:, 0] = -m[:, 0]
        all_shapes += [s, m]
    mean = all_shapes[0] - all_shapes[0].mean(0)
    for _ in range(iterations):
        aligned = [apply_affine(similarity_transform(s, mean), s)
                   for s in all_shapes]
        mean = np.mean(aligned, axis=0)
        mean -= mean.mean(0)
        mean /= np.linalg.norm(mean)
    # Upright: eye centres horizontal.
    eye_l, eye_r = mean[36:42].mean(0), mean[42:48].mean(0)
    angle = np.arctan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0])
    c, s = np.cos(-angle), np.sin(-angle)
    mean = mean @ np.array([[c, s], [-s, c]])
    cx, cy, w, _ = landmark_box(mean)
    return (mean - (cx, cy)) * (FACE_WIDTH / w) + \
        (CANONICAL_SIZE / 2, 0.56 * CANONICAL_SIZE)


def support_points(shape: np.ndarray) -> np.ndarray:
    """Mesh vertices added to the 68 landmarks of ``shape``.

    ``NUM_RING`` points on an ellipse around the head (the mesh border,
    forehead and hair inside it) followed by ``NUM_FOREHEAD`` points above
    the brows.

    Returns:
        ``[NUM_RING + NUM_FOREHEAD, 2]``.
    """
    cx, cy, w, h = landmark_box(shape)
    t = np.linspace(0, 2 * np.pi, NUM_RING, endpoint=False)
    ring = np.stack([cx + 0.95 * w * np.cos(t),
                     cy - 0.12 * h + 1.05 * h * np.sin(t)], axis=1)
    forehead = shape[list(FOREHEAD_FROM)] - (0, 0.24 * h)
    return np.concatenate([ring, forehead])


def vertex_depths(shape: np.ndarray) -> np.ndarray:
    """Pseudo depth of every mesh vertex (landmarks + support points).

    A rounded face: ``z = 0.5 (w / 2) sqrt(1 - (0.92 u)^2)`` for the
    horizontal position ``u`` in [-1, 1] across the landmark box (the jaw
    line keeps some depth, so that a turn moves the far eye and brow
    towards it without crossing it), plus a nose ridge (up to ``0.25 w /
    2`` at the tip) and lips (``0.06 w / 2``); the ring is at depth 0,
    the forehead points follow the rounded profile.

    Returns:
        ``[V]`` depths in canonical pixels, ``V = 68 + NUM_RING +
        NUM_FOREHEAD``.
    """
    cx, _, w, _ = landmark_box(shape)
    half = w / 2

    def rounded(x: np.ndarray) -> np.ndarray:
        u = np.clip(0.92 * (x - cx) / half, -1, 1)
        return 0.5 * half * np.sqrt(1 - u ** 2)

    z = rounded(shape[:, 0])
    nose = {27: 0.05, 28: 0.1, 29: 0.17, 30: 0.25, 31: 0.12, 32: 0.15,
            33: 0.18, 34: 0.15, 35: 0.12}
    for i, extra in nose.items():
        z[i] += extra * half
    z[48:68] += 0.06 * half                          # lips
    forehead = support_points(shape)[NUM_RING:]
    return np.concatenate([z, np.zeros(NUM_RING),
                           rounded(forehead[:, 0]) + 0.05 * half])


@dataclass
class Expression:
    """Expression coefficients (0 = the identity's own neutral shape).

    Attributes:
        mouth: Jaw drop / mouth opening, 0..1.
        smile: Mouth corners out and up, -0.5..1.
        brows: Brow raise (+) or frown (-), -1..1.
        blink: Eyelid closure, 0 (open) .. 1 (closed).
    """
    mouth: float = 0.0
    smile: float = 0.0
    brows: float = 0.0
    blink: float = 0.0

    def scaled(self, factor: float) -> 'Expression':
        """All coefficients times ``factor``."""
        return Expression(self.mouth * factor, self.smile * factor,
                          self.brows * factor, self.blink * factor)


def _mouth_field() -> np.ndarray:
    d = np.zeros((68, 2))
    for i in range(17):
        d[i, 1] = np.clip(1 - abs(i - 8) / 6, 0, 1) ** 1.3
    for i, wgt in {55: 0.75, 56: 0.95, 57: 1.0, 58: 0.95, 59: 0.75,
                   65: 0.95, 66: 1.0, 67: 0.95}.items():
        d[i, 1] = wgt
    for i in (48, 54, 60, 64):
        d[i, 1] = 0.4
    for i in (49, 53, 61, 63):
        d[i, 1] = 0.12
    for i in (50, 51, 52, 62):
        d[i, 1] = -0.03
    d[[48, 60], 0], d[[54, 64], 0] = 0.05, -0.05     # corners come in
    return d * 0.18


def _smile_field() -> np.ndarray:
    d = np.zeros((68, 2))
    for i, sx in ((48, -1), (60, -1), (54, 1), (64, 1)):
        d[i] = (0.06 * sx, -0.05)
    for i, sx in ((49, -1), (59, -1), (61, -1), (67, -1),
                  (53, 1), (55, 1), (63, 1), (65, 1)):
        d[i] = (0.03 * sx, -0.025)
    return d


def _brow_field() -> np.ndarray:
    d = np.zeros((68, 2))
    for i, wgt in zip(range(17, 27),
                      (0.6, 0.8, 1.0, 1.0, 0.9, 0.9, 1.0, 1.0, 0.8, 0.6)):
        d[i, 1] = -0.06 * wgt
    return d


MOUTH_FIELD, SMILE_FIELD, BROW_FIELD = (_mouth_field(), _smile_field(),
                                        _brow_field())
#: (upper lid, opposite lower lid) pairs.
LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))


def apply_expression(vertices: np.ndarray, expr: Expression) -> np.ndarray:
    """Deform canonical mesh vertices by an expression.

    Args:
        vertices: ``[V, 2]``: 68 landmarks then support points (canonical
            frame, the identity's neutral shape).
        expr: The expression.

    Returns:
        ``[V, 2]`` deformed vertices (support points follow the brows'
        raise a little, the ring stays).
    """
    out = vertices.copy()
    shape = vertices[:68]
    w = landmark_box(shape)[2]
    field = (expr.mouth * MOUTH_FIELD + expr.smile * SMILE_FIELD +
             expr.brows * BROW_FIELD) * w
    out[:68] += field
    out[68 + NUM_RING:] += 0.3 * field[list(FOREHEAD_FROM)]
    if expr.blink > 0:
        for up, low in LID_PAIRS:
            gap = shape[low] - shape[up]
            out[up] += 0.85 * expr.blink * gap
            out[low] -= 0.1 * expr.blink * gap
    return out


@dataclass
class Pose:
    """Head pose in a video frame.

    Attributes:
        yaw: Left-right turn, radians (pseudo 3-D).
        pitch: Up-down nod, radians (pseudo 3-D).
        roll: In-plane rotation, radians.
        scale: Output pixels per canonical pixel.
        tx: Output x of the face centre.
        ty: Output y of the face centre.
    """
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    scale: float = 1.0
    tx: float = 0.0
    ty: float = 0.0


def apply_pose(vertices: np.ndarray, depths: np.ndarray, centre: np.ndarray,
               pose: Pose, turn: float = 1.0) -> np.ndarray:
    """Move canonical vertices into the frame.

    Args:
        vertices: ``[V, 2]`` canonical vertices (after the expression).
        depths: ``[V]`` pseudo depths (:func:`vertex_depths`).
        centre: ``[2]`` canonical point placed at ``(tx, ty)``.
        pose: The pose.
        turn: Factor on yaw and pitch (used to back off a turn that would
            fold the mesh).

    Returns:
        ``[V, 2]`` frame coordinates.
    """
    yaw, pitch = pose.yaw * turn, pose.pitch * turn
    q = vertices - centre
    x = q[:, 0] * np.cos(yaw) + depths * np.sin(yaw)
    y = q[:, 1] * np.cos(pitch) - depths * np.sin(pitch)
    c, s = np.cos(pose.roll), np.sin(pose.roll)
    xr = c * x - s * y
    yr = s * x + c * y
    return np.stack([pose.scale * xr + pose.tx, pose.scale * yr + pose.ty],
                    axis=1)


def head_mask(shape: np.ndarray, size: int = CANONICAL_SIZE) -> np.ndarray:
    """Soft alpha ``[size, size]`` uint8 of the head in the canonical frame:
    an ellipse around face, forehead and hair plus the neck, feathered to 0
    inside the support ring."""
    cx, cy, w, h = landmark_box(shape)
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (int(round(cx * 16)), int(round((cy - 0.1 * h) * 16))),
                (int(round(0.62 * w * 16)), int(round(0.84 * h * 16))), 0, 0,
                360, 255, -1, cv2.LINE_AA, 4)
    neck = np.array([[cx - 0.3 * w, cy], [cx + 0.3 * w, cy],
                     [cx + 0.3 * w, cy + 0.68 * h],
                     [cx - 0.3 * w, cy + 0.68 * h]])
    cv2.fillConvexPoly(mask, np.round(neck * 16).astype(np.int32), 255,
                       cv2.LINE_AA, 4)
    sigma = 0.07 * w
    return cv2.GaussianBlur(mask, (0, 0), sigma)
