"""The benchmark's results: rows, targets, tables and plots."""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .runs import MODES, ROOT, SOURCES, SPLITS, Run, build_config
from .curves import plot_learning_curves
from .steps import IMAGE_PREFIX, metrics_dir, per_face_errors

__all__ = [
    'format_cell', 'result_rows', 'target_results', 'check_targets',
    'write_reports', 'label_stride', 'plot_sweep', 'mixed_training_lines',
    'write_image_seed_summary'
]


def format_cell(value: float) -> str:
    """A table cell: two decimals, or ``-`` for a missing value (NaN)."""
    return '-' if math.isnan(value) else f'{value:.2f}'


def _metric(metrics: dict, split: str, key: str) -> float:
    prefix = '' if split == 'all' else f'{split}/'
    return float(metrics.get(prefix + key, math.nan))


def result_rows(runs: List[Run],
                results: Dict[str, Dict[str, dict]]) -> List[dict]:
    """One row per evaluated network, in run order."""
    rows = []
    for run in runs:
        for net in run.networks:
            metrics = results[run.name][net]
            row = dict(run=run.name, method=run.label, network=net,
                       sweep_value=run.sweep_value)
            for mode in MODES:
                for split in SPLITS:
                    row[f'NME_{mode}/{split}'] = _metric(
                        metrics, split, f'NME_{mode}')
                row[f'AUC@0.08_{mode}'] = _metric(metrics, 'all',
                                                  f'AUC@0.08_{mode}')
                row[f'FR@0.08_{mode}'] = _metric(metrics, 'all',
                                                 f'FR@0.08_{mode}')
                # the flicker (video test sets; NaN for a set of images)
                for split in SPLITS:
                    row[f'NMF_{mode}/{split}'] = _metric(
                        metrics, split, f'NMF_{mode}')
            for source in SOURCES:
                row[f'NME_inter_ocular_{source}'] = _metric(
                    metrics, 'all', f'NME_inter_ocular_{source}')
            # the held-out stills (NaN when not evaluated on them)
            for mode in MODES:
                row[f'NME_{mode}/images'] = _metric(
                    metrics, 'all', f'{IMAGE_PREFIX}NME_{mode}')
            rows.append(row)
    return rows


def target_results(rows: List[dict]) -> List[Tuple[str, Optional[bool]]]:
    """The benchmark's targets on inter-ocular NME and AUC@0.08, checked.

    TSAL's teacher at least 10% below the supervised-only baseline and
    below Mean Teacher, better than its own student, and with a higher
    AUC@0.08 than both; with an ``all_labelled`` row, the baseline's gain
    from labelling every frame is stated beside them.

    Returns:
        list[tuple[str, bool | None]]: Each line in words, with whether its
        target is met (``None`` for the reference line, not a target).
    """
    def find(run: str, net: str = 'teacher') -> Optional[dict]:
        return next((r for r in rows if r['run'] == run
                     and r['network'] == net), None)

    nme, auc = 'NME_inter_ocular/all', 'AUC@0.08_inter_ocular'
    tsal, student = find('tsal'), find('tsal', 'student')
    if tsal is None:
        return []
    lines: List[Tuple[str, Optional[bool]]] = []

    def add(text: str, ok: Optional[bool]) -> None:
        if ok is not None:
            text += f": {'met' if ok else 'NOT met'}"
        lines.append((text, ok))

    def pair(a: float, b: float) -> Tuple[str, str]:
        # two decimals, or as many (up to 4) as tell the values apart
        for digits in (2, 3, 4):
            if f'{a:.{digits}f}' != f'{b:.{digits}f}':
                break
        return f'{a:.{digits}f}', f'{b:.{digits}f}'

    def lower_by(gain: float) -> str:
        return (f'{100 * gain:.1f}% lower' if gain >= 0 else
                f'{-100 * gain:.1f}% higher')

    base = find('baseline')
    if base is not None:
        gain = 1 - tsal[nme] / base[nme]
        add(f'- TSAL teacher NME {tsal[nme]:.2f} vs supervised-only '
            f'{base[nme]:.2f}: {lower_by(gain)} (target >= 10%)',
            gain >= 0.10)
    mean_teacher = find('mean_teacher')
    if mean_teacher is not None:
        ours, theirs = pair(tsal[nme], mean_teacher[nme])
        add(f'- TSAL teacher NME {ours} below Mean Teacher ({theirs})',
            tsal[nme] < mean_teacher[nme])
    if student is not None:
        ours, theirs = pair(tsal[nme], student[nme])
        add(f'- TSAL teacher NME {ours} better than its student ({theirs})',
            tsal[nme] < student[nme])
    others = {name: r for name, r in (('supervised-only', base),
                                      ('Mean Teacher', mean_teacher))
              if r is not None}
    if others:
        best = max(r[auc] for r in others.values())
        add(f'- TSAL teacher AUC@0.08 {tsal[auc]:.2f} above '
            f'{" and ".join(others)} (best {best:.2f})', tsal[auc] > best)
    reference = find('all_labelled')
    if base is not None and reference is not None:
        room = 1 - reference[nme] / base[nme]
        add(f'- Reference, not a target: with every frame labelled the '
            f'baseline reaches {reference[nme]:.2f}, {lower_by(room)} than '
            'with one in ten: the room that labels of the unlabelled frames '
            'give at this budget', None)
    return lines


