#!/usr/bin/env python3
"""The README demo: TSAL against a supervised-only baseline, on CPU.

Steps (each skipped when its output already exists, so an interrupted run
continues where it stopped; ``--fresh`` starts over):

1. generate a small embedded benchmark in the official raw 300VW layout
   from the real faces in ``../shared/data/faces`` and convert it
   (``tools/make_synthetic_300vw.py --convert``);
2. train TSAL (``configs/tsal_tiny_synthetic.py``) with one labelled frame
   in ten;
3. train the supervised-only baseline (the same config with
   ``configs/ablations/baseline.py`` applied) for the same iterations;
4. evaluate the TSAL teacher, the TSAL student and the baseline on the
   held-out test videos (easy and hard);
5. annotate one hard test video with the TSAL teacher.

Outputs under ``--work-dir`` (default ``work_dirs/demo``): ``results.md``
and ``results.csv`` (NME inter-ocular and inter-pupil, AUC@0.08, FR@0.08),
``ced.png`` / ``ced.csv`` (cumulative error distributions of all methods),
``annotated.mp4`` with ``annotated.json``, and one folder per model with
its logs, checkpoints and metrics.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / 'configs' / 'tsal_tiny_synthetic.py'
BASELINE = ROOT / 'configs' / 'ablations' / 'baseline.py'
MODES = ('inter_ocular', 'inter_pupil')
_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f'[demo {time.monotonic() - _T0:6.0f}s] {msg}', flush=True)


def run(cmd: list, what: str) -> None:
    """Run a step, streaming its output; stop the demo if it fails."""
    log(f'{what}: {" ".join(str(c) for c in cmd)}')
    proc = subprocess.run([str(c) for c in cmd], cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f'demo: step "{what}" failed with exit status '
                 f'{proc.returncode}; rerun `make demo` to continue from it')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', type=Path, default=ROOT / 'work_dirs' /
                        'demo')
    parser.add_argument('--data-root', type=Path,
                        default=ROOT / 'data' / 'synthetic_300vw_demo')
    parser.add_argument('--iters', type=int, default=300,
                        help='training iterations of each model')
    parser.add_argument('--train-videos', type=int, default=12)
    parser.add_argument('--test-videos', type=int, default=3,
                        help='test videos per category (easy, hard)')
    parser.add_argument('--frames', type=int, default=100,
                        help='frames per video')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--fresh', action='store_true',
                        help='delete earlier outputs and start over')
    return parser.parse_args()


def write_config(path: Path, data_root: Path, iters: int,
                 variant: Path | None) -> None:
    """Dump the tiny config, with the data, length and variant of the run."""
    from mmengine.config import Config

    from tsal_mmpose.utils import apply_variant
    cfg = Config.fromfile(str(TINY))
    if variant is not None:
        apply_variant(cfg, variant)
    root = f'{data_root}/'
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    milestones = [iters * 90 // 140, iters * 120 // 140]
    cfg.param_scheduler[0].update(end=iters, milestones=milestones)
    cfg.default_hooks.checkpoint.interval = max(1, iters // 4)
    if 'unsup_weight' in cfg.model:
        cfg.model.unsup_weight.update(
            ramp_up=iters * 60 // 140, hold=iters * 110 // 140, total=iters)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(path))


def config_path(work: Path, name: str) -> Path:
    """The generated config of a model (outside its work dir, where the
    Runner writes its own copy)."""
    return work / 'configs' / f'{name}.py'


def train(name: str, work: Path, args: argparse.Namespace,
          variant: Path | None) -> Path:
    model_dir = work / name
    ckpt = model_dir / f'iter_{args.iters}.pth'
    config = config_path(work, name)
    write_config(config, args.data_root, args.iters, variant)
    if ckpt.is_file():
        log(f'{name}: {ckpt} exists, training skipped')
        return ckpt
    resume = ['--resume'] if (model_dir / 'last_checkpoint').is_file() else []
    run([sys.executable, ROOT / 'tools' / 'train.py', config, '--work-dir',
         model_dir, *resume], f'train {name} ({args.iters} iterations)')
    return ckpt


def evaluate(name: str, work: Path, ckpt: Path, predict_on: str | None):
    out = work / name / 'metrics.json'
    if not out.is_file():
        cmd = [sys.executable, ROOT / 'tools' / 'test.py',
               config_path(work, ckpt.parent.name), ckpt, '--work-dir',
               work / name, '--out', out]
        if predict_on:
            cmd += ['--predict-on', predict_on]
        run(cmd, f'evaluate {name}')
    return json.loads(out.read_text())


def per_image_errors(folder: Path, mode: str) -> list:
    rows = list(csv.DictReader(open(folder / 'test' / 'per_image_nme.csv')))
    return [float(r[f'nme_{mode}']) for r in rows]


def write_results(work: Path, results: dict, args) -> None:
    """Results table (markdown + CSV) and the CED plot of all methods.

    ``results`` maps a method name to (its folder, its metrics).
    """
    from tsal_mmpose.evaluation.metrics import save_ced
    header = ['method', 'split']
    for mode in MODES:
        header += [f'NME_{mode} (%)', f'AUC@0.08_{mode} (%)',
                   f'FR@0.08_{mode} (%)']
    rows = []
    for method, (_, metrics) in results.items():
        for split in ('all', 'easy', 'hard'):
            prefix = '' if split == 'all' else f'{split}/'
            row = [method, split]
            for mode in MODES:
                for key in (f'NME_{mode}', f'AUC@0.08_{mode}',
                            f'FR@0.08_{mode}'):
                    row.append(f'{metrics[prefix + key]:.2f}')
            rows.append(row)
    with open(work / 'results.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    lines = [
        '# TSAL demo on the embedded synthetic 300VW-layout benchmark', '',
        f'{args.train_videos} training videos x {args.frames} frames, one '
        'labelled frame in ten; test: '
        f'{args.test_videos} easy + {args.test_videos} hard held-out videos '
        'from other source faces, every frame evaluated. '
        f'{args.iters} training iterations per model, '
        '`configs/tsal_tiny_synthetic.py` on CPU. NME in % of the '
        'normalising distance (inter-ocular: outer eye corners; '
        'inter-pupil: eye centroids); AUC and failure rate of the '
        'cumulative error distribution up to 0.08 (inter-ocular).', '',
        '| ' + ' | '.join(header) + ' |',
        '|' + '---|' * len(header)
    ] + ['| ' + ' | '.join(r) + ' |' for r in rows]
    (work / 'results.md').write_text('\n'.join(lines) + '\n')
    curves = {
        method: per_image_errors(work / folder, 'inter_ocular')
        for method, (folder, _) in results.items()
    }
    # the plotted range covers the errors of the short CPU runs too
    save_ced(curves, str(work / 'ced.csv'), str(work / 'ced.png'),
             threshold=0.4, title='CED, inter-ocular NME, test videos')


def annotate(work: Path, ckpt: Path, args) -> None:
    out = work / 'annotated.mp4'
    if out.is_file():
        return
    annotations = args.data_root / 'annotations'
    categories = json.loads((annotations / 'categories.json').read_text())
    test = json.loads((annotations / 'test.json').read_text())
    test_videos = {img['file_name'].split('/')[0] for img in test['images']}
    hard = sorted(v for v in test_videos if categories.get(v) == 'hard')
    video = args.data_root / 'raw' / hard[0] / 'vid.avi'
    run([sys.executable, ROOT / 'tools' / 'infer_video.py',
         config_path(work, 'tsal'), ckpt, video, '--out-video', out,
         '--out-json', work / 'annotated.json', '--device', 'cpu'],
        f'annotate test video {hard[0]}')


def main() -> None:
    args = parse_args()
    work = args.work_dir.resolve()
    args.data_root = args.data_root.resolve()
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(args.data_root, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)

    log('[1/5] embedded benchmark')
    if not (args.data_root / 'annotations' / 'test.json').is_file():
        run([sys.executable, ROOT / 'tools' / 'make_synthetic_300vw.py',
             '--out', args.data_root, '--seed', args.seed,
             '--train-videos', args.train_videos,
             '--test-easy-videos', args.test_videos,
             '--test-hard-videos', args.test_videos,
             '--frames', args.frames, '--workers', 2, '--convert'],
            'generate benchmark')
    log('[2/5] TSAL')
    tsal = train('tsal', work, args, None)
    log('[3/5] supervised-only baseline')
    base = train('baseline', work, args, BASELINE)
    log('[4/5] evaluation on the held-out test videos')
    results = {
        'TSAL teacher': ('tsal', evaluate('tsal', work, tsal, 'teacher')),
        'TSAL student': ('tsal_student',
                         evaluate('tsal_student', work, tsal, 'student')),
        'supervised-only baseline': ('baseline',
                                     evaluate('baseline', work, base, None)),
    }
    write_results(work, results, args)
    log('[5/5] annotated test video')
    annotate(work, tsal, args)
    print((work / 'results.md').read_text())
    log(f'done: results in {work}')


if __name__ == '__main__':
    main()
