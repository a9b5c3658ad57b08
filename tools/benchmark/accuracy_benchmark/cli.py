"""The command line of ``tools/benchmark/accuracy.py``."""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

from mmengine.config import DictAction

from .reports import write_image_seed_summary, write_reports
from .runs import DEFAULT_CONFIG, DEFAULT_METHODS, METHODS, ROOT, log, \
    needs_image_set, plan_runs
from .steps import (generate_data, oversubscription_warning,
                    train_and_evaluate)

__all__ = [
    'add_run_arguments', 'parse_args', 'seed_args', 'run_benchmark', 'main'
]

DESCRIPTION = ('Accuracy of TSAL against the alternatives (the paper\'s '
               'Table 3), in one run.')


def add_run_arguments(parser: argparse.ArgumentParser, work_dir: Path,
                      jobs: int) -> None:
    """The arguments shared with ``tools/demo.py``: where, on what data,
    how long and how many at a time."""
    parser.add_argument('--work-dir', type=Path, default=work_dir)
    parser.add_argument('--data-root', type=Path,
                        default=ROOT / 'data' / 'synthetic_300vw_small')
    # 900: at 300 iterations TSAL does not beat the baseline on the
    # embedded benchmark (README, accuracy section)
    parser.add_argument('--iters', type=int, default=900,
                        help='training iterations of every model '
                        '(default 900)')
    parser.add_argument('--train-videos', type=int, default=12)
    parser.add_argument('--test-videos', type=int, default=3,
                        help='test videos per category (easy, hard)')
    parser.add_argument('--frames', type=int, default=100,
                        help='frames per video')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--motion-speed', type=float, default=1.0,
                        help='time scale of the generated head motion and '
                        'expressions (default 1; the label-efficiency '
                        'benchmark uses 3)')
    parser.add_argument('--train-stills', type=int, default=120,
                        help='labelled stills of the training identities, '
                        'made when a mixed training row is run (default '
                        '120)')
    parser.add_argument('--test-stills', type=int, default=60,
                        help='held-out stills of the test identities '
                        '(default 60)')
    parser.add_argument('--jobs', type=int, default=jobs,
                        help='trainings and evaluations run at a time '
                        f'(default {jobs})')
    parser.add_argument('--fresh', action='store_true',
                        help='delete earlier outputs of this work dir first')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (see tools/benchmark/accuracy.py)."""
    parser = argparse.ArgumentParser(
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', type=Path, default=DEFAULT_CONFIG,
                        help='base config (default: the tiny CPU config)')
    parser.add_argument('--methods', nargs='+', default=list(DEFAULT_METHODS),
                        choices=list(METHODS), help='rows to train')
    parser.add_argument('--sweep', default=None, metavar='KEY=V1,V2,...',
                        help='train --sweep-method once per value of a '
                        'config key instead of the methods')
    parser.add_argument('--sweep-method', default='tsal',
                        choices=list(METHODS),
                        help='the method of a sweep (default: tsal)')
    add_run_arguments(parser, ROOT / 'work_dirs' / 'benchmark_accuracy',
                      jobs=1)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads per job (default 1)')
    parser.add_argument('--train-seeds', type=int, nargs='+',
                        metavar='SEED',
                        help='train every row once per training seed '
                        '(randomness.seed; the data stay those of --seed), '
                        'each in WORK_DIR/seed_SEED, and summarise them in '
                        'WORK_DIR/seeds.md and seeds.png '
                        '(tools/benchmark/seed_summary.py)')
    parser.add_argument('--label-stride', type=int, default=None,
                        help='one labelled training frame in this many '
                        '(default: the config\'s, 10; the every-frame '
                        'reference row keeps 1)')
    parser.add_argument('--curve-points', type=int, default=0,
                        help='keep this many evenly spaced checkpoints of '
                        'every run and evaluate each of them: the learning '
                        'curves (curves.png, curves.csv); default 0, off')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, metavar='KEY=VALUE',
                        help='overrides applied to every run')
    return parser.parse_args(argv)


def seed_args(args: argparse.Namespace,
              seed: int) -> argparse.Namespace:
    """The arguments of one training seed of ``--train-seeds``: its own
    work directory, ``randomness.seed`` set, everything else shared."""
    if 'randomness.seed' in (args.cfg_options or {}):
        raise SystemExit('--train-seeds and --cfg-options randomness.seed '
                         'both set the training seed: pass one of them')
    sub = copy.copy(args)
    sub.work_dir = args.work_dir / f'seed_{seed}'
    sub.cfg_options = dict(args.cfg_options or {}, **{'randomness.seed': seed})
    sub.train_seeds = None
    return sub


def run_benchmark(args: argparse.Namespace) -> str:
    """Train and evaluate every row of one training seed in
    ``args.work_dir``; returns its markdown report."""
    runs = plan_runs(args)
    log(f'{len(runs)} models: {", ".join(r.name for r in runs)}; '
        f'{args.iters} iterations each, {args.jobs} at a time')
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
             else os.cpu_count() or 1)
    warning = oversubscription_warning(args.jobs, args.threads, cores)
    if warning:
        log(warning)
    generate_data(args, stills=needs_image_set(runs))
    results = train_and_evaluate(args, runs)
    text = write_reports(args, runs, results)
    print(text)
    log(f'done: {args.work_dir}/results.md, results.csv, ced.png')
    return text


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Run the benchmark; returns the markdown report (with
    ``--train-seeds``, the summary over the seeds)."""
    args = parse_args(argv)
    # mmengine imports pkg_resources, which setuptools marks deprecated
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
    args.work_dir = args.work_dir.resolve()
    args.data_root = args.data_root.resolve()
    args.config = args.config.resolve()
    if args.fresh:
        shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    import tsal_mmpose  # noqa: F401  (registers the components)
    if not args.train_seeds:
        return run_benchmark(args)
    seeds = [seed_args(args, seed) for seed in args.train_seeds]
    for i, sub in enumerate(seeds, 1):
        log(f'training seed {sub.cfg_options["randomness.seed"]} '
            f'({i} of {len(seeds)}): {sub.work_dir}')
        sub.work_dir.mkdir(exist_ok=True)
        run_benchmark(sub)
    out = args.work_dir / 'seeds.md'
    summary = ROOT / 'tools' / 'benchmark' / 'seed_summary.py'
    proc = subprocess.run(
        [sys.executable, str(summary),
         *[str(sub.work_dir) for sub in seeds], '--out', str(out)],
        capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f'seed_summary.py failed: {proc.stderr.strip()}')
    print(proc.stdout, end='')
    log(f'done: {out}, {out.with_suffix(".png")}')
    text = proc.stdout
    if needs_image_set(plan_runs(args)):
        images = write_image_seed_summary(
            [sub.work_dir for sub in seeds], args.work_dir / 'images_seeds.md')
        print(images, end='')
        log(f'done: {args.work_dir / "images_seeds.md"}')
        text += '\n' + images
    return text
