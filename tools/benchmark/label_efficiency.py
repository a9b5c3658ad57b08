#!/usr/bin/env python3
"""How many labels does TSAL save? Convergence and label-efficiency tables.

Reads work directories of ``tools/benchmark/accuracy.py`` (each one label
stride, budget and training seed; the dumped configs say which) and writes:

- **convergence**: every row's test NME at each budget (``--iters``) of
  one seed, and the baseline's relative gain between doublings; the
  budget is converged when doubling it gains less than 1% (plot:
  ``<out>_convergence.png``);
- **label efficiency**, at the largest budget that every row has (or at
  ``--budget``): the mean
  and standard deviation over the seeds of NME and NMF (flicker) per row
  and label stride, the plot of NME against the fraction of labelled
  frames (``.png`` beside ``--out``) and the headline read from it: the
  baseline's stride at which it would match TSAL (log-linear
  interpolation of the baseline's curve between its strides), and the
  issue's targets checked on the means;
- **learning curves** at that budget, of one training seed: the test NME
  of every kept checkpoint (``accuracy.py --curve-points``) of every row
  and network, as a table and a plot (``<out>_curves.png``).

Example::

    python tools/benchmark/label_efficiency.py work_dirs/le/s10_seed0 \\
        work_dirs/le/s30_seed0 ... --out docs/benchmarks/le.md
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
import accuracy  # noqa: E402
from seed_summary import SummaryError, load_rows  # noqa: E402

NME = 'NME_inter_ocular/all'
NMF = 'NMF_inter_ocular/all'
#: (run, network, label stride)
Key = Tuple[str, str, int]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+', type=Path,
                        help='work directories of tools/benchmark/'
                        'accuracy.py')
    parser.add_argument('--budget', type=int, default=None,
                        help='compare the rows at this many training '
                        'iterations (default: the largest budget every row '
                        'has); rows without it are left out and named')
    parser.add_argument('--out', type=Path,
                        help='write the markdown here and the plot beside it '
                        '(.png); stdout always gets the markdown')
    return parser.parse_args(argv)


def stride_of(row: Dict[str, Any]) -> int:
    """The label stride a row was trained with (1: every frame)."""
    dataset = row['cfg']['train_dataloader']['dataset']
    for source in dataset.get('datasets', [dataset]):
        if 'label_stride' in source:
            return int(source['label_stride'])
    return 1  # plain images: every one labelled


def interpolate_stride(points: List[Tuple[int, float]],
                       nme: float) -> Optional[float]:
    """The stride at which a curve of (stride, NME) reaches ``nme``.

    Linear in log(stride) between neighbouring strides; ``None`` outside
    the curve's range.
    """
    points = sorted(points)
    for (s0, n0), (s1, n1) in zip(points, points[1:]):
        lo, hi = min(n0, n1), max(n0, n1)
        if lo <= nme <= hi and n0 != n1:
            t = (nme - n0) / (n1 - n0)
            return math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0)))
    return None


#: every row's NME at each budget of one training seed
Curves = Dict[Key, Dict[int, float]]


def convergence(rows: List[Dict[str, Any]]
                ) -> Tuple[int, List[int], Curves]:
    """The training seed with the most budgets, its budgets and every
    row's NME at each of them."""
    seeds: Dict[int, set] = {}
    for row in rows:
        seeds.setdefault(row['seed'], set()).add(
            row['cfg']['train_cfg']['max_iters'])
    seed = max(seeds, key=lambda s: (len(seeds[s]), -s))
    curves: Curves = {}
    for row in rows:
        if row['seed'] == seed:
            key = (row['run'], row['network'], stride_of(row))
            curves.setdefault(key, {})[row['cfg']['train_cfg']
                                       ['max_iters']] = row[NME]
    return seed, sorted(seeds[seed]), curves


def converged_budget(nme: Dict[int, float],
                     threshold: float = 1.0) -> Optional[int]:
    """The first budget whose doubling gains less than ``threshold`` %
    relative NME (a loss counts as no gain); ``None`` if none does."""
    budgets = sorted(nme)
    for b0, b1 in zip(budgets, budgets[1:]):
        if b1 == 2 * b0 and 100 * (nme[b0] - nme[b1]) / nme[b0] < threshold:
            return b0
    return None


