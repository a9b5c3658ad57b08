"""Piecewise-affine warping of a face texture onto a new landmark shape.

A mesh is triangulated once (Delaunay) over the texture's vertices: the 68
landmarks plus support points around the face. For every output frame the
same triangles, moved to their new vertex positions, are rasterised into a
triangle-index map; each output pixel then takes the inverse affine map of
its triangle to sample the texture (one vectorised ``cv2.remap``). Inside a
triangle the warp is affine, across shared edges it is continuous, and
every vertex lands exactly on its target position: a landmark of the
output image is exactly the target landmark (the image itself is sampled
by ``cv2.remap``, whose bilinear weights are quantised to 1/32 pixel).
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

__all__ = ['similarity_transform', 'apply_affine', 'triangulate',
           'signed_areas', 'MeshWarper']

#: Triangles smaller than this (in output px^2) are not rasterised; their
#: pixels, if any, take a neighbouring triangle's map.
MIN_TRIANGLE_AREA = 0.5


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) src -> dst.

    Args:
        src: ``[N, 2]`` points.
        dst: ``[N, 2]`` points.

    Returns:
        ``[2, 3]`` matrix ``M`` with ``dst ~ src @ M[:, :2].T + M[:, 2]``
        (no reflection).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    # Complex-number form of the 2-D Procrustes problem.
    zs, zd = s[:, 0] + 1j * s[:, 1], d[:, 0] + 1j * d[:, 1]
    a = np.vdot(zs, zd) / np.vdot(zs, zs)
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a ``[2, 3]`` affine matrix to ``[N, 2]`` points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles ``[T, 3]`` (vertex indices), counter-clockwise
    in image coordinates (positive :func:`signed_areas`)."""
    tri = Delaunay(np.asarray(points, dtype=np.float64)).simplices.copy()
    areas = signed_areas(points, tri)
    tri[areas < 0] = tri[areas < 0][:, [0, 2, 1]]
    return tri.astype(np.int32)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed areas ``[T]`` of the triangles over ``points [V, 2]``."""
    p = np.asarray(points, dtype=np.float64)[triangles]
    return 0.5 * ((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) -
                  (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))


class MeshWarper:
    """Warp one texture onto moving copies of its mesh.

    Args:
        texture: ``[H, W, C]`` uint8 image (C = 3 or 4; a 4th channel is
            typically an alpha mask and is warped alike).
        vertices: ``[V, 2]`` vertex positions in the texture.
        triangles: ``[T, 3]`` vertex indices (default: Delaunay of
            ``vertices``).
    """

    def __init__(self, texture: np.ndarray, vertices: np.ndarray,
                 triangles: np.ndarray | None = None):
        self.texture = np.ascontiguousarray(texture)
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.triangles = triangulate(self.vertices) if triangles is None \
            else np.asarray(triangles, dtype=np.int32)
        if len(self.triangles) >= np.iinfo(np.int16).max:
            raise ValueError('too many triangles for the index map')
        self.tex_areas = signed_areas(self.vertices, self.triangles)

    def folded(self, dst: np.ndarray, min_ratio: float = 0.0,
               min_area: float = 1.0) -> np.ndarray:
        """Triangles flipped (or shrunk below ``min_ratio`` of their
        texture area) by moving the vertices to ``dst``: bool ``[T]``.

        Areas are compared after removing the mesh's overall scale change.
        A triangle that stays below ``min_area`` output px^2 both before and
        after the move (e.g. between the lips of a closed mouth) is not
        reported: its flip covers no visible pixel.
        """
        areas = signed_areas(dst, self.triangles)
        zoom2 = np.abs(areas).sum() / max(np.abs(self.tex_areas).sum(),
                                          1e-12)
        expected = self.tex_areas * zoom2
        visible = (expected > min_area) | (-areas > min_area)
        return visible & (areas <= min_ratio * expected)

    def render(self, dst: np.ndarray, out_size: tuple[int, int],
               interpolation: int = cv2.INTER_LINEAR
               ) -> tuple[np.ndarray, int, int] | None:
        """Warp the texture so that vertex ``i`` lands on ``dst[i]``.

        Args:
            dst: ``[V, 2]`` target vertex positions in output pixels.
            out_size: Output ``(width, height)``; only the part of the mesh
                inside it is rendered.
            interpolation: ``cv2.remap`` interpolation.

        Returns:
            ``(patch, x0, y0)``: the warped patch ``[h, w, C]`` uint8 whose
            top-left pixel is output pixel ``(x0, y0)``; pixels outside the
            mesh are 0 in every channel. ``None`` if the mesh is outside.
        """
        dst = np.asarray(dst, dtype=np.float64)
        width, height = out_size
        x0 = max(int(np.floor(dst[:, 0].min())), 0)
        y0 = max(int(np.floor(dst[:, 1].min())), 0)
        x1 = min(int(np.ceil(dst[:, 0].max())) + 1, width)
        y1 = min(int(np.ceil(dst[:, 1].max())) + 1, height)
        if x1 <= x0 or y1 <= y0:
            return None
        tri_pts = dst[self.triangles] - (x0, y0)              # [T, 3, 2]
        areas = signed_areas(dst, self.triangles)
        live = np.abs(areas) >= MIN_TRIANGLE_AREA
        # Index map: 0 = outside, i + 1 = triangle i.
        idmap = np.zeros((y1 - y0, x1 - x0), np.int16)
        fixed = np.round(tri_pts * 16).astype(np.int32)
        # Small triangles first: large ones own the shared edge pixels.
        for i in np.nonzero(live)[0][np.argsort(np.abs(areas[live]))]:
            cv2.fillConvexPoly(idmap, fixed[i], int(i) + 1, cv2.LINE_8, 4)
        holes = idmap == 0
        if holes.any():
            grown = cv2.dilate(idmap, np.ones((3, 3), np.uint8))
            idmap[holes] = grown[holes]
        # Affine maps output -> texture: [x, y, 1] @ X = [u, v].
        n_tri = len(self.triangles)
        table = np.zeros((n_tri + 1, 3, 2), np.float64)
        table[:, 2, :] = -1e4                       # outside: off texture
        homog = np.concatenate(
            [tri_pts[live], np.ones((int(live.sum()), 3, 1))], axis=2)
        table[np.nonzero(live)[0] + 1] = np.linalg.solve(
            homog, self.vertices[self.triangles[live]])
        cols = table.reshape(n_tri + 1, 6).T.astype(np.float32)  # [6, T+1]
        index = idmap.astype(np.intp)
        xs = np.arange(x1 - x0, dtype=np.float32)[None, :]
        ys = np.arange(y1 - y0, dtype=np.float32)[:, None]
        map_x = np.take(cols[0], index)
        map_x *= xs
        map_x += np.take(cols[2], index) * ys
        map_x += np.take(cols[4], index)
        map_y = np.take(cols[1], index)
        map_y *= xs
        map_y += np.take(cols[3], index) * ys
        map_y += np.take(cols[5], index)
        patch = cv2.remap(self.texture, map_x, map_y, interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return patch, x0, y0
