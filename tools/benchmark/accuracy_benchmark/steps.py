"""The benchmark's steps: data, configs, training and evaluation, each
skipped when its output exists."""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .runs import (ROOT, SINGLE_NETWORK, Run, build_config, log,
                   needs_image_set)

__all__ = [
    'oversubscription_warning', 'run_step', 'generate_data',
    'checkpoint_of', 'config_of', 'image_config_of', 'image_test_dataloader',
    'write_configs', 'train', 'metrics_dir', 'evaluate', 'evaluate_images',
    'per_face_errors', 'curve_of', 'evaluate_curve', 'train_and_evaluate',
    'IMAGE_PREFIX'
]

#: the prefix of the held-out still images' metrics in a run's results
IMAGE_PREFIX = 'images/'


def oversubscription_warning(jobs: int, threads: int,
                             cores: int) -> Optional[str]:
    """A warning when the jobs' torch threads outnumber the cores.

    Two trainings of 2 threads each on 2 cores ran at 4-5 s per iteration
    of the tiny config's baseline, against 0.5 s for one of them alone:
    the threads of each job's kernels wait for each other.
    """
    if jobs * threads <= cores:
        return None
    return (f'warning: {jobs} jobs x {threads} threads exceed the {cores} '
            'cores here; multi-threaded kernels can then slow down '
            'several-fold (fewer --jobs or --threads avoid it)')


