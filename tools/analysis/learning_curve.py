#!/usr/bin/env python3
"""Test metrics of every checkpoint of a run: its learning curve.

Builds the config's test loop once and evaluates each checkpoint with each
network asked for (a TSAL model's ``teacher`` and ``student``; ``model``
for a model without that choice), in iteration order. Writes one JSON
record per checkpoint and network::

    [{"iter": 300, "network": "teacher", "metrics": {"NME_inter_ocular":
      ...}}, ...]

Example::

    python tools/analysis/learning_curve.py \\
        work_dirs/benchmark_accuracy/configs/tsal.py \\
        work_dirs/benchmark_accuracy/tsal/iter_*.pth \\
        --networks teacher student --out work_dirs/curve.json
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: the network name of a model without a teacher / student choice
SINGLE = 'model'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', type=Path, help='the run\'s config')
    parser.add_argument('checkpoints', nargs='+', type=Path,
                        help='checkpoints named iter_<N>.pth')
    parser.add_argument('--networks', nargs='+', default=[SINGLE],
                        help='teacher, student (TSAL) or model (default)')
    parser.add_argument('--out', type=Path, required=True,
                        help='the JSON file to write')
    return parser.parse_args(argv)


def iteration_of(path: Path) -> int:
    """The iteration in a checkpoint's name ``iter_<N>.pth``.

    Raises:
        ValueError: naming the file, when its name has no iteration.
    """
    found = re.fullmatch(r'iter_(\d+)\.pth', path.name)
    if found is None:
        raise ValueError(f'{path}: expected a checkpoint named '
                         'iter_<N>.pth')
    return int(found.group(1))


def learning_curve(config: Path, checkpoints: Sequence[Path],
                   networks: Sequence[str]) -> List[Dict]:
    """Evaluate every checkpoint with every network on the test set.

    Args:
        config (Path): The run's config (its test loader and evaluator).
        checkpoints (Sequence[Path]): ``iter_<N>.pth`` files of the run.
        networks (Sequence[str]): ``'teacher'`` / ``'student'`` for a model
            with a ``predict_on`` choice, else ``['model']``.

    Returns:
        list[dict]: ``{'iter', 'network', 'metrics'}`` per checkpoint and
        network, by iteration.
    """
    from mmengine.config import Config
    from mmengine.runner import Runner

    import tsal_mmpose  # noqa: F401  (registers the components)
    from tsal_mmpose.utils import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()
    missing = [str(c) for c in checkpoints if not c.is_file()]
    if missing:
        raise FileNotFoundError(f'no checkpoint {", ".join(missing)}')
    ordered = sorted(checkpoints, key=iteration_of)
    cfg = Config.fromfile(str(config))
    records = []
    with tempfile.TemporaryDirectory() as work_dir:
        cfg.work_dir = work_dir
        cfg.load_from = None
        runner = Runner.from_cfg(cfg)
        model = runner.model
        for net in networks:
            if net != SINGLE and not hasattr(model, 'predict_on'):
                raise ValueError(f'--networks {net}: {cfg.model.type} has '
                                 f'no teacher/student choice; use {SINGLE}')
        runner.call_hook('before_run')  # as Runner.test(), once
        for ckpt in ordered:
            runner.load_checkpoint(str(ckpt), map_location='cpu')
            for net in networks:
                if net != SINGLE:
                    model.predict_on = net
                metrics = runner.test_loop.run()
                records.append(
                    dict(iter=iteration_of(ckpt), network=net,
                         metrics={k: float(v) for k, v in metrics.items()}))
                runner.logger.info(f'{ckpt.name} ({net}): NME io '
                                   f'{metrics["NME_inter_ocular"]:.3f}')
        runner.call_hook('after_run')
    return records


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    records = learning_curve(args.config, args.checkpoints, args.networks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1))


if __name__ == '__main__':
    main()
