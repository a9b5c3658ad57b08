"""Synthetic identities and the per-frame renderer of a synthetic video.

An *identity* is a real source face, or a morph of two source faces of the
same split: both are similarity-aligned into the canonical frame, warped
piecewise-affinely onto the blended shape ``(1 - a) s_A + a s_B`` and their
textures blended with the same weight. A frame is rendered by moving the
identity's mesh (expression, pose), warping the texture onto it
(:class:`.face_warp.MeshWarper`), darkening the opened mouth, compositing
over the background, adding occluders, lighting, blur and noise. The
ground-truth landmarks are the mesh's first 68 vertices: the warp puts
each landmark's texture exactly there.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .appearance import motion_blur_kernel
from .face_shape import (CANONICAL_SIZE, Expression, Pose, apply_expression,
                         apply_pose, head_mask, landmark_box, support_points,
                         vertex_depths)
from .face_warp import MeshWarper, apply_affine, similarity_transform
from .motion import MotionProfile, Track
from .sources import SourceFace

__all__ = ['Identity', 'canonical_face', 'build_identity', 'FrameRenderer']

MOUTH_COLOUR = np.array([38, 36, 72], np.float32)        # BGR, dark red


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) -
                           np.dot(y, np.roll(x, -1))))


def canonical_face(face: SourceFace, reference: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-align a source face into the canonical frame.

    Args:
        face: The source face.
        reference: ``[68, 2]`` reference shape (canonical pixels).

    Returns:
        ``(image [S, S, 3] uint8, points [68, 2])``: the aligned image
        (borders reflected) and the face's own landmarks in it.
    """
    matrix = similarity_transform(face.points, reference)
    points = apply_affine(matrix, face.points)
    image = face.image
    zoom = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if zoom < 0.5:                                   # avoid aliasing
        pre = min(2 * zoom, 1.0)
        image = cv2.resize(image, None, fx=pre, fy=pre,
                           interpolation=cv2.INTER_AREA)
        matrix = matrix.copy()
        matrix[:, :2] /= pre
    size = CANONICAL_SIZE
    aligned = cv2.warpAffine(image, matrix, (size, size),
                             flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT101)
    return aligned, points


def _uncross_lips(shape: np.ndarray) -> np.ndarray:
    """Close a mouth whose inner lips cross in the source annotation.

    Closed mouths are often annotated with the lower inner lip (65-67)
    slightly above the upper one (61-63). Opening such a mouth would turn
    the triangles between them inside out, so each crossed pair is moved
    to its midpoint (a change below a pixel; the texture is warped onto
    the corrected shape, which stays the ground truth).
    """
    shape = shape.copy()
    for up, low in ((61, 67), (62, 66), (63, 65)):
        if shape[low, 1] < shape[up, 1]:
            shape[[up, low]] = shape[[up, low]].mean(0)
    return shape


def _mesh_vertices(shape: np.ndarray) -> np.ndarray:
    return np.concatenate([shape, support_points(shape)])


@dataclass
class Identity:
    """A face to animate.

    Attributes:
        name: Description, e.g. ``'wflw/2*0.62+300vw/401/000731'``.
        texture: ``[S, S, 4]`` uint8 BGR + alpha (head mask), canonical.
        vertices: ``[V, 2]`` mesh vertices in the texture (68 landmarks,
            then support points).
        depths: ``[V]`` pseudo depths.
        centre: ``[2]`` landmark box centre (canonical).
        width: Landmark box width (canonical pixels).
        mouth_area: Area of the inner-lip polygon of the neutral shape.
        grey: Whether the texture is grey-level.
    """
    name: str
    texture: np.ndarray
    vertices: np.ndarray
    depths: np.ndarray
    centre: np.ndarray
    width: float
    mouth_area: float
    grey: bool