def _curve_table(curves: Curves, iters: Sequence[int]) -> List[str]:
    """A markdown table of NME, a row per (run, network, stride) and a
    column per iteration count (``-`` where a row has none)."""
    header = ['row', 'network', 'stride', *[f'{i} it' for i in iters]]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for (run, net, stride), values in sorted(curves.items(), key=_order):
        label = accuracy.METHODS.get(run, (None, run))[1]
        lines.append('| ' + ' | '.join(
            [label, net, str(stride)] +
            [accuracy.format_cell(values.get(i, math.nan))
             for i in iters]) + ' |')
    return lines


def convergence_lines(seed: int, budgets: List[int],
                      curves: Curves) -> List[str]:
    """The table of every row's NME per budget and the baseline's relative
    gain between consecutive budgets, with the converged budget."""
    if len(budgets) < 2:
        return []
    lines = [f'## Convergence (training seed {seed})', '',
             'Test NME (inter-ocular, %) of each row trained with each '
             'budget, the schedule scaled to it.', '',
             *_curve_table(curves, budgets)]
    base = curves.get(('baseline', 'teacher', 10), {})
    gains = [f'{b0} -> {b1}: {100 * (base[b0] - base[b1]) / base[b0]:+.1f}%'
             for b0, b1 in zip(budgets, budgets[1:])
             if b0 in base and b1 in base]
    if gains:
        lines += ['', 'Baseline (stride 10) gain between doublings: ' +
                  ', '.join(gains) + '; converged when below 1%.']
        done = converged_budget(base)
        lines.append(
            f'Converged at {done} iterations.' if done is not None else
            'Not converged at the budgets measured.')
    return lines


def _line_style(net: str, colour: str) -> Dict[str, Any]:
    """A network's line in both plots: a student's is dashed with hollow
    squares, so that a teacher tied with it stays visible."""
    student = net == 'student'
    return dict(linestyle='--' if student else '-', color=colour,
                marker='s' if student else 'o',
                markersize=9 if student else 6,
                markerfacecolor='none' if student else colour)


def _colours(runs: Sequence[str]) -> Dict[str, str]:
    """One colour per method, in the tables' order: a teacher and its
    student share it (the student's line is dashed)."""
    names = list(accuracy.METHODS)
    ordered = sorted(set(runs), key=lambda r: (
        names.index(r) if r in names else len(names), r))
    return {run: f'C{i % 10}' for i, run in enumerate(ordered)}


def _save(fig: Any, ax: Any, path: Path) -> None:
    """Legend under the axes, one entry a line, so that it hides no point."""
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=6, loc='upper left', bbox_to_anchor=(0, -0.14),
              frameon=False)
    fig.savefig(str(path), bbox_inches='tight')


