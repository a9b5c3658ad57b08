"""The rows of the benchmark: methods, runs and their configs."""
from __future__ import annotations

import argparse
import ast
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    'ROOT', 'ABLATIONS', 'DEFAULT_CONFIG', 'MODES', 'SPLITS', 'SOURCES',
    'METHODS', 'METHOD_CONFIGS', 'DEFAULT_METHODS', 'MIXED_METHODS', 'log',
    'Run', 'parse_value', 'plan_runs', 'build_config', 'needs_image_set'
]

ROOT = Path(__file__).resolve().parents[3]
ABLATIONS = ROOT / 'configs' / 'ablations'
DEFAULT_CONFIG = ROOT / 'configs' / 'tsal_tiny_synthetic.py'
MODES = ('inter_ocular', 'inter_pupil')
SPLITS = ('all', 'easy', 'hard')
#: the head's other landmarks (FaceLandmarkMetric ``sources``): LHR, CLOR
SOURCES = ('lhr', 'clor')

#: name -> (variant files in configs/ablations, applied in order; label);
#: the order of the paper's Table 3, then the reference row.
METHODS = {
    'baseline': (('baseline.py', ), 'supervised-only baseline'),
    'single_sic': (('single_sic.py', ), 'single network + SIC'),
    'single_mfds': (('single_mfds.py', ), 'single network + MFDS'),
    'single_sic_mfds': (('single_sic_mfds.py', ),
                        'single network + SIC + MFDS'),
    'mean_teacher': (('mean_teacher.py', ),
                     'Mean Teacher (v=1, lambda=0.999)'),
    'ts': (('ts.py', ), 'teacher-student'),
    'ts_sic': (('ts_sic.py', ), 'teacher-student + SIC'),
    'ts_mfds': (('ts_mfds.py', ), 'teacher-student + MFDS'),
    'tsal': ((), 'TSAL (teacher-student + SIC + MFDS)'),
    'all_labelled': (('baseline.py', 'all_labelled.py'),
                     'reference: supervised, every frame labelled'),
    # mixed image and video training (the paper's 300W rows): labelled
    # stills of the training identities, alone or with the clips
    'images_supervised': (('baseline.py', ), 'images only, supervised'),
    'images_clips_supervised': (('baseline.py', ),
                                'images + clips, supervised only'),
    'images_clips_tsal': ((), 'images + clips, TSAL'),
    # the label-efficiency rows (docs/benchmarks/label_efficiency.md)
    'mmpose_heatmap': ((), 'plain mmpose: TopdownPoseEstimator + '
                       'HeatmapHead, labelled frames only'),
    'teacher_instructs': (('teacher_instructs.py', ),
                          'TSAL, student targets from the teacher'),
}
#: the rows trained from another config than ``--config`` (their own data)
METHOD_CONFIGS = {
    'images_supervised': ROOT / 'configs' / 'tsal_tiny_synthetic_images.py',
    'images_clips_supervised':
    ROOT / 'configs' / 'tsal_tiny_synthetic_mixed.py',
    'images_clips_tsal': ROOT / 'configs' / 'tsal_tiny_synthetic_mixed.py',
    'mmpose_heatmap': ROOT / 'configs' / 'mmpose_micro_synthetic.py',
}
#: the mixed training rows (evaluated on the held-out still images too)
MIXED_METHODS = ('images_supervised', 'images_clips_supervised',
                 'images_clips_tsal')
#: the network name of a row without a teacher / student choice (plain
#: mmpose), evaluated without ``--predict-on``
SINGLE_NETWORK = 'model'
#: the rows the issue's benchmark compares (``--methods`` default)
DEFAULT_METHODS = ('baseline', 'mean_teacher', 'ts', 'ts_sic', 'ts_mfds',
                   'tsal', 'all_labelled')
_T0 = time.monotonic()
_PRINT = threading.Lock()


def log(msg: str) -> None:
    """A progress line with the elapsed time."""
    with _PRINT:
        print(f'[accuracy {time.monotonic() - _T0:6.0f}s] {msg}', flush=True)


@dataclass
class Run:
    """One trained model of the benchmark.

    Attributes:
        name (str): Folder name under the work dir.
        label (str): Row label.
        variants (tuple[Path]): Ablation files applied to the base config,
            in order.
        overrides (dict): Further ``cfg-options`` (a sweep value).
        networks (list[str]): The networks to evaluate.
        sweep_value (Any): The swept value, if any.
        config (Path, optional): The run's base config, when not
            ``--config`` (:data:`METHOD_CONFIGS`).
    """
    name: str
    label: str
    variants: Tuple[Path, ...] = ()
    overrides: Dict[str, Any] = field(default_factory=dict)
    networks: List[str] = field(default_factory=list)
    sweep_value: Any = None
    config: Optional[Path] = None


