#!/usr/bin/env python3
"""How far is a TSAL teacher from its student? Relative weight distance.

For every checkpoint given, the floating-point tensors of the teacher
(``teacher.*``, parameters and BatchNorm statistics) are compared with the
student's (``student.*``) as one vector per part of the network:

    d = ||Theta^R - Theta^S|| / ||Theta^S||      (L2 norms, Eq. 8's tensors)

The table has one row per checkpoint (in the order given) and one column per
top-level part (``backbone``, ``neck``, ``head``, ``motion_field``) plus
``all``. Eq. 8 pulls the teacher towards the mean of the student queue at
every update; with ``d`` near 0 the teacher is the student and both
predict alike.

Example::

    python tools/analysis/teacher_student_distance.py \\
        work_dirs/benchmark_accuracy/tsal/iter_*.pth
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tsal_mmpose.utils import allow_mmengine_checkpoints  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+', type=Path,
                        help='checkpoints of a two-network TSAL model')
    parser.add_argument('--out', type=Path, default=None,
                        help='also write the distances as JSON')
    return parser.parse_args(argv)


def relative_distances(state_dict: Mapping[str, Tensor]) -> Dict[str, float]:
    """||teacher - student|| / ||student|| per top-level part and overall.

    Args:
        state_dict (Mapping[str, Tensor]): A TSALEstimator state dict, with
            ``teacher.<part>.<name>`` and ``student.<part>.<name>`` keys.

    Returns:
        dict: part name (the first component after ``teacher.``) -> relative
        distance, and ``'all'`` over every floating-point tensor; parts in
        the order they first appear.

    Raises:
        ValueError: If the state dict has no teacher or no student, or a
            teacher tensor has no student twin of the same shape.
    """
    squares: Dict[str, List[float]] = {}
    for key, teacher in state_dict.items():
        if not key.startswith('teacher.') or \
                not teacher.is_floating_point():
            continue
        name = key[len('teacher.'):]
        student = state_dict.get(f'student.{name}')
        if student is None or student.shape != teacher.shape:
            raise ValueError(f'`{key}` has no student twin of shape '
                             f'{tuple(teacher.shape)}')
        part = name.split('.', 1)[0]
        diff = (teacher.double() - student.double()).square().sum().item()
        norm = student.double().square().sum().item()
        acc = squares.setdefault(part, [0.0, 0.0])
        acc[0] += diff
        acc[1] += norm
    if not squares:
        raise ValueError('no `teacher.*` and `student.*` tensors: not a '
                         'two-network TSAL checkpoint')
    squares['all'] = [sum(v[0] for v in squares.values()),
                      sum(v[1] for v in squares.values())]
    return {part: (diff / norm)**0.5 if norm > 0 else float('nan')
            for part, (diff, norm) in squares.items()}


def iteration_of(path: Path, checkpoint: Mapping) -> Optional[int]:
    """The training iteration of a checkpoint (its ``meta`` or name)."""
    meta = checkpoint.get('meta') or {}
    if isinstance(meta.get('iter'), int):
        return meta['iter']
    match = re.search(r'iter_(\d+)', path.name)
    return int(match.group(1)) if match else None


def format_table(rows: List[dict]) -> str:
    """A markdown table of :func:`main`'s rows."""
    parts = list(dict.fromkeys(p for r in rows for p in r['distance']))
    lines = ['| checkpoint | iteration | ' + ' | '.join(parts) + ' |',
             '|---|---|' + '---|' * len(parts)]
    for row in rows:
        cells = [f"{row['distance'][p]:.3g}" if p in row['distance'] else ''
                 for p in parts]
        it = '' if row['iteration'] is None else str(row['iteration'])
        lines.append(f"| {row['checkpoint']} | {it} | " + ' | '.join(cells) +
                     ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    allow_mmengine_checkpoints()
    rows = []
    for path in args.checkpoints:
        if not path.is_file():
            raise SystemExit(f'{path}: no such checkpoint')
        checkpoint = torch.load(path, map_location='cpu')
        try:
            distance = relative_distances(checkpoint['state_dict'])
        except (KeyError, ValueError) as err:
            raise SystemExit(f'{path}: {err}') from err
        rows.append(dict(checkpoint=str(path),
                         iteration=iteration_of(path, checkpoint),
                         distance=distance))
    table = format_table(rows)
    print('||teacher - student|| / ||student||, floating-point tensors')
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    return table


if __name__ == '__main__':
    main()