def save_convergence_plot(seed: int, curves: Curves, path: Path) -> None:
    """Test NME against the training budget (log scale), one line (or a
    dot: one budget) per row and network of one training seed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.5, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colours = _colours([run for run, _, _ in curves])
    all_budgets = set()
    for (run, net, stride), values in sorted(curves.items(), key=_order):
        budgets = sorted(values)
        all_budgets.update(budgets)
        label = accuracy.METHODS.get(run, (None, run))[1]
        ax.plot(budgets, [values[b] for b in budgets],
                **_line_style(net, colours[run]),
                label=f'{label} ({net}, stride {stride})')
    ax.set_xscale('log', base=2)
    ax.set_xticks(sorted(all_budgets))
    ax.set_xticklabels([str(b) for b in sorted(all_budgets)])
    ax.minorticks_off()
    ax.set_xlabel('training iterations (the schedule scaled to each)')
    ax.set_ylabel('test NME inter-ocular (%)')
    ax.set_title(f'NME against the training budget (seed {seed})')
    _save(fig, ax, path)


#: the order of a row's networks in the tables
NETWORKS = ('teacher', accuracy.SINGLE_NETWORK, 'student')


def _order(item: Tuple[Key, Any]) -> Tuple[int, int, int]:
    (run, net, stride), _ = item
    names = list(accuracy.METHODS)
    return (names.index(run) if run in names else len(names), -stride,
            NETWORKS.index(net) if net in NETWORKS else len(NETWORKS))


def efficiency(rows: List[Dict[str, Any]], budget: Optional[int] = None
               ) -> Tuple[int, Dict[Key, Dict[int, dict]]]:
    """Rows of one budget grouped by (run, network, stride) and seed.

    Args:
        rows: the rows of ``seed_summary.load_rows``.
        budget: the training iterations to compare at; ``None``: the
            largest budget every (run, network, stride) has. A given
            budget leaves out the rows that were not trained with it.
    """
    budgets: Dict[Key, set] = {}
    for row in rows:
        key = (row['run'], row['network'], stride_of(row))
        budgets.setdefault(key, set()).add(
            row['cfg']['train_cfg']['max_iters'])
    if budget is None:
        common = set.intersection(*budgets.values())
        if not common:
            raise SummaryError(
                'no budget (max_iters) is shared by every row: ' +
                ', '.join(f'{k}: {sorted(v)}' for k, v in budgets.items()))
        budget = max(common)
    elif not any(budget in b for b in budgets.values()):
        raise SummaryError(f'no row was trained for {budget} iterations: ' +
                           ', '.join(f'{k}: {sorted(v)}'
                                     for k, v in budgets.items()))
    groups: Dict[Key, Dict[int, dict]] = {}
    for row in rows:
        if row['cfg']['train_cfg']['max_iters'] != budget:
            continue
        key = (row['run'], row['network'], stride_of(row))
        by_seed = groups.setdefault(key, {})
        if row['seed'] in by_seed:
            raise SummaryError(
                f'{key} of seed {row["seed"]} is in both '
                f'{by_seed[row["seed"]]["source"]} and {row["source"]}')
        by_seed[row['seed']] = row
    return budget, groups


def _mean(by_seed: Dict[int, dict], metric: str) -> Tuple[float, float]:
    values = [r[metric] for r in by_seed.values()]
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return statistics.fmean(values), std


def efficiency_lines(budget: int,
                     groups: Dict[Key, Dict[int, dict]]) -> List[str]:
    """The table of means over seeds, the headline and the targets."""
    header = ['row', 'network', 'stride', 'labelled', 'seeds',
              'NME io, mean', 'std', 'NMF io, mean', 'easy', 'hard']
    lines = [f'## Label efficiency ({budget} iterations)', '',
             'Mean over training seeds of the test NME and NMF '
             '(inter-ocular, %); std is the sample standard deviation.', '',
             '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    means: Dict[Key, float] = {}
    for (run, net, stride), by_seed in sorted(groups.items(), key=_order):
        nme, std = _mean(by_seed, NME)
        means[(run, net, stride)] = nme
        label = accuracy.METHODS.get(run, (None, run))[1]
        lines.append('| ' + ' | '.join([
            label, net, str(stride), f'1/{stride}',
            ', '.join(map(str, sorted(by_seed))), f'{nme:.2f}',
            accuracy.format_cell(std),
            accuracy.format_cell(_mean(by_seed, NMF)[0]),
            accuracy.format_cell(_mean(by_seed, 'NME_inter_ocular/easy')[0]),
            accuracy.format_cell(_mean(by_seed, 'NME_inter_ocular/hard')[0])
        ]) + ' |')
    lines += ['', *headline_lines(groups, means)]
    return lines


def baseline_curve(means: Dict[Key, float]) -> List[Tuple[int, float]]:
    """(stride, NME) of the supervised baseline, with every frame
    labelled (the reference row) as stride 1."""
    points = [(s, v) for (run, net, s), v in means.items()
              if run == 'baseline' and net == 'teacher']
    points += [(1, v) for (run, net, s), v in means.items()
               if run == 'all_labelled' and net == 'teacher']
    return sorted(points)


def headline_lines(groups: Dict[Key, Dict[int, dict]],
                   means: Dict[Key, float]) -> List[str]:
    """The stride at which the baseline matches each TSAL network, and
    the targets of the label-efficiency benchmark on the means."""
    curve = baseline_curve(means)
    with_reference = ', the every-frame reference included' if any(
        run == 'all_labelled' for run, _, _ in means) else ''
    lines = []
    if not curve and any(run == 'tsal' for run, _, _ in means):
        lines.append('- No supervised-only baseline row: TSAL is not '
                     'matched to a baseline stride.')
    for (run, net, stride), nme in sorted(means.items(), key=lambda i: (
            i[0][2], NETWORKS.index(i[0][1]))):
        if run != 'tsal' or not curve:
            continue
        match = interpolate_stride(curve, nme)
        if match is not None:
            lines.append(f'- TSAL {net} at stride {stride} ({nme:.2f}) '
                         f'matches the baseline at stride {match:.1f}.')
        elif nme < min(v for _, v in curve):
            lines.append(f'- TSAL {net} at stride {stride} ({nme:.2f}) is '
                         f'better than every baseline point{with_reference}.')
        else:
            lines.append(f'- TSAL {net} at stride {stride} ({nme:.2f}) is '
                         'worse than every baseline point.')
    teacher = means.get(('tsal', 'teacher', 10))
    student = means.get(('tsal', 'student', 10))
    base = means.get(('baseline', 'teacher', 10))
    reference = next((v for (run, net, _), v in means.items()
                      if run == 'all_labelled'), None)
    lines += ['', 'Targets (stride 10, on the means):', '']
    checked = len(lines)
    if teacher is not None and base is not None:
        gain = 100 * (base - teacher) / base
        lines.append(f'- TSAL teacher at least 10% below the baseline: '
                     f'{gain:.1f}% ({"met" if gain >= 10 else "not met"})')
    if teacher is not None and student is not None:
        # four decimals: at the end of the schedule the two differ only in
        # the third or fourth, and two equal numbers beside 'not met' read as
        # a bug
        lines.append(f'- TSAL teacher at least as good as its student: '
                     f'{teacher:.4f} vs {student:.4f} '
                     f'({"met" if teacher <= student else "not met"})')
    if teacher is not None and reference is not None:
        gap = 100 * (teacher - reference) / reference
        lines.append(f'- TSAL within 2% of the every-frame reference: '
                     f'{gap:+.1f}% ({"met" if gap <= 2 else "not met"})')
    flicker = {k: _mean(v, NMF)[0] for k, v in groups.items()}
    tf = flicker.get(('tsal', 'teacher', 10))
    bf = flicker.get(('baseline', 'teacher', 10))
    if tf is not None and bf is not None:
        lines.append(f'- TSAL flicker below the baseline\'s: NMF {tf:.2f} '
                     f'vs {bf:.2f} ({"met" if tf < bf else "not met"})')
    if base is not None and reference is not None:
        room = 100 * (base - reference) / base
        lines.append(f'- (data) every-frame reference below the stride-10 '
                     f'baseline by {room:.1f}% (needs at least 10% for the '
                     'benchmark to show what labels are worth)')
    if len(lines) == checked:
        # an empty heading would read as a target silently skipped
        lines.append('- none checked: they need the TSAL and supervised-only '
                     'baseline rows at stride 10')
    return lines


def save_plot(groups: Dict[Key, Dict[int, dict]], path: Path) -> None:
    """NME against the fraction of labelled frames, one line per row and
    network, every seed as a dot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.5, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    # the every-frame reference is the baseline's point at stride 1
    lines: Dict[Tuple[str, str], List[Tuple[float, float, list]]] = {}
    for (run, net, stride), by_seed in sorted(groups.items(), key=_order):
        name = 'baseline' if run == 'all_labelled' else run
        values = [r[NME] for r in by_seed.values()]
        lines.setdefault((name, net), []).append(
            (1 / stride, statistics.fmean(values), values))
    colours = _colours([run for run, _ in lines])
    for (run, net), points in lines.items():
        points.sort()
        label = accuracy.METHODS.get(run, (None, run))[1]
        ax.plot([p[0] for p in points], [p[1] for p in points],
                **_line_style(net, colours[run]), label=f'{label} ({net})')
        for x, _, values in points:
            ax.scatter([x] * len(values), values, s=10,
                       color=colours[run], alpha=0.4)
    ax.set_xscale('log')
    ax.set_xlabel('fraction of labelled training frames')
    ax.set_ylabel('test NME inter-ocular (%)')
    ax.set_title('NME against labelled fraction (dots: seeds)')
    _save(fig, ax, path)