def parse_value(text: str) -> Any:
    """A command-line value as a Python literal when it is one."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def plan_runs(args: argparse.Namespace) -> List[Run]:
    """The models to train: one per method, or one per sweep value."""
    if args.sweep:
        key, sep, values = args.sweep.partition('=')
        if not sep or not values:
            raise SystemExit('--sweep: expected KEY=V1,V2,..., got '
                             f'{args.sweep!r}')
        variants, label = METHODS[args.sweep_method]
        runs = []
        for text in values.split(','):
            value = parse_value(text)
            slug = re.sub(r'[^A-Za-z0-9.]+', '_', f'{args.sweep_method}_'
                          f'{key.split(".")[-1]}_{text}')
            runs.append(
                Run(name=slug, label=f'{label}, {key} = {text}',
                    variants=tuple(ABLATIONS / v for v in variants),
                    overrides={key: value}, sweep_value=value,
                    config=METHOD_CONFIGS.get(args.sweep_method)))
    else:
        runs = []
        for name in args.methods:
            variants, label = METHODS[name]
            runs.append(
                Run(name=name, label=label,
                    variants=tuple(ABLATIONS / v for v in variants),
                    config=METHOD_CONFIGS.get(name)))
    base_size = None
    for run in runs:
        cfg = build_config(args, run)
        model = cfg.model
        if model.type != 'TSALEstimator':
            run.networks = [SINGLE_NETWORK]
        else:
            run.networks = (['teacher', 'student'] if model.get(
                'two_networks', True) else ['teacher'])
        size = tuple(cfg.codec.input_size)
        if base_size is None:
            base_size = (size, run.config or args.config)
        elif size != base_size[0]:
            raise SystemExit(
                f'{run.config or args.config} (row {run.name}) has input '
                f'size {size}, {base_size[1]} has {base_size[0]}: rows of '
                'one benchmark must see the same input (a row with its own '
                'config, such as mmpose_heatmap, matches '
                'configs/tsal_micro_synthetic.py)')
    return runs


def build_config(args: argparse.Namespace, run: Run) -> Any:
    """The base config with the run's variants, data, length and overrides.

    The schedule keeps the base config's proportions at ``--iters``: the
    learning rate drops at 90/140 and 120/140 of the run and w(t) ramps up
    to 60/140, holds to 110/140 and ramps down to the end. A mixed training
    row starts from its own config (:data:`METHOD_CONFIGS`) instead of
    ``--config``.
    """
    from mmengine.config import Config

    from tsal_mmpose.utils import apply_variant
    cfg = Config.fromfile(str(run.config or args.config))
    stride = getattr(args, 'label_stride', None)
    if stride is not None:  # before the variants: all_labelled sets 1
        for source in _train_sources(cfg):
            if 'label_stride' in source:
                source.label_stride = stride
    for variant in run.variants:
        apply_variant(cfg, variant)
    root = f'{args.data_root}/'
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        # a CombinedClipDataset reads each source from the same root
        for source in dataset.get('datasets', [dataset]):
            source.data_root = root
    iters = args.iters
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler[0].update(
        end=iters, milestones=[iters * 90 // 140, iters * 120 // 140])
    points = getattr(args, 'curve_points', 0)
    cfg.default_hooks.checkpoint.interval = max(1, iters // (points or 4))
    if points:  # every checkpoint is a point of the learning curve
        cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    if 'unsup_weight' in cfg.model:
        cfg.model.unsup_weight.update(
            ramp_up=iters * 60 // 140, hold=iters * 110 // 140, total=iters)
    cfg.randomness = dict(seed=args.seed)
    overrides = dict(args.cfg_options or {}, **run.overrides)
    if overrides:
        cfg.merge_from_dict(overrides)
    return cfg


def _train_sources(cfg: Any) -> List[Any]:
    """The training datasets (the sources of a combined dataset)."""
    dataset = cfg.train_dataloader.dataset
    return list(dataset.get('datasets', [dataset]))


def needs_image_set(runs: List[Run]) -> bool:
    """Whether a run trains on the still image set (then every run is also
    evaluated on the held-out stills)."""
    return any(run.name in MIXED_METHODS for run in runs)
