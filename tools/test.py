"""Evaluate a checkpoint on the config's test set.

Writes the metrics to ``<work_dir>/metrics.json`` (or ``--out``); metrics
that save curves (the CED plot of ``FaceLandmarkMetric``) write them to the
work dir as well. For a TSAL model, ``--predict-on student`` evaluates the
student instead of the teacher.

Example::

    python tools/test.py configs/tsal_hrnet_300vw.py work_dirs/x/iter_100.pth
"""
import argparse
import inspect
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpose.registry import MODELS

from tsal_mmpose.utils import (allow_mmengine_checkpoints,
                               prepare_cpu_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a pose model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save metrics and plots')
    parser.add_argument(
        '--out', help='metrics JSON file (default: <work_dir>/metrics.json)')
    parser.add_argument(
        '--predict-on',
        choices=['teacher', 'student'],
        help='TSAL models: which network predicts (default: the config\'s, '
        'teacher)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=4')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


class _SaveMetrics(Hook):
    """Dump the test metrics as JSON after the test epoch."""

    def __init__(self, path: str) -> None:
        self.path = path

    def after_test_epoch(self, runner, metrics=None) -> None:
        if metrics is None:
            return
        os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
        with open(self.path, 'w') as f:
            json.dump({k: float(v) if hasattr(v, '__float__') else v
                       for k, v in metrics.items()}, f, indent=2)
        runner.logger.info(f'metrics written to {self.path}')


def main() -> None:
    args = parse_args()
    allow_mmengine_checkpoints()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'no checkpoint {args.checkpoint}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.predict_on is not None:
        model_cls = MODELS.get(cfg.model.type)
        if model_cls is None or 'predict_on' not in inspect.signature(
                model_cls).parameters:
            raise ValueError(f'--predict-on: model {cfg.model.type} has no '
                             'teacher/student choice')
        cfg.model.predict_on = args.predict_on
    for evaluator in ('test_evaluator', 'val_evaluator'):
        metrics = cfg.get(evaluator)
        for metric in metrics if isinstance(metrics, list) else [metrics]:
            # curves and per-image errors go to <work_dir>/test/
            if metric is not None and metric.get('type') == \
                    'FaceLandmarkMetric':
                metric.outfile_prefix = osp.join(cfg.work_dir, 'test', '')
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(
        _SaveMetrics(args.out or osp.join(cfg.work_dir, 'metrics.json')),
        'LOWEST')
    runner.test()


if __name__ == '__main__':
    main()