def check_targets(rows: List[dict]) -> List[str]:
    """The lines of :func:`target_results`, in words."""
    return [text for text, _ in target_results(rows)]


def write_reports(args: argparse.Namespace, runs: List[Run],
                  results: Dict[str, Dict[str, dict]]) -> str:
    """``results.md``, ``results.csv``, ``ced.png`` / ``ced.csv`` and, for a
    sweep, ``sweep.png``; returns the markdown."""
    from tsal_mmpose.evaluation.metrics import save_ced
    rows = result_rows(runs, results)
    keys = list(rows[0])
    with open(args.work_dir / 'results.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)

    header = [
        'method', 'network', 'NME io', 'easy', 'hard', 'NME ip', 'easy',
        'hard', 'AUC@0.08 io', 'FR@0.08 io', 'NMF io', 'p_M io', 'p_C io'
    ]
    images = any(not math.isnan(r['NME_inter_ocular/images']) for r in rows)
    if images:
        header += ['stills NME io', 'stills NME ip']
    table = [
        '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)
    ]
    for r in rows:
        cells = [r['method'], r['network']]
        for mode in MODES:
            cells += [f"{r[f'NME_{mode}/{s}']:.2f}" for s in SPLITS]
        cells += [f"{r['AUC@0.08_inter_ocular']:.2f}",
                  f"{r['FR@0.08_inter_ocular']:.2f}",
                  format_cell(r['NMF_inter_ocular/all'])]
        cells += [
            format_cell(r[f'NME_inter_ocular_{source}'])
            for source in SOURCES
        ]
        if images:
            cells += [format_cell(r[f'NME_{mode}/images']) for mode in MODES]
        table.append('| ' + ' | '.join(cells) + ' |')
    what = (f'sweep of `{args.sweep}`' if args.sweep else
            'the rows of the paper\'s Table 3')
    # --cfg-options or a sweep may set randomness.seed apart from --seed
    seeds = sorted({build_config(args, run).randomness.seed for run in runs})
    seed_text = (f'training seed {seeds[0]}' if len(seeds) == 1 else
                 'training seeds ' + ', '.join(map(str, seeds)))
    seed_text += (f', {args.threads} torch thread'
                  f'{"s" if args.threads > 1 else ""} per model')
    config = (args.config.relative_to(ROOT)
              if args.config.is_relative_to(ROOT) else args.config)
    lines = [
        f'# TSAL accuracy benchmark: {what}', '',
        f'Base config `{config}`; '
        f'{args.iters} training iterations per model, {seed_text}; '
        f'embedded benchmark `{args.data_root.name}` (data seed '
        f'{args.seed}{_speed_text(args)}): {args.train_videos} '
        f'training videos x {args.frames} frames, one labelled frame in '
        f'{label_stride(args, runs)} (every frame for the reference row); '
        f'test: '
        f'{args.test_videos} easy + {args.test_videos} hard '
        'held-out videos from other source faces, every frame evaluated. '
        'NME in % of the inter-ocular (io: outer eye corners) or '
        'inter-pupil (ip: eye centroids) distance; AUC and failure rate '
        '(%) of the inter-ocular cumulative error distribution up to 0.08; '
        'NMF: normalised mean flicker (%), the frame-to-frame change of the '
        'error (jitter), inter-ocular. '
        'The landmarks are the fused p = 0.8 p_M + 0.2 p_C; the last two '
        'columns score the LHR landmarks p_M and the CLOR landmarks p_C '
        'alone.',
        '', *table
    ]
    if images:
        lines[2] += (
            f' Stills: {args.test_stills} held-out still images of the test '
            f'identities ({args.train_stills} labelled stills of the '
            'training identities train the image rows), one face each.')
    targets = check_targets(rows)
    if targets:
        lines += ['', 'Targets:', '', *targets]
    mixed = mixed_training_lines(rows)
    if mixed:
        lines += ['', 'Mixed image and video training:', '', *mixed]
    text = '\n'.join(lines) + '\n'
    (args.work_dir / 'results.md').write_text(text)

    curves = {
        f"{r['method']} ({r['network']})":
        per_face_errors(metrics_dir(args, _run(runs, r['run']),
                                    r['network']), 'inter_ocular')
        for r in rows
    }
    # the range (a multiple of 0.05) covers twice the largest median
    # error, so that the large errors of short CPU runs show too
    worst = max((sorted(v)[len(v) // 2] for v in curves.values() if v),
                default=0.04)
    limit = min(1.0, max(0.08, math.ceil(2 * worst / 0.05) * 0.05))
    save_ced(curves, str(args.work_dir / 'ced.csv'),
             str(args.work_dir / 'ced.png'),
             threshold=round(limit, 2),
             title='CED, inter-ocular NME, held-out test videos')
    if args.sweep:
        plot_sweep(args, rows)
    if getattr(args, 'curve_points', 0):
        plot_learning_curves(args, runs)
    return text


def _speed_text(args: argparse.Namespace) -> str:
    speed = getattr(args, 'motion_speed', 1.0)
    return '' if speed == 1.0 else f', motion speed {speed:g}'


def label_stride(args: argparse.Namespace, runs: List[Run]) -> int:
    """The label stride of the benchmark's sparsely labelled rows."""
    for run in runs:
        if run.name == 'all_labelled':
            continue
        dataset = build_config(args, run).train_dataloader.dataset
        for source in dataset.get('datasets', [dataset]):
            if 'label_stride' in source:
                return int(source.label_stride)
    return 10


def _run(runs: List[Run], name: str) -> Run:
    return next(r for r in runs if r.name == name)


def plot_sweep(args: argparse.Namespace, rows: List[dict]) -> None:
    """NME (inter-ocular, all/easy/hard) against the swept value."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    key = args.sweep.partition('=')[0]
    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colours = dict(all='C0', easy='C2', hard='C3')
    for net, style in (('teacher', '-'), ('student', '--')):
        picked = [r for r in rows if r['network'] == net]
        if not picked:
            continue
        xs = [float(r['sweep_value']) for r in picked]
        for split in SPLITS:
            ax.plot(xs, [r[f'NME_inter_ocular/{split}'] for r in picked],
                    style, color=colours[split], marker='o',
                    label=f'{net}, {split}')
    ax.set_xlabel(key)
    ax.set_ylabel('NME inter-ocular (%)')
    ax.set_title(f'{args.sweep_method}: NME against {key}')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(args.work_dir / 'sweep.png'))


def mixed_training_lines(rows: List[dict]) -> List[str]:
    """What the clips change on the held-out stills and videos.

    The teachers of ``images_clips_tsal`` (and ``images_clips_supervised``)
    against ``images_supervised``, on the inter-ocular NME of the held-out
    stills and of the held-out test videos.

    Returns:
        list[str]: One line per comparison (none without the rows).
    """
    def find(run: str) -> Optional[dict]:
        return next((r for r in rows if r['run'] == run
                     and r['network'] == 'teacher'), None)

    base = find('images_supervised')
    if base is None:
        return []
    lines = []
    for run in ('images_clips_supervised', 'images_clips_tsal'):
        other = find(run)
        if other is None:
            continue
        parts = []
        for key, what in (('NME_inter_ocular/images', 'stills'),
                          ('NME_inter_ocular/all', 'test videos')):
            gain = 1 - other[key] / base[key]
            parts.append(
                f'{what} {other[key]:.2f} vs {base[key]:.2f} '
                f'({100 * abs(gain):.1f}% '
                f'{"lower" if gain >= 0 else "higher"})')
        lines.append(f'- {other["method"]} (teacher) against images only, '
                     f'supervised: NME io on the ' + '; on the '.join(parts))
    return lines


def _image_nme(work_dir: Path, run: str, network: str = 'teacher') -> float:
    path = work_dir / run / f'eval_{network}_images' / 'metrics.json'
    if not path.is_file():
        raise SystemExit(f'{path}: not found; run accuracy.py on '
                         f'{work_dir} again to finish it')
    return float(json.loads(path.read_text())['NME_inter_ocular'])


def write_image_seed_summary(work_dirs: List[Path], out: Path) -> str:
    """The mixed training rows on the held-out stills over several seeds.

    Every teacher's inter-ocular NME on the stills per seed, its mean and
    standard deviation; then, seed by seed, how much lower the NME of each
    ``images_clips_*`` row is than that of ``images_supervised`` (the
    paired difference removes what the seed moves in both rows).

    Args:
        work_dirs (list[Path]): One work directory per seed.
        out (Path): The markdown file to write.

    Returns:
        str: The markdown.
    """
    from .runs import METHODS, MIXED_METHODS
    seeds = [json.loads(_seed_of(d)) for d in work_dirs]
    runs = [r for r in MIXED_METHODS
            if all((d / 'configs' / f'{r}.py').is_file() for d in work_dirs)]
    header = ['row'] + [f'seed {s}' for s in seeds] + ['mean', 'std']
    lines = [
        '# Mixed image and video training: held-out stills over seeds', '',
        'Inter-ocular NME (%) of each teacher on the held-out still images '
        f'of the test identities; seeds {", ".join(map(str, seeds))}.', '',
        '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)
    ]
    values = {r: [_image_nme(d, r) for d in work_dirs] for r in runs}
    for run, nmes in values.items():
        spread = statistics.stdev(nmes) if len(nmes) > 1 else math.nan
        lines.append('| ' + ' | '.join(
            [METHODS[run][1]] + [f'{v:.2f}' for v in nmes] +
            [f'{statistics.mean(nmes):.2f}', format_cell(spread)]) + ' |')
    base = values.get('images_supervised')
    if base is not None:
        lines += ['', 'Paired by seed, against images only, supervised '
                  '(positive: the clips lower the NME):', '']
        for run in ('images_clips_supervised', 'images_clips_tsal'):
            if run not in values:
                continue
            gains = [100 * (1 - v / b) for v, b in zip(values[run], base)]
            lines.append(
                f'- {METHODS[run][1]}: ' + ', '.join(
                    f'seed {s} {g:+.1f}%' for s, g in zip(seeds, gains)) +
                f'; mean {statistics.mean(gains):+.1f}%, lower on '
                f'{sum(g > 0 for g in gains)} of {len(gains)} seeds')
    text = '\n'.join(lines) + '\n'
    out.write_text(text)
    return text


def _seed_of(work_dir: Path) -> str:
    """The training seed of a seed directory, from a dumped config."""
    from mmengine.config import Config
    config = next(iter(sorted((work_dir / 'configs').glob('*.py'))), None)
    if config is None:
        raise SystemExit(f'{work_dir / "configs"}: no configs')
    return json.dumps(Config.fromfile(str(config)).randomness.seed)
