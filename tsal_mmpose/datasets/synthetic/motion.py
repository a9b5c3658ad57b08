"""Per-frame trajectories of a synthetic video: head motion, expression,
lighting, camera and degradations.

Every trajectory is a smooth random signal: a cubic spline through random
knots (:func:`smooth_noise`), usually a slow one plus a faster, weaker
one; blinks and talking are events. Two profiles mirror 300VW's test
categories: ``easy`` (slow motion, mild lighting changes, rare small
occlusions) and ``hard`` (fast and large head motion, strong lighting
changes and flicker, motion blur, noise, frequent large occlusions).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = ['MotionProfile', 'PROFILES', 'Track', 'smooth_noise',
           'make_track']


@dataclass(frozen=True)
class MotionProfile:
    """Amplitudes and time scales of one difficulty category.

    Angles in degrees, spacings in frames (between spline knots),
    ``face_frac`` the face (landmark box) width as a fraction of
    ``min(frame width, height)``.
    """
    face_frac: tuple = (0.40, 0.50)
    scale_amp: float = 0.08
    move_amp: float = 0.45
    move_spacing: float = 120.0
    yaw: float = 15.0
    pitch: float = 8.0
    roll: float = 8.0
    pose_spacing: float = 80.0
    fast_spacing: float = 30.0
    fast_weight: float = 0.15
    shake: float = 0.0
    talk: float = 0.6
    gain_amp: float = 0.08
    flicker: float = 0.0
    colour_amp: float = 0.05
    shade: float = 0.25
    defocus: tuple = (0.0, 0.7)
    exposure: float = 0.3
    noise: tuple = (1.0, 3.0)
    occluder_prob: float = 0.3
    occluders: tuple = (1, 1)
    occluder_size: tuple = (0.25, 0.4)
    occluder_duty: float = 0.25
    grey_prob: float = 0.1


PROFILES = {
    'easy': MotionProfile(),
    'hard': MotionProfile(
        face_frac=(0.30, 0.48), scale_amp=0.22, move_amp=0.9,
        move_spacing=40.0, yaw=35.0, pitch=18.0, roll=25.0,
        pose_spacing=35.0, fast_spacing=10.0, fast_weight=0.35, shake=1.5,
        talk=0.9, gain_amp=0.2, flicker=0.04, colour_amp=0.12, shade=0.4,
        defocus=(0.2, 1.5), exposure=0.6, noise=(3.0, 7.0),
        occluder_prob=1.0, occluders=(1, 2), occluder_size=(0.3, 0.6),
        occluder_duty=0.5, grey_prob=0.15),
}


def smooth_noise(rng: np.random.Generator, n: int, spacing: float,
                 amplitude: float = 1.0) -> np.ndarray:
    """A smooth random signal ``[n]`` within about ``[-amplitude,
    amplitude]``: natural cubic spline through uniform knots every
    ``spacing`` frames, clipped to the amplitude."""
    spacing = max(float(spacing), 1.0)
    k = int(np.ceil(n / spacing)) + 4
    knots = rng.uniform(-1, 1, k)
    t = np.arange(n) / spacing + 1.0 + rng.uniform(0, 1)
    return amplitude * np.clip(CubicSpline(np.arange(k), knots,
                                           bc_type='natural')(t), -1, 1)


def _events(rng: np.random.Generator, n: int, gap: tuple, shape: np.ndarray
            ) -> np.ndarray:
    """Place copies of ``shape`` at random gaps (in frames)."""
    out = np.zeros(n)
    k = int(rng.uniform(0, gap[1]))
    while k < n:
        seg = shape[:n - k]
        out[k:k + len(seg)] = np.maximum(out[k:k + len(seg)], seg)
        k += len(shape) + int(rng.uniform(*gap))
    return out


@dataclass
class Track:
    """Per-frame parameters of one video; every array has length n.

    Pose: ``yaw``, ``pitch``, ``roll`` (radians), ``scale`` (relative, the
    face width in px is ``face_px * scale``), ``tx``, ``ty`` (face centre,
    px). Expression: ``mouth``, ``smile``, ``brows``, ``blink``. Lighting:
    ``gain``, ``colour`` (``[n, 3]`` BGR gains), ``shade`` (strength of a
    directional light on the face) and ``shade_angle``. Camera:
    ``bg_x``, ``bg_y`` (background crop offset, px). Degradation:
    ``defocus`` (Gaussian sigma, px), ``noise`` (sigma, grey levels).
    Occluders: ``occ_x``, ``occ_y`` ``[n, m]`` (offsets from the face
    centre in face widths) and ``occ_on`` ``[n, m]`` (0..1 visibility).
    """
    face_px: float
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    scale: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    mouth: np.ndarray
    smile: np.ndarray
    brows: np.ndarray
    blink: np.ndarray
    gain: np.ndarray
    colour: np.ndarray
    shade: np.ndarray
    shade_angle: np.ndarray
    bg_x: np.ndarray
    bg_y: np.ndarray
    defocus: np.ndarray
    noise: np.ndarray
    occ_x: np.ndarray
    occ_y: np.ndarray
    occ_on: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw)

    def frame(self, k: int) -> dict:
        """The parameters of frame ``k`` as a dict."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v[k] if isinstance(v, np.ndarray) else v
        return out