def learning_curves(groups: Dict[Key, Dict[int, dict]]
                    ) -> Tuple[int, Curves, List[str]]:
    """Every row's test NME at each kept checkpoint of one training seed.

    Args:
        groups: the rows of one budget (``efficiency``).

    Returns:
        tuple: the seed (the one most rows have, the smallest of a tie),
        the curves ``{(run, network, stride): {iteration: NME}}`` read
        from each run's ``curve.json``, and the runs without one (trained
        without ``--curve-points``).
    """
    counts: Dict[int, int] = {}
    for by_seed in groups.values():
        for seed in by_seed:
            counts[seed] = counts.get(seed, 0) + 1
    seed = max(counts, key=lambda s: (counts[s], -s))
    curves: Curves = {}
    missing = set()
    for key, by_seed in groups.items():
        row = by_seed.get(seed)
        if row is None:
            continue
        path = accuracy.curve_of(argparse.Namespace(work_dir=row['source']),
                                 accuracy.Run(row['run'], row['run']))
        if not path.is_file():
            missing.add(str(path.parent))
            continue
        curves[key] = {
            point['iter']: point['metrics']['NME_inter_ocular']
            for point in json.loads(path.read_text())
            if point['network'] == row['network']
        }
    return seed, curves, sorted(missing)