def run_step(cmd: Sequence[Any], what: str, log_file: Path,
             threads: int) -> None:
    """Run a tool with its output in ``log_file``; raise if it fails."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED='1')
    log(f'{what}: started (log: {log_file})')
    start = time.monotonic()
    with open(log_file, 'a') as out:
        proc = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env,
                              stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log_file.read_text(errors='replace').splitlines()[-15:]
        raise RuntimeError(
            f'{what} failed with exit status {proc.returncode}; the end of '
            f'{log_file}:\n' + '\n'.join(tail))
    log(f'{what}: done in {time.monotonic() - start:.0f}s')


def generate_data(args: argparse.Namespace, stills: bool = False) -> None:
    """The embedded benchmark, unless it exists with the same settings.

    With ``stills`` (a mixed training row is run) it has the labelled still
    image sets too: ``--train-stills`` of the training identities and
    ``--test-stills`` of the test identities.
    """
    params = dict(seed=args.seed, train_videos=args.train_videos,
                  test_videos=args.test_videos, frames=args.frames)
    if stills:
        params.update(train_stills=args.train_stills,
                      test_stills=args.test_stills)
    if args.motion_speed != 1.0:  # stamps written before it existed hold
        params.update(motion_speed=args.motion_speed)
    stamp = args.data_root / 'benchmark_settings.json'
    if (args.data_root / 'annotations' / 'test.json').is_file():
        if stamp.is_file() and json.loads(stamp.read_text()) != params:
            raise SystemExit(
                f'{stamp} records other settings '
                f'({stamp.read_text().strip()}) than this run ({params}): '
                'pass another --data-root or delete that folder')
        log(f'benchmark data: {args.data_root} exists')
        return
    run_step([
        sys.executable, ROOT / 'tools' / 'make_synthetic_300vw.py', '--out',
        args.data_root, '--seed', args.seed, '--train-videos',
        args.train_videos, '--test-easy-videos', args.test_videos,
        '--test-hard-videos', args.test_videos, '--frames', args.frames,
        '--workers', max(1, args.jobs), '--convert', '--train-stills',
        params.get('train_stills', 0), '--test-stills',
        params.get('test_stills', 0), '--motion-speed', args.motion_speed
    ], 'generate the benchmark data', args.work_dir / 'generate.log',
             args.threads)
    stamp.write_text(json.dumps(params))


def checkpoint_of(args: argparse.Namespace, run: Run) -> Path:
    return args.work_dir / run.name / f'iter_{args.iters}.pth'


def config_of(args: argparse.Namespace, run: Run) -> Path:
    """The dumped config of a run (beside, not inside, its work dir,
    where the Runner writes its own copy)."""
    return args.work_dir / 'configs' / f'{run.name}.py'


def image_config_of(args: argparse.Namespace, run: Run) -> Path:
    """The run's config with the held-out still images as its test set
    (in its own folder: ``configs/`` holds one config per run)."""
    return args.work_dir / 'image_configs' / f'{run.name}.py'


def image_test_dataloader(cfg: Any, data_root: Path) -> dict:
    """The test loader of the held-out stills (``stills_test.json``).

    The run's own test pipeline (a clip pipeline takes a single image as a
    clip of one frame) and loader settings, with mmpose's
    ``Face300WDataset`` on the stills of the test identities.
    """
    loader = copy.deepcopy(cfg.test_dataloader.to_dict())
    loader['dataset'] = dict(
        type='Face300WDataset',
        data_root=f'{data_root}/',
        data_mode='topdown',
        ann_file='annotations/stills_test.json',
        data_prefix=dict(img='stills/'),
        test_mode=True,
        pipeline=loader['dataset']['pipeline'])
    return loader


def write_configs(args: argparse.Namespace, runs: List[Run]) -> None:
    """Dump every run's config (in this thread: building mmengine configs
    is not thread-safe).

    Outputs are reused only for the config they were made with: a run
    folder whose dumped config differs from this run's (the package's
    configs changed, other ``--cfg-options``) stops the benchmark, naming
    the file, rather than reporting the old model's numbers. So does one
    made with another ``--threads`` (recorded beside the config): a run is
    deterministic for one thread count, and another count sums in another
    order, which over a training moves the result as much as a seed.
    """
    for run in runs:
        config = config_of(args, run)
        config.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=config.parent) as tmp:
            fresh = Path(tmp) / config.name
            build_config(args, run).dump(str(fresh))
            folder = args.work_dir / run.name
            if (folder.exists() and config.is_file()
                    and config.read_text() != fresh.read_text()):
                raise SystemExit(
                    f'{folder} holds the outputs of another config than '
                    f'this run\'s ({config} differs from it): pass --fresh '
                    'to train again, or another --work-dir')
            threads = config.with_suffix('.threads')
            if (folder.exists() and threads.is_file()
                    and threads.read_text() != str(args.threads)):
                raise SystemExit(
                    f'{folder} holds outputs made with --threads '
                    f'{threads.read_text()} ({threads}), this run asks for '
                    f'--threads {args.threads}: pass --threads '
                    f'{threads.read_text()}, --fresh to train again, or '
                    'another --work-dir')
            shutil.move(str(fresh), str(config))
            threads.write_text(str(args.threads))
    if needs_image_set(runs):
        for run in runs:
            cfg = build_config(args, run)
            cfg.test_dataloader = image_test_dataloader(cfg, args.data_root)
            path = image_config_of(args, run)
            path.parent.mkdir(parents=True, exist_ok=True)
            cfg.dump(str(path))


def train(args: argparse.Namespace, run: Run) -> Path:
    """Train one run (resuming an interrupted one); its checkpoint."""
    ckpt = checkpoint_of(args, run)
    if ckpt.is_file():
        log(f'train {run.name}: {ckpt.name} exists')
        return ckpt
    folder = args.work_dir / run.name
    resume = ['--resume'] if (folder / 'last_checkpoint').is_file() else []
    run_step([
        sys.executable, ROOT / 'tools' / 'train.py', config_of(args, run),
        '--work-dir', folder, *resume
    ], f'train {run.name} ({args.iters} iterations)', folder / 'train.log',
             args.threads)
    return ckpt


def metrics_dir(args: argparse.Namespace, run: Run, network: str) -> Path:
    return args.work_dir / run.name / f'eval_{network}'


def _network_args(network: str) -> List[str]:
    """tools/test.py's choice of network (none for a plain model)."""
    return [] if network == SINGLE_NETWORK else ['--predict-on', network]


def evaluate(args: argparse.Namespace, run: Run, network: str) -> dict:
    """Metrics of one network of a trained run (cached as JSON)."""
    folder = metrics_dir(args, run, network)
    out = folder / 'metrics.json'
    if not out.is_file():
        run_step([
            sys.executable, ROOT / 'tools' / 'test.py',
            config_of(args, run), checkpoint_of(args, run), '--work-dir',
            folder, '--out', out, *_network_args(network)
        ], f'evaluate {run.name} ({network})', folder / 'test.log',
                 args.threads)
    return json.loads(out.read_text())