def build_identity(face_a: SourceFace, face_b: SourceFace | None,
                   weight: float, reference: np.ndarray,
                   colour_gain: np.ndarray | None = None,
                   face_level: float | None = None) -> Identity:
    """Morph two source faces (or take one) into an :class:`Identity`.

    Args:
        face_a: First source.
        face_b: Second source (``None``: ``face_a`` alone).
        weight: Share of ``face_b`` in shape and texture, 0..1.
        reference: Canonical reference shape ``[68, 2]``.
        colour_gain: Optional ``[3]`` BGR gains on the texture.
        face_level: Optional mean grey level (0-255) the face (inside the
            landmarks' convex hull) is scaled to (gain clipped to 0.7-2.5).

    Returns:
        The identity.
    """
    size = (CANONICAL_SIZE, CANONICAL_SIZE)
    parts = [(*canonical_face(face_a, reference), 1.0)]
    name = face_a.name
    if face_b is not None and weight > 0:
        parts = [(parts[0][0], parts[0][1], 1 - weight),
                 (*canonical_face(face_b, reference), weight)]
        name = f'{face_a.name}*{1 - weight:.2f}+{face_b.name}*{weight:.2f}'
    shape = _uncross_lips(sum(w * pts for _, pts, w in parts))
    target = _mesh_vertices(shape)
    texture = np.zeros((*size[::-1], 3), np.float32)
    for img, pts, wgt in parts:
        warper = MeshWarper(img, _mesh_vertices(pts))
        patch, x0, y0 = warper.render(target, size)
        h, w = patch.shape[:2]
        texture[y0:y0 + h, x0:x0 + w] += wgt * patch
    if colour_gain is not None:
        texture *= np.asarray(colour_gain, np.float32)
    if face_level is not None:
        # Expose the face (not its surroundings) to a chosen grey level.
        hull = np.zeros(texture.shape[:2], np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(
            np.round(shape).astype(np.int32)), 1)
        level = float(texture[hull > 0].mean())
        texture *= float(np.clip(face_level / max(level, 1.0), 0.7, 2.5))
    texture = np.clip(texture, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(texture, cv2.COLOR_BGR2HSV)
    grey = float(np.median(hsv[..., 1])) < 6
    vertices = _mesh_vertices(shape)
    cx, cy, w, _ = landmark_box(shape)
    return Identity(
        name=name,
        texture=np.dstack([texture, head_mask(shape)]),
        vertices=vertices, depths=vertex_depths(shape),
        centre=np.array([cx, cy]), width=float(w),
        mouth_area=_polygon_area(shape[60:68]), grey=grey)


class FrameRenderer:
    """Render the frames of one video.

    Args:
        identity: The face.
        track: Per-frame parameters.
        profile: The video's difficulty profile (motion-blur exposure).
        frame_size: ``(width, height)``.
        background: ``[H + 2 my, W + 2 mx, 3]`` uint8 scene (panned).
        occluders: ``[s, s, 4]`` uint8 patches, one per occluder of the
            track.
        grey: Render the whole video in grey levels.
        rng: Generator for the per-frame sensor noise.
        torso: Optional ``[h, w, 4]`` uint8 shoulders patch, drawn behind
            the head; its top centre goes ``0.6`` face widths below the
            face centre, at ``torso_width`` face widths wide.
        torso_width: See ``torso``.
    """

    NOISE_BANK = 4
    NOISE_PAD = 16

    def __init__(self, identity: Identity, track: Track,
                 profile: MotionProfile, frame_size: tuple[int, int],
                 background: np.ndarray, occluders: list[np.ndarray],
                 grey: bool, rng: np.random.Generator,
                 torso: np.ndarray | None = None, torso_width: float = 2.6):
        self.identity = identity
        self.track = track
        self.profile = profile
        self.frame_size = frame_size
        self.background = background
        self.occluders = occluders
        self.grey = grey
        self.rng = rng
        self.torso = torso
        self.torso_width = torso_width
        self.warper = MeshWarper(identity.texture, identity.vertices)
        self.prev_landmarks: np.ndarray | None = None
        self.backoffs = 0
        width, height = frame_size
        pad = self.NOISE_PAD
        # Unit sensor noise, re-used at random offsets (cheaper than a
        # fresh draw per frame and indistinguishable at this scale).
        self.noise_bank = rng.standard_normal(
            (self.NOISE_BANK, height + pad, width + pad,
             1 if grey else 3), np.float32)

    def shape(self, k: int) -> np.ndarray:
        """Mesh vertices ``[V, 2]`` of frame ``k`` in frame pixels.

        Turns and expressions that would fold a triangle are scaled down
        (in steps of 0.1) for that frame; every landmark is kept inside
        the frame by a shift (rare; the track is built to avoid it).
        """
        t = self.track
        ident = self.identity
        expr = Expression(t.mouth[k], t.smile[k], t.brows[k], t.blink[k])
        pose = Pose(t.yaw[k], t.pitch[k], t.roll[k],
                    t.face_px * t.scale[k] / ident.width, t.tx[k], t.ty[k])
        for factor in np.linspace(1, 0, 11):
            verts = apply_expression(ident.vertices, expr.scaled(factor)
                                     if factor < 1 else expr)
            dst = apply_pose(verts, ident.depths, ident.centre, pose,
                             turn=factor)
            if not self.warper.folded(dst, 0.05).any():
                break
            self.backoffs += 1
        width, height = self.frame_size
        lo, hi = dst[:68].min(0), dst[:68].max(0)
        shift = np.maximum(0.5 - lo, 0) + np.minimum(
            (width - 1.5, height - 1.5) - hi, 0)
        return dst + shift

    def render(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``k``.

        Returns:
            ``(image [H, W, 3] uint8 BGR, landmarks [68, 2] float64)``,
            landmarks in 0-based pixel coordinates.
        """
        t = self.track
        width, height = self.frame_size
        dst = self.shape(k)
        landmarks = dst[:68].copy()
        bx, by = int(round(t.bg_x[k])), int(round(t.bg_y[k]))
        frame = self.background[by:by + height, bx:bx + width].astype(
            np.float32)
        face_px = t.face_px * t.scale[k]
        if self.torso is not None:
            self._torso(frame, k, face_px)
        out = self.warper.render(dst, (width, height))
        if out is not None:
            patch, x0, y0 = out
            h, w = patch.shape[:2]
            alpha = patch[..., 3:].astype(np.float32) * (1 / 255)
            face = patch[..., :3].astype(np.float32)
            # Directional light across the face.
            cx, cy = t.tx[k] - x0, t.ty[k] - y0
            ang = t.shade_angle[k]
            xs = (np.arange(w, dtype=np.float32) - cx) * np.cos(ang)
            ys = (np.arange(h, dtype=np.float32) - cy) * np.sin(ang)
            light = 1 + (t.shade[k] / face_px) * (xs[None, :] + ys[:, None])
            face *= np.clip(light, 0.3, 1.7)[..., None]
            self._mouth(face, alpha, landmarks - (x0, y0), face_px)
            region = frame[y0:y0 + h, x0:x0 + w]
            region += alpha * (face - region)
        for j, patch in enumerate(self.occluders):
            on = t.occ_on[k, j]
            if on > 0.01:
                self._paste(frame, patch, t.tx[k] + t.occ_x[k, j] * face_px,
                            t.ty[k] + t.occ_y[k, j] * face_px, on)
        frame *= (t.gain[k] * t.colour[k]).astype(np.float32)
        if self.prev_landmarks is not None:
            v = (landmarks - self.prev_landmarks).mean(0) * \
                self.profile.exposure
            kernel = motion_blur_kernel(float(v[0]), float(v[1]))
            if kernel is not None:
                frame = cv2.filter2D(frame, -1, kernel)
        self.prev_landmarks = landmarks
        if t.defocus[k] > 0.3:
            frame = cv2.GaussianBlur(frame, (0, 0), float(t.defocus[k]))
        if self.grey:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[..., None]
        i = int(self.rng.integers(self.NOISE_BANK))
        dx, dy = (int(v) for v in self.rng.integers(0, self.NOISE_PAD, 2))
        frame += self.noise_bank[i, dy:dy + height, dx:dx + width] * \
            np.float32(t.noise[k])
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        if self.grey:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        return frame, landmarks

    def _torso(self, frame: np.ndarray, k: int, face_px: float) -> None:
        """Draw the shoulders below the face (in place)."""
        t = self.track
        patch = self.torso
        ph, pw = patch.shape[:2]
        zoom = self.torso_width * face_px / pw
        roll = 0.3 * t.roll[k]
        c, s = np.cos(roll), np.sin(roll)
        # Patch top centre -> 0.6 face widths below the face centre.
        anchor = np.array([t.tx[k] - s * 0.6 * face_px,
                           t.ty[k] + c * 0.6 * face_px])
        rot = zoom * np.array([[c, -s], [s, c]])
        matrix = np.hstack([rot, (anchor - rot @ (pw / 2, 0))[:, None]])
        corners = np.array([[0, 0], [pw, 0], [0, ph], [pw, ph]]) @ rot.T + \
            matrix[:, 2]
        height, width = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1,
                            (width, height))
        if x1 <= x0 or y1 <= y0:
            return
        matrix[:, 2] -= (x0, y0)
        layer = cv2.warpAffine(patch, matrix, (int(x1 - x0), int(y1 - y0)),
                               flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        alpha = layer[..., 3:].astype(np.float32) * (1 / 255)
        region = frame[y0:y1, x0:x1]
        region += alpha * (layer[..., :3].astype(np.float32) - region)

    def _mouth(self, face: np.ndarray, alpha: np.ndarray,
               lips: np.ndarray, face_px: float) -> None:
        """Darken the inside of an opened mouth (in place)."""
        inner = lips[60:68]
        area = _polygon_area(inner)
        neutral = self.identity.mouth_area * (face_px /
                                              self.identity.width) ** 2
        if area <= neutral + 1e-3 * face_px ** 2:
            return
        strength = 0.85 * (1 - neutral / area)
        x0, y0 = np.floor(inner.min(0)).astype(int) - 2
        x1, y1 = np.ceil(inner.max(0)).astype(int) + 3
        h, w = face.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((inner - (x0, y0)) * 16).astype(
            np.int32)], 255, cv2.LINE_AA, 4)
        m = mask.astype(np.float32)[..., None] * (strength / 255)
        sub = face[y0:y1, x0:x1]
        sub += m * (MOUTH_COLOUR - sub)

    @staticmethod
    def _paste(frame: np.ndarray, patch: np.ndarray, cx: float, cy: float,
               opacity: float) -> None:
        """Alpha-blend a patch centred at ``(cx, cy)`` (in place)."""
        s = patch.shape[0]
        x0, y0 = int(round(cx - s / 2)), int(round(cy - s / 2))
        h, w = frame.shape[:2]
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + s, w), \
            min(y0 + s, h)
        if fx1 <= fx0 or fy1 <= fy0:
            return
        sub = patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0].astype(np.float32)
        a = sub[..., 3:] * (opacity / 255)
        region = frame[fy0:fy1, fx0:fx1]
        region += a * (sub[..., :3] - region)
