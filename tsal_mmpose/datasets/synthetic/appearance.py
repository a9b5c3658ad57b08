"""Procedural backgrounds, occluder patches and image degradations."""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ['value_noise', 'make_background', 'make_occluder_patch',
           'make_torso_patch', 'motion_blur_kernel', 'BACKGROUND_STYLES']

BACKGROUND_STYLES = ('wall', 'foliage', 'stripes', 'bokeh')


def value_noise(rng: np.random.Generator, height: int, width: int,
                cell: float, octaves: int = 3) -> np.ndarray:
    """Smooth noise in [0, 1], ``[height, width]`` float32.

    Sum of ``octaves`` bicubically enlarged random grids, the coarsest with
    cells of ``cell`` pixels, each finer octave at half the cell size and
    half the weight.
    """
    out = np.zeros((height, width), np.float32)
    total = 0.0
    for o in range(octaves):
        c = max(cell / 2 ** o, 2.0)
        gh, gw = int(np.ceil(height / c)) + 2, int(np.ceil(width / c)) + 2
        grid = rng.random((gh, gw), dtype=np.float32)
        big = cv2.resize(grid, (int(gw * c), int(gh * c)),
                         interpolation=cv2.INTER_CUBIC)
        out += big[:height, :width] * 0.5 ** o
        total += 0.5 ** o
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` BGR colours (float32 0..255) of one random hue family."""
    hue = rng.uniform(0, 180)
    hsv = np.stack([
        (hue + rng.normal(0, 15, n)) % 180,
        rng.uniform(20, 160, n),
        rng.uniform(40, 235, n)], axis=1).astype(np.float32)
    bgr = cv2.cvtColor(hsv[None].astype(np.uint8), cv2.COLOR_HSV2BGR)[0]
    return bgr.astype(np.float32)


def make_background(rng: np.random.Generator, height: int, width: int,
                    style: str | None = None) -> np.ndarray:
    """A procedural scene ``[height, width, 3]`` uint8 (BGR).

    Styles: ``wall`` (a room wall with shading, frames and windows),
    ``foliage`` (several colours mixed by smooth noise), ``stripes``
    (blinds / shelves) and ``bokeh`` (out-of-focus lights). The result is
    slightly defocused, as behind a face in focus.
    """
    style = style or BACKGROUND_STYLES[rng.integers(len(BACKGROUND_STYLES))]
    h, w = height, width
    if style == 'wall':
        base = _palette(rng, 1)[0]
        shade = 0.75 + 0.5 * value_noise(rng, h, w, max(h, w) / 2, 2)
        ramp = np.linspace(rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1),
                           h, dtype=np.float32)[:, None]
        img = base * (shade * ramp)[..., None]
        for _ in range(rng.integers(1, 5)):
            colour = _palette(rng, 1)[0] * rng.uniform(0.5, 1.3)
            x0, y0 = rng.integers(-w // 4, w), rng.integers(-h // 4, h)
            rw, rh = rng.integers(w // 8, w // 2), rng.integers(h // 8, h)
            cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + rw),
                          int(y0 + rh)), colour.tolist(), -1)
            cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + rw),
                          int(y0 + rh)), (colour * 0.6).tolist(),
                          int(rng.integers(2, 6)))
    elif style == 'foliage':
        cols = _palette(rng, 3)
        img = np.empty((h, w, 3), np.float32)
        img[:] = cols[0]
        for col in cols[1:]:
            m = value_noise(rng, h, w, rng.uniform(8, 40), 3)
            m = np.clip((m - rng.uniform(0.3, 0.6)) * 4, 0, 1)[..., None]
            img = img * (1 - m) + col * m
    elif style == 'stripes':
        cols = _palette(rng, 2)
        period = rng.uniform(6, 30)
        phase = np.arange(h if rng.random() < 0.6 else w, dtype=np.float32)
        band = (0.5 + 0.5 * np.sin(2 * np.pi * phase / period)) ** 2
        band = band[:, None] if len(phase) == h else band[None, :]
        band = np.broadcast_to(band, (h, w))[..., None]
        img = cols[0] * (1 - band) + cols[1] * band
        img *= (0.8 + 0.4 * value_noise(rng, h, w, max(h, w) / 3, 2)
                )[..., None]
    elif style == 'bokeh':
        img = np.empty((h, w, 3), np.float32)
        img[:] = _palette(rng, 1)[0] * 0.35
        for _ in range(rng.integers(10, 40)):
            col = _palette(rng, 1)[0]
            r = int(rng.integers(3, max(4, min(h, w) // 8)))
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            layer = np.zeros_like(img)
            cv2.circle(layer, centre, r, col.tolist(), -1, cv2.LINE_AA)
            img = np.maximum(img, layer * rng.uniform(0.4, 1.0))
    else:
        raise ValueError(f'unknown background style {style!r}')
    img += rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(1.0, 3.0))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_occluder_patch(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured object ``[size, size, 4]`` uint8 (BGR + soft alpha):
    a rotated rectangle or an ellipse of random procedural texture."""
    tex = make_background(rng, size, size,
                          style=('foliage', 'stripes', 'wall')[
                              rng.integers(3)])
    alpha = np.zeros((size, size), np.uint8)
    c = size / 2
    a, b = rng.uniform(0.3, 0.5) * size, rng.uniform(0.15, 0.45) * size
    angle = rng.uniform(0, 180)
    if rng.random() < 0.5:
        cv2.ellipse(alpha, ((c, c), (2 * a, 2 * b), angle), 255, -1,
                    cv2.LINE_AA)
    else:
        box = cv2.boxPoints(((c, c), (2 * a, 2 * b), angle))
        cv2.fillConvexPoly(alpha, np.round(box * 16).astype(np.int32), 255,
                           cv2.LINE_AA, 4)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    shade = rng.uniform(0.5, 1.1)
    tex = np.clip(tex.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    return np.dstack([tex, alpha])


def make_torso_patch(rng: np.random.Generator, width: int = 200
                     ) -> np.ndarray:
    """Shoulders ``[0.7 width, width, 4]`` uint8 (BGR + soft alpha): the
    top of a wide dome of clothing texture, lit from above."""
    height = int(0.7 * width)
    cloth = make_background(rng, height, width, style=(
        'foliage', 'stripes', 'wall')[rng.integers(3)]).astype(np.float32)
    cloth *= rng.uniform(0.35, 0.9)
    cloth *= np.linspace(1.1, 0.7, height, dtype=np.float32)[:, None, None]
    # Rounded shoulders: a super-ellipse |x/a|^4 + |y/b|^3 <= 1 whose top
    # is at the patch's top edge.
    a = 0.5 * width * rng.uniform(0.85, 1.0)
    b = height * rng.uniform(0.9, 1.0)
    xs = (np.arange(width, dtype=np.float32) - width / 2) / a
    ys = (np.arange(height, dtype=np.float32) - b) / b
    inside = np.abs(xs[None, :]) ** 4 + np.abs(ys[:, None]) ** 3 <= 1
    alpha = cv2.GaussianBlur(inside.astype(np.uint8) * 255, (0, 0), 1.5)
    return np.dstack([np.clip(cloth, 0, 255).astype(np.uint8), alpha])


def motion_blur_kernel(dx: float, dy: float) -> np.ndarray | None:
    """Normalised line kernel along ``(dx, dy)`` px (``None`` if < 1 px)."""
    length = float(np.hypot(dx, dy))
    if length < 1.0:
        return None
    n = int(np.ceil(length)) | 1
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    ux, uy = dx / length, dy / length
    half = length / 2
    p0 = (int(round((c - ux * half) * 16)), int(round((c - uy * half) * 16)))
    p1 = (int(round((c + ux * half) * 16)), int(round((c + uy * half) * 16)))
    cv2.line(kernel, p0, p1, 1.0, 1, cv2.LINE_AA, 4)
    return kernel / kernel.sum()