def curve_lines(seed: int, budget: int, curves: Curves,
                missing: List[str]) -> List[str]:
    """The learning curves as a table, one column per checkpoint."""
    iters = sorted({i for values in curves.values() for i in values})
    lines = [f'## Learning curves (training seed {seed}, {budget} '
             'iterations)', '',
             'Test NME (inter-ocular, %) of each kept checkpoint.', '']
    if curves:
        lines += _curve_table(curves, iters)
    if missing:
        lines += ['', 'No learning curve (trained without --curve-points): ' +
                  ', '.join(f'`{m}`' for m in missing) + '.']
    return lines


def _milestones(groups: Dict[Key, Dict[int, dict]], seed: int) -> List[int]:
    """The learning-rate cuts of the rows' schedule (the dumped config's
    ``MultiStepLR``), for the dotted lines of the curves plot."""
    cuts = set()
    for by_seed in groups.values():
        if seed in by_seed:
            for step in by_seed[seed]['cfg'].get('param_scheduler', []):
                cuts.update(step.get('milestones', []))
    return sorted(cuts)


def save_curves_plot(seed: int, budget: int, curves: Curves,
                     milestones: Sequence[int], path: Path) -> None:
    """Test NME against the training iteration, one line per row, label
    stride and network; dotted: the learning-rate cuts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.5, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colours: Dict[Tuple[str, int], str] = {}
    for (run, net, stride), values in sorted(curves.items(), key=_order):
        colour = colours.setdefault((run, stride), f'C{len(colours) % 10}')
        iters = sorted(values)
        label = accuracy.METHODS.get(run, (None, run))[1]
        ax.plot(iters, [values[i] for i in iters],
                **_line_style(net, colour),
                label=f'{label} ({net}, stride {stride})')
    for x in milestones:
        ax.axvline(x, color='grey', lw=0.8, ls=':')
    ax.set_xlabel('training iteration (dotted: learning rate x0.1)')
    ax.set_ylabel('test NME inter-ocular (%)')
    ax.set_title(f'Learning curves, {budget} iterations (seed {seed})')
    _save(fig, ax, path)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    rows = [row for d in args.work_dirs for row in load_rows(d)]
    budget, groups = efficiency(rows, args.budget)
    seed, budgets, curves = convergence(rows)
    lines = ['# Label efficiency of TSAL', '', 'Sources: ' + ', '.join(
        f'`{d}`' for d in args.work_dirs) + '.', '',
             *convergence_lines(seed, budgets, curves), '',
             *efficiency_lines(budget, groups)]
    left_out = sorted({(r['run'], r['network'], stride_of(r))
                       for r in rows} - set(groups))
    if left_out:
        lines += ['', f'Left out (not trained for {budget} iterations): ' +
                  ', '.join(f'{run} {net} stride {stride}'
                            for run, net, stride in left_out) + '.']
    curve_seed, learning, missing = learning_curves(groups)
    if learning or missing:
        lines += ['', *curve_lines(curve_seed, budget, learning, missing)]
    text = '\n'.join(lines) + '\n'
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        save_plot(groups, args.out.with_suffix('.png'))
        if len(budgets) > 1:
            save_convergence_plot(seed, curves, args.out.with_name(
                args.out.stem + '_convergence.png'))
        if learning:
            save_curves_plot(
                curve_seed, budget, learning, _milestones(groups, curve_seed),
                args.out.with_name(args.out.stem + '_curves.png'))
    print(text, end='')
    return text


if __name__ == '__main__':
    try:
        main()
    except SummaryError as e:
        sys.exit(f'error: {e}')
