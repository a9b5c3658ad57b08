#!/usr/bin/env python3
"""The README demo: TSAL against a supervised-only baseline, on CPU.

The two-row case of the accuracy benchmark
(``tools/benchmark/accuracy.py --methods tsal baseline``), plus a video.
Steps (each skipped when its output already exists, so an interrupted run
continues where it stopped; ``--fresh`` starts over):

1. generate a small embedded benchmark in the official raw 300VW layout
   from the real faces in ``../shared/data/faces`` and convert it
   (``tools/make_synthetic_300vw.py --convert``);
2. train TSAL (``configs/tsal_tiny_synthetic.py``) and the supervised-only
   baseline (the same config with ``configs/ablations/baseline.py``
   applied) for the same iterations (``--iters``, 900 by default), with
   one labelled frame in ten, both at once with one torch thread each;
3. evaluate the TSAL teacher, the TSAL student and the baseline on the
   held-out test videos (easy and hard);
4. annotate one hard test video with the TSAL teacher.

Outputs under ``--work-dir`` (default ``work_dirs/demo``): ``results.md``
and ``results.csv`` (NME inter-ocular and inter-pupil, AUC@0.08, FR@0.08),
``ced.png`` / ``ced.csv`` (cumulative error distributions of all models),
``annotated.mp4`` with ``annotated.json``, and one folder per model with
its config, logs, checkpoints and metrics.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _accuracy_module():
    """tools/benchmark/accuracy.py, which trains and evaluates the models."""
    spec = importlib.util.spec_from_file_location(
        'tsal_accuracy_benchmark', ROOT / 'tools' / 'benchmark' /
        'accuracy.py')
    module = importlib.util.module_from_spec(spec)
    # registered first: its dataclasses look their module up by name
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def parse_args(accuracy) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    accuracy.add_run_arguments(parser, ROOT / 'work_dirs' / 'demo', jobs=2)
    return parser.parse_args()


def annotate(accuracy, work: Path, data_root: Path, iters: int) -> None:
    """Landmarks of the TSAL teacher drawn on one hard test video."""
    out = work / 'annotated.mp4'
    if out.is_file():
        return
    annotations = data_root / 'annotations'
    categories = json.loads((annotations / 'categories.json').read_text())
    test = json.loads((annotations / 'test.json').read_text())
    test_videos = {img['file_name'].split('/')[0] for img in test['images']}
    hard = sorted(v for v in test_videos if categories.get(v) == 'hard')
    video = data_root / 'raw' / hard[0] / 'vid.avi'
    cmd = [
        sys.executable, ROOT / 'tools' / 'infer_video.py',
        work / 'configs' / 'tsal.py', work / 'tsal' / f'iter_{iters}.pth',
        video, '--out-video', out, '--out-json', work / 'annotated.json',
        '--device', 'cpu', '--no-progress'
    ]
    accuracy.log(f'annotate test video {hard[0]}')
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f'demo: annotating {video} failed with exit status '
                 f'{proc.returncode}; rerun `make demo` to retry')


def main() -> None:
    accuracy = _accuracy_module()
    args = parse_args(accuracy)
    argv = [
        '--methods', 'tsal', 'baseline', '--work-dir', str(args.work_dir),
        '--data-root', str(args.data_root), '--iters', str(args.iters),
        '--train-videos', str(args.train_videos), '--test-videos',
        str(args.test_videos), '--frames', str(args.frames), '--seed',
        str(args.seed), '--jobs', str(args.jobs)
    ]
    if args.fresh:
        argv.append('--fresh')
    accuracy.main(argv)
    annotate(accuracy, args.work_dir.resolve(), args.data_root.resolve(),
             args.iters)
    accuracy.log(f'demo done: {args.work_dir.resolve()}')


if __name__ == '__main__':
    main()
