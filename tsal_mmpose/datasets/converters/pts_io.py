"""Reading and writing iBUG ``.pts`` landmark files.

An iBUG ``.pts`` file (300W, 300VW) looks like::

    version: 1
    n_points: 68
    {
    354.326810 277.170196
    ...
    }

The coordinates in the official files are 1-based pixel coordinates (the
centre of the top-left pixel is ``(1, 1)``). The readers here return the
numbers as written; shifting them to mmpose's 0-based convention is the
caller's decision (see :func:`shift_origin`).
"""
from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Sequence, Union

import numpy as np

__all__ = ['PtsError', 'read_pts', 'read_pts_decimal', 'write_pts',
           'shift_origin']

PathLike = Union[str, os.PathLike]


class PtsError(ValueError):
    """A malformed ``.pts`` file; the message starts with the file name."""

    def __init__(self, path: PathLike, reason: str, kind: str = 'malformed'):
        self.path = str(path)
        self.reason = reason
        self.kind = kind
        super().__init__(f'{self.path}: {reason}')


def read_pts_decimal(path: PathLike, num_points: int | None = 68
                     ) -> list[tuple[Decimal, Decimal]]:
    """Parse a ``.pts`` file into exact decimal numbers.

    Decimals keep the file's digits exactly, so that an origin shift
    (``x - 1``) introduces no binary rounding beyond the final conversion to
    float.

    Args:
        path: The ``.pts`` file.
        num_points: Expected number of points; ``None`` accepts any count
            that matches the file's own ``n_points`` header.

    Returns:
        A list of ``(x, y)`` decimal pairs, in file order.

    Raises:
        PtsError: if the file is missing, has no ``{ ... }`` block, a line
            that is not two finite numbers, or a point count different from
            its header or from ``num_points``.
    """
    path = Path(path)
    if not path.is_file():
        raise PtsError(path, 'file not found', kind='missing')
    try:
        text = path.read_text(encoding='utf-8', errors='strict')
    except (OSError, UnicodeDecodeError) as exc:
        raise PtsError(path, f'unreadable ({exc})') from exc
    start, end = text.find('{'), text.rfind('}')
    if start < 0 or end < start:
        raise PtsError(path, "no '{ ... }' block of points")
    header_points = None
    for line in text[:start].splitlines():
        key, _, value = line.partition(':')
        if key.strip().lower() == 'n_points':
            try:
                header_points = int(value.strip())
            except ValueError as exc:
                raise PtsError(path, f'bad n_points header {value.strip()!r}'
                               ) from exc
    points = []
    body_first_line = text[:start].count('\n') + 2
    for offset, line in enumerate(text[start + 1:end].splitlines()):
        if not line.strip():
            continue
        fields = line.split()
        line_no = body_first_line + offset - 1
        if len(fields) != 2:
            raise PtsError(
                path, f'line {line_no}: expected 2 numbers, got {line!r}')
        try:
            x, y = Decimal(fields[0]), Decimal(fields[1])
        except InvalidOperation as exc:
            raise PtsError(
                path, f'line {line_no}: non-numeric value in {line!r}'
            ) from exc
        if not (x.is_finite() and y.is_finite()):
            raise PtsError(
                path, f'line {line_no}: non-finite value in {line!r}')
        points.append((x, y))
    if header_points is not None and header_points != len(points):
        raise PtsError(
            path, f'header says n_points: {header_points} but the file '
            f'has {len(points)} points')
    if num_points is not None and len(points) != num_points:
        raise PtsError(
            path, f'expected {num_points} points, found {len(points)}')
    return points


def shift_origin(points: Sequence[tuple[Decimal, Decimal]],
                 origin: int) -> np.ndarray:
    """Convert decimal points written with ``origin`` to 0-based floats.

    Args:
        points: ``(x, y)`` decimals as read by :func:`read_pts_decimal`.
        origin: 1 if the file uses 1-based pixel coordinates (official
            iBUG files), 0 if it is already 0-based (values kept).

    Returns:
        float64 array of shape ``[N, 2]``: ``value - origin``, rounded once
        from the exact decimal difference.
    """
    if origin not in (0, 1):
        raise ValueError(f'origin must be 0 or 1, got {origin!r}')
    delta = Decimal(origin)
    return np.array([[float(x - delta), float(y - delta)]
                     for x, y in points], dtype=np.float64).reshape(-1, 2)


def read_pts(path: PathLike, num_points: int | None = 68,
             origin: int = 0) -> np.ndarray:
    """Read a ``.pts`` file as an array.

    Args:
        path: The ``.pts`` file.
        num_points: Expected number of points (``None``: any).
        origin: Subtracted from every value (1 turns official 1-based files
            into 0-based coordinates; 0 returns the values as written).

    Returns:
        float64 array of shape ``[N, 2]`` (x, y).
    """
    return shift_origin(read_pts_decimal(path, num_points), origin)


def write_pts(path: PathLike, points: np.ndarray, origin: int = 1,
              decimals: int = 6) -> None:
    """Write points as an iBUG ``.pts`` file.

    Args:
        path: Destination file (its folder must exist).
        points: 0-based coordinates, shape ``[N, 2]``.
        origin: Added to every value before writing (1 writes the official
            1-based convention).
        decimals: Digits after the decimal point.

    Raises:
        ValueError: if ``points`` has the wrong shape or a non-finite value.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f'points must be [N, 2], got {points.shape}')
    if not np.all(np.isfinite(points)):
        raise ValueError(f'{path}: non-finite landmark coordinates')
    fmt = f'%.{decimals}f %.{decimals}f'
    lines = ['version: 1', f'n_points: {len(points)}', '{']
    lines += [fmt % (x + origin, y + origin) for x, y in points.tolist()]
    lines.append('}')
    Path(path).write_text('\n'.join(lines) + '\n', encoding='utf-8')
