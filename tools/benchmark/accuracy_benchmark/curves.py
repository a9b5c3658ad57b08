"""The learning curves of the benchmark's rows (``--curve-points``)."""
from __future__ import annotations

import argparse
import csv
from typing import List

from .runs import Run
from .steps import evaluate_curve

__all__ = ['plot_learning_curves']

#: line style of each network
STYLES = dict(teacher='-', student='--', model='-.')


def plot_learning_curves(args: argparse.Namespace, runs: List[Run]) -> None:
    """``curves.csv`` and ``curves.png``: the test NME (inter-ocular, all
    videos) of every kept checkpoint of every row, each network its own
    line (teacher solid, student dashed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    records = []
    for i, run in enumerate(runs):
        curve = evaluate_curve(args, run)
        for net in run.networks:
            points = sorted((r['iter'], r['metrics']) for r in curve
                            if r['network'] == net)
            for it, metrics in points:
                records.append(
                    dict(run=run.name, network=net, iter=it,
                         NME_inter_ocular=metrics['NME_inter_ocular'],
                         NMF_inter_ocular=metrics.get(
                             'NMF_inter_ocular', float('nan'))))
            ax.plot([p[0] for p in points],
                    [p[1]['NME_inter_ocular'] for p in points],
                    STYLES.get(net, ':'), color=f'C{i % 10}', marker='o',
                    markersize=3, label=f'{run.label} ({net})')
    with open(args.work_dir / 'curves.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    milestones = (args.iters * 90 // 140, args.iters * 120 // 140)
    for x in milestones:
        ax.axvline(x, color='grey', lw=0.8, ls=':')
    ax.set_xlabel('training iteration (dotted: learning rate x0.1)')
    ax.set_ylabel('test NME inter-ocular (%)')
    ax.set_title('Learning curves on the held-out test videos')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(str(args.work_dir / 'curves.png'))
