#!/usr/bin/env python3
"""The rows of the accuracy benchmark over several training seeds.

One run of ``tools/benchmark/accuracy.py`` trains every row with one seed;
on the embedded benchmark another seed moves a row by as much as the
differences between rows. This tool reads the outputs of several such runs
(work directories, one seed each, or one seed split over several
directories) and writes one table: every row's inter-ocular NME per seed,
its mean and standard deviation over the seeds, the means of AUC@0.08, p_M
and p_C, and the benchmark's targets checked on the means (with, for each
target, on how many seeds it is met alone). A strip plot shows every
seed's NME of every row beside the mean.

It reads, for every run of each directory, the dumped config
(``configs/RUN.py``), thread count (``configs/RUN.threads``) and metrics
(``RUN/eval_NETWORK/metrics.json``) that ``accuracy.py`` wrote. It refuses,
naming the files:

- a run that has not been evaluated;
- a row of one seed in two directories;
- a row whose configs differ between seeds in anything but the seed
  (another budget, data or option is another experiment);
- rows that were not run on the same seeds (a mean over other seeds is not
  comparable).

Thread counts may differ between seeds (each seed's row stays one
deterministic run); they are listed in the header.

Example::

    python tools/benchmark/seed_summary.py work_dirs/seed0 work_dirs/seed1 \\
        work_dirs/seed2 --out work_dirs/seeds.md
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402  (the benchmark's rows, labels and targets)

NME = 'NME_inter_ocular/all'
AUC = 'AUC@0.08_inter_ocular'
NMF = 'NMF_inter_ocular/all'
P_M, P_C = 'NME_inter_ocular_lhr', 'NME_inter_ocular_clor'
#: (run name, network)
RowKey = Tuple[str, str]


class SummaryError(RuntimeError):
    """Inputs that cannot be summarised; the message names the files."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='The accuracy benchmark\'s rows over several seeds.')
    parser.add_argument('work_dirs', nargs='+', type=Path,
                        help='work directories of tools/benchmark/'
                        'accuracy.py')
    parser.add_argument('--out', type=Path,
                        help='write the markdown here, and the strip plot '
                        'beside it (.png); stdout always gets the markdown')
    return parser.parse_args(argv)


def _config_dict(path: Path) -> Dict[str, Any]:
    from mmengine.config import Config
    return Config.fromfile(str(path)).to_dict()


