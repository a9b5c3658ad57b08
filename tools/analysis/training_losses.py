#!/usr/bin/env python3
"""Training losses of one or more runs against the iteration.

Reads the scalars that mmengine logs during training
(``<work_dir>/<timestamp>/vis_data/scalars.json``; a resumed run has one
timestamp folder per start, and a later start overrides the iterations it
repeats), prints the asked keys every ``--every`` iterations as a markdown
table and plots them (one panel per key, one line per run). Made to see
where a run goes wrong, e.g. a motion field that diverges::

    python tools/analysis/training_losses.py work_dirs/le/D_s10_i9600_seed0/tsal \\
        work_dirs/le/F_s10_i9600_seed0/tsal --labels 'lr 1e-3' 'lr 3e-3' \\
        --keys student/loss_photometric student/loss_smooth --log-y \\
        --out flow_losses.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

#: iteration -> logged scalars
Scalars = Dict[int, Dict[str, float]]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', type=Path,
                        help='training work directories (tools/train.py '
                        '--work-dir)')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='logged scalars to show (default: loss)')
    parser.add_argument('--labels', nargs='+',
                        help='a legend label per run (default: the paths)')
    parser.add_argument('--every', type=int, default=1000,
                        help='table rows every this many iterations')
    parser.add_argument('--log-y', action='store_true',
                        help='logarithmic y axes')
    parser.add_argument('--out', type=Path,
                        help='write the plot here (.png)')
    return parser.parse_args(argv)


def load_scalars(run: Path) -> Scalars:
    """The training scalars of a run, by iteration.

    Args:
        run (Path): A training work directory.

    Returns:
        dict: ``{iter: {key: value}}`` of the training records (those with
        a ``loss``); over several starts, the latest start's value of an
        iteration.

    Raises:
        FileNotFoundError: naming the run, when it has no scalars.json.
    """
    files = sorted(run.glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'{run}: no */vis_data/scalars.json (is it '
                                'a work directory of tools/train.py?)')
    scalars: Scalars = {}
    for path in files:  # timestamps sort as the starts
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record and 'step' in record:
                scalars[int(record['step'])] = {
                    k: float(v) for k, v in record.items() if k != 'step'}
    if not scalars:
        raise ValueError(f'{run}: its scalars.json have no training records')
    return scalars


def series(scalars: Scalars, key: str, run: Path) -> Dict[int, float]:
    """One key's values by iteration.

    Raises:
        KeyError: naming the run and the keys it has, when it never logged
            ``key``.
    """
    values = {it: rec[key] for it, rec in scalars.items() if key in rec}
    if not values:
        known = sorted({k for rec in scalars.values() for k in rec})
        raise KeyError(f'{run}: no {key!r} logged; it has {", ".join(known)}')
    return values


def table_lines(curves: Dict[str, Dict[str, Dict[int, float]]],
                every: int) -> List[str]:
    """Markdown table: a row per ``every`` iterations and at the last one
    (each cell: the value logged last at or before the row's iteration;
    ``-`` before a run's first record and after its last), a column per
    run and key."""
    columns = [(label, key) for label, by_key in curves.items()
               for key in by_key]
    last = max(max(v) for by_key in curves.values() for v in by_key.values())
    lines = ['| iteration | ' + ' | '.join(f'{label}: {key}'
                                          for label, key in columns) + ' |',
             '|---' * (len(columns) + 1) + '|']
    for it in range(every, last + every, every):
        it = min(it, last)
        cells = []
        for label, key in columns:
            values = curves[label][key]
            logged = [i for i in values if i <= it]
            # '-' past a run's end, so that a shorter run is not extended
            cells.append(f'{values[max(logged)]:.4g}'
                         if logged and it <= max(values) else '-')
        lines.append(f'| {it} | ' + ' | '.join(cells) + ' |')
    return lines


def save_plot(curves: Dict[str, Dict[str, Dict[int, float]]],
              keys: Sequence[str], path: Path, log_y: bool) -> None:
    # a Figure of its own, as label_efficiency.py: no global backend switch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5 * len(keys), 3.6), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, by_key in curves.items():
            values = by_key[key]
            its = sorted(values)
            ax.plot(its, [values[i] for i in its], label=label, lw=1)
        ax.set_title(key)
        ax.set_xlabel('iteration')
        if log_y:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    labels = args.labels or [str(r) for r in args.runs]
    if len(labels) != len(args.runs) or len(set(labels)) != len(labels):
        raise SystemExit(f'--labels: need {len(args.runs)} different labels, '
                         f'one per run; got {labels}')
    curves = {}
    for run, label in zip(args.runs, labels):
        scalars = load_scalars(run)
        curves[label] = {key: series(scalars, key, run) for key in args.keys}
    text = '\n'.join(table_lines(curves, args.every))
    print(text)
    if args.out is not None:
        save_plot(curves, args.keys, args.out, args.log_y)
    return text


if __name__ == '__main__':
    main()