def evaluate_images(args: argparse.Namespace, run: Run,
                    network: str) -> dict:
    """Metrics of one network on the held-out stills (cached as JSON)."""
    folder = metrics_dir(args, run, network).with_name(
        f'eval_{network}_images')
    out = folder / 'metrics.json'
    if not out.is_file():
        run_step([
            sys.executable, ROOT / 'tools' / 'test.py',
            image_config_of(args, run), checkpoint_of(args, run),
            '--work-dir', folder, '--out', out, *_network_args(network)
        ], f'evaluate {run.name} ({network}) on the stills',
                 folder / 'test.log', args.threads)
    return json.loads(out.read_text())


def curve_of(args: argparse.Namespace, run: Run) -> Path:
    return args.work_dir / run.name / 'curve.json'


def evaluate_curve(args: argparse.Namespace, run: Run) -> List[dict]:
    """The test metrics of each kept checkpoint of a run and each of its
    networks (tools/analysis/learning_curve.py, cached as JSON)."""
    out = curve_of(args, run)
    if not out.is_file():
        # the checkpoints build_config keeps (--curve-points of them)
        ckpts = sorted((args.work_dir / run.name).glob('iter_*.pth'))
        run_step([
            sys.executable, ROOT / 'tools' / 'analysis' / 'learning_curve.py',
            config_of(args, run), *ckpts, '--networks', *run.networks,
            '--out', out
        ], f'learning curve of {run.name} ({len(ckpts)} checkpoints)',
                 out.with_suffix('.log'), args.threads)
    return json.loads(out.read_text())


def per_face_errors(folder: Path, mode: str) -> List[float]:
    """Per-face NMEs written by the metric (``test/per_image_nme.csv``)."""
    with open(folder / 'test' / 'per_image_nme.csv') as f:
        return [float(r[f'nme_{mode}']) for r in csv.DictReader(f)]


def train_and_evaluate(args: argparse.Namespace,
                       runs: List[Run]) -> Dict[str, Dict[str, dict]]:
    """Train and evaluate every run, ``--jobs`` at a time.

    When a run trains on the still images, every run is also evaluated on
    the held-out stills; those metrics join the network's under
    :data:`IMAGE_PREFIX` (``images/NME_inter_ocular``, ...).

    Returns:
        dict: run name -> network -> metrics.
    """
    results: Dict[str, Dict[str, dict]] = {}
    images = needs_image_set(runs)

    def one(run: Run) -> None:
        train(args, run)
        metrics = {}
        for net in run.networks:
            metrics[net] = dict(evaluate(args, run, net))
            if images:
                metrics[net].update({
                    IMAGE_PREFIX + key: value
                    for key, value in evaluate_images(args, run,
                                                      net).items()
                })
        if getattr(args, 'curve_points', 0):
            evaluate_curve(args, run)
        results[run.name] = metrics

    write_configs(args, runs)
    stop = threading.Event()
    watcher = threading.Thread(
        target=_report_progress, args=(args, runs, stop), daemon=True)
    watcher.start()
    failed = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(one, run): run for run in runs}
            for future in as_completed(futures):
                error = future.exception()
                if error is not None:
                    failed.append(futures[future].name)
                    log(f'{futures[future].name} FAILED: {error}')
    finally:
        stop.set()
    if failed:
        raise SystemExit(f'{len(failed)} of {len(runs)} runs failed '
                         f'({", ".join(failed)}); rerun the same command to '
                         'retry them (finished steps are kept)')
    return results


_ITER = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\].*?eta: (\S+)')


def _report_progress(args: argparse.Namespace, runs: List[Run],
                     stop: threading.Event, every: float = 60.0) -> None:
    """Every minute, the iteration each running training has reached."""
    while not stop.wait(every):
        states = []
        for run in runs:
            log_file = args.work_dir / run.name / 'train.log'
            if checkpoint_of(args, run).is_file() or not log_file.is_file():
                continue
            found = _ITER.findall(log_file.read_text(errors='replace'))
            if found:
                it, total, eta = found[-1]
                states.append(f'{run.name} {it}/{total} (eta {eta})')
            else:
                states.append(f'{run.name} starting')
        if states:
            log('training: ' + ', '.join(states))