BLINK = np.array([0.45, 1.0, 1.0, 0.7, 0.35, 0.1])


def make_track(rng: np.random.Generator, n: int, profile: MotionProfile,
               frame_size: tuple[int, int], bg_margin: tuple[int, int],
               face_extent: float = 0.95, speed: float = 1.0) -> Track:
    """Draw the trajectories of one video.

    Args:
        rng: The video's generator.
        n: Number of frames.
        profile: Difficulty profile.
        frame_size: ``(width, height)``.
        bg_margin: ``(mx, my)``: the background is this much larger than
            the frame on each side (camera pan range).
        face_extent: Distance from the face centre to its farthest landmark
            (after expressions and roll), in face widths; the translation
            keeps every landmark inside the frame.
        speed: Time scale of the head motion and the expressions: their
            knot spacings and blink gaps are divided by it, so ``speed`` 3
            plays the same kind of motion three times as fast. Lighting,
            camera and occluders keep their pace.

    Returns:
        The :class:`Track`.
    """
    p = profile
    width, height = frame_size
    face_px = rng.uniform(*p.face_frac) * min(width, height)

    if speed <= 0:
        raise ValueError(f'speed must be positive, got {speed}')

    def signal(amp, spacing=p.pose_spacing):
        return (smooth_noise(rng, n, spacing / speed,
                             amp * (1 - p.fast_weight)) +
                smooth_noise(rng, n, p.fast_spacing / speed,
                             amp * p.fast_weight))

    deg = np.pi / 180
    yaw = signal(p.yaw * deg)
    pitch = signal(p.pitch * deg)
    roll = signal(p.roll * deg)
    scale = 1.0 + signal(p.scale_amp, p.move_spacing)
    radius = face_extent * face_px * scale + 2
    free_x = np.maximum(width / 2 - radius, 0)
    free_y = np.maximum(height / 2 - radius, 0)
    shake_x = rng.normal(0, p.shake, n) if p.shake else np.zeros(n)
    shake_y = rng.normal(0, p.shake, n) if p.shake else np.zeros(n)
    ux = np.clip(signal(p.move_amp, p.move_spacing) +
                 shake_x / np.maximum(free_x, 1), -1, 1)
    uy = np.clip(signal(p.move_amp, p.move_spacing) +
                 shake_y / np.maximum(free_y, 1), -1, 1)
    tx = width / 2 + ux * free_x
    ty = height / 2 + uy * free_y
    # Talking: episodes of fast mouth movement.
    episodes = np.clip(smooth_noise(rng, n, 60 / speed) * 3 + 0.5, 0, 1)
    syllables = np.clip(0.5 + smooth_noise(rng, n, 3.0, 0.8), 0, 1)
    mouth = p.talk * episodes * syllables
    smile = np.clip(0.25 + smooth_noise(rng, n, 120 / speed, 0.55), -0.3, 1)
    brows = smooth_noise(rng, n, 50 / speed, 0.7)
    blink = _events(rng, n, (40 / speed, 140 / speed), BLINK)
    gain = 1 + smooth_noise(rng, n, 100, p.gain_amp)
    if p.flicker:
        gain = gain + rng.normal(0, p.flicker, n)
    colour = 1 + np.stack([smooth_noise(rng, n, 200, p.colour_amp)
                           for _ in range(3)], axis=1)
    shade = rng.uniform(0.2, 1.0) * p.shade * (
        0.7 + 0.3 * smooth_noise(rng, n, 150))
    shade_angle = rng.uniform(0, 2 * np.pi) + smooth_noise(rng, n, 200, 1.0)
    mx, my = bg_margin
    bg_x = mx + smooth_noise(rng, n, 150, mx * 0.9)
    bg_y = my + smooth_noise(rng, n, 150, my * 0.9)
    lo, hi = p.defocus
    defocus = lo + (hi - lo) * (0.5 + 0.5 * smooth_noise(rng, n, 80))
    noise = np.full(n, rng.uniform(*p.noise))
    m = int(rng.integers(p.occluders[0], p.occluders[1] + 1)) \
        if rng.random() < p.occluder_prob else 0
    occ_x = np.zeros((n, m))
    occ_y = np.zeros((n, m))
    occ_on = np.zeros((n, m))
    for j in range(m):
        occ_x[:, j] = smooth_noise(rng, n, 45, 0.9)
        occ_y[:, j] = smooth_noise(rng, n, 45, 0.9)
        gate = smooth_noise(rng, n, 90) + 1 - 2 * (1 - p.occluder_duty)
        occ_on[:, j] = np.clip(gate * 4, 0, 1)
    return Track(face_px=float(face_px), yaw=yaw, pitch=pitch, roll=roll,
                 scale=scale, tx=tx, ty=ty, mouth=mouth, smile=smile,
                 brows=brows, blink=blink, gain=gain, colour=colour,
                 shade=shade, shade_angle=shade_angle, bg_x=bg_x, bg_y=bg_y,
                 defocus=defocus, noise=noise, occ_x=occ_x, occ_y=occ_y,
                 occ_on=occ_on)