def _first_difference(a: Any, b: Any, prefix: str = '') -> Optional[str]:
    """The dotted key of the first difference between two config values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = f'{prefix}.{key}' if prefix else str(key)
            if key not in a or key not in b:
                return where
            found = _first_difference(a[key], b[key], where)
            if found is not None:
                return found
        return None
    if (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))
            and len(a) == len(b)):
        for i, (x, y) in enumerate(zip(a, b)):
            found = _first_difference(x, y, f'{prefix}[{i}]')
            if found is not None:
                return found
        return None
    return None if a == b else (prefix or '<root>')


def load_rows(work_dir: Path) -> List[Dict[str, Any]]:
    """The evaluated networks of one work directory.

    Every run whose config ``accuracy.py`` dumped (``configs/RUN.py``) must
    have been evaluated (``RUN/eval_NETWORK/metrics.json``).

    Args:
        work_dir (Path): A work directory of ``accuracy.py``.

    Returns:
        list[dict]: One row per evaluated network, with the metrics of
        ``accuracy.result_rows`` and ``seed``, ``threads``, ``config`` (the
        dumped config's path), ``cfg`` (that config as a dict) and
        ``source`` (the work directory) added.
    """
    configs = sorted((work_dir / 'configs').glob('*.py'))
    if not configs:
        raise SummaryError(f'{work_dir / "configs"}: no configs (is '
                           f'{work_dir} a work directory of '
                           'tools/benchmark/accuracy.py?)')
    rows = []
    for config in configs:
        name = config.stem
        threads = config.with_suffix('.threads')
        if not threads.is_file():
            raise SummaryError(f'{threads}: not found, beside {config}')
        metrics = {}
        for net in ('teacher', 'student', accuracy.SINGLE_NETWORK):
            path = accuracy.metrics_dir(
                argparse.Namespace(work_dir=work_dir),
                accuracy.Run(name, name), net) / 'metrics.json'
            if path.is_file():
                metrics[net] = json.loads(path.read_text())
        if not metrics:
            raise SummaryError(
                f'{work_dir / name / "eval_teacher" / "metrics.json"}: not '
                f'found; run {name!r} of {work_dir} has not been evaluated '
                '(run accuracy.py on it again to finish it)')
        label = accuracy.METHODS.get(name, (None, name))[1]
        run = accuracy.Run(name, label, networks=list(metrics))
        cfg = _config_dict(config)
        for row in accuracy.result_rows([run], {name: metrics}):
            row.update(seed=cfg['randomness']['seed'],
                       threads=int(threads.read_text()), config=config,
                       cfg=cfg, source=work_dir)
            rows.append(row)
    return rows


def group_by_seed(
        rows: List[Dict[str, Any]]) -> Dict[RowKey, Dict[int, dict]]:
    """Rows keyed by (run, network), then by seed, checked for consistency.

    Raises:
        SummaryError: A row of one seed twice, configs that differ in more
            than the seed, or rows run on different seeds.
    """
    groups: Dict[RowKey, Dict[int, dict]] = {}
    for row in rows:
        by_seed = groups.setdefault((row['run'], row['network']), {})
        earlier = by_seed.get(row['seed'])
        if earlier is not None:
            raise SummaryError(
                f"run {row['run']!r} ({row['network']}) of seed "
                f"{row['seed']} is in both {earlier['source']} and "
                f"{row['source']}: pass one of them")
        by_seed[row['seed']] = row
    reference: Dict[str, dict] = {}
    for (run, _), by_seed in groups.items():
        for row in by_seed.values():
            first = reference.setdefault(run, row)
            key = _first_difference(
                {k: v for k, v in first['cfg'].items() if k != 'randomness'},
                {k: v for k, v in row['cfg'].items() if k != 'randomness'})
            if key is not None:
                raise SummaryError(
                    f'run {run!r}: {first["config"]} and {row["config"]} '
                    f'differ in `{key}`, not only in the seed')
    seed_sets = {key: sorted(by_seed) for key, by_seed in groups.items()}
    all_seeds = sorted({s for seeds in seed_sets.values() for s in seeds})
    for (run, net), seeds in seed_sets.items():
        if seeds != all_seeds:
            missing = sorted(set(all_seeds) - set(seeds))
            raise SummaryError(
                f'run {run!r} ({net}) lacks seed(s) '
                f'{", ".join(map(str, missing))} that other rows have: '
                'run it on them too, or leave out the directories of '
                'those seeds')
    return groups


def _order(key: RowKey) -> Tuple[int, str, int]:
    run, net = key
    names = list(accuracy.METHODS)
    rank = names.index(run) if run in names else len(names)
    return rank, run, ('teacher', accuracy.SINGLE_NETWORK,
                       'student').index(net)


def summarise(groups: Dict[RowKey, Dict[int, dict]]) -> Tuple[str, dict]:
    """The markdown summary and the data of its plot.

    Returns:
        tuple[str, dict]: The markdown, and ``{label: (per-seed NME,
        mean)}`` in table order.
    """
    keys = sorted(groups, key=_order)
    seeds = sorted(next(iter(groups.values())))
    cfg = next(iter(groups[keys[0]].values()))['cfg']
    threads = {}
    for seed in seeds:
        counts = sorted({groups[k][seed]['threads'] for k in keys})
        threads[seed] = '/'.join(map(str, counts))
    header = ['row', 'network', *[f'seed {s}' for s in seeds], 'mean',
              'std', 'AUC@0.08 io, mean', 'NMF io, mean',
              'p_M / p_C io, mean']
    lines = [
        '# TSAL accuracy benchmark over training seeds', '',
        f'{cfg["train_cfg"]["max_iters"]} training iterations per model; '
        f'training seeds {", ".join(map(str, seeds))}; torch threads per '
        'model: ' + ', '.join(f'{threads[s]} (seed {s})' for s in seeds) +
        f'; data `{cfg["train_dataloader"]["dataset"]["data_root"]}`. '
        'Inter-ocular NME in %, fused landmarks (p = 0.8 p_M + 0.2 p_C); '
        'std is the sample standard deviation over the seeds. Sources: ' +
        ', '.join(sorted({f'`{r["source"]}`' for k in keys
                          for r in groups[k].values()})) + '.', '',
        '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)
    ]
    mean_rows, plot = [], {}
    for key in keys:
        by_seed = groups[key]
        nmes = [by_seed[s][NME] for s in seeds]
        first = by_seed[seeds[0]]
        mean_row = dict(run=key[0], network=key[1], method=first['method'])
        for metric in first:
            if metric.startswith(('NME_', 'AUC@', 'FR@', 'NMF_')):
                mean_row[metric] = statistics.fmean(
                    [by_seed[s][metric] for s in seeds])
        mean_rows.append(mean_row)
        std = statistics.stdev(nmes) if len(nmes) > 1 else math.nan
        lines.append('| ' + ' | '.join([
            first['method'], key[1], *[f'{v:.2f}' for v in nmes],
            f'{mean_row[NME]:.2f}', accuracy.format_cell(std),
            f'{mean_row[AUC]:.2f}', accuracy.format_cell(mean_row[NMF]),
            f'{accuracy.format_cell(mean_row[P_M])} / '
            f'{accuracy.format_cell(mean_row[P_C])}'
        ]) + ' |')
        plot[f"{first['method']} ({key[1]})"] = (nmes, mean_row[NME])
    targets = accuracy.target_results(mean_rows)
    per_seed = [accuracy.target_results([groups[k][s] for k in keys])
                for s in seeds]
    if targets:
        lines += ['', f'Targets on the means of {len(seeds)} seeds:', '']
        for i, (line, ok) in enumerate(targets):
            if ok is not None:  # a target, not the reference line
                met = sum(bool(results[i][1]) for results in per_seed)
                line += f' (met on {met} of {len(seeds)} seeds alone)'
            lines.append(line)
    return '\n'.join(lines) + '\n', plot


def save_strip_plot(plot: dict, path: Path) -> None:
    """Every seed's NME of every row as a dot, the mean as a bar."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    labels = list(plot)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(labels) + 1.2))
    for y, label in enumerate(labels):
        values, mean = plot[label]
        ax.scatter(values, [y] * len(values), s=22, color='tab:blue',
                   alpha=0.7, label='one seed' if y == 0 else None)
        ax.plot([mean, mean], [y - 0.3, y + 0.3], color='black', lw=2,
                label='mean' if y == 0 else None)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel('NME, inter-ocular (%)')
    ax.grid(axis='x', alpha=0.3)
    ax.legend(loc='lower right', fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    rows = [row for work_dir in args.work_dirs for row in load_rows(work_dir)]
    text, plot = summarise(group_by_seed(rows))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        save_strip_plot(plot, args.out.with_suffix('.png'))
    print(text, end='')
    return text


if __name__ == '__main__':
    try:
        main()
    except SummaryError as e:
        sys.exit(f'error: {e}')
