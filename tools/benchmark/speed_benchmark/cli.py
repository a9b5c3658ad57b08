"""The command line of ``tools/benchmark/speed.py``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .report import format_tables
from .run import run_benchmark

__all__ = ['DEFAULT_CONFIG', 'parse_args', 'main']

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO / 'configs' / 'tsal_tiny_synthetic.py'
DESCRIPTION = ('Speed of TSAL against a plain mmpose top-down model, in one '
               'run.')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (see tools/benchmark/speed.py)."""
    parser = argparse.ArgumentParser(
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=str(DEFAULT_CONFIG),
                        help='TSAL config (default: the tiny CPU config)')
    parser.add_argument('--device', default='cpu',
                        help='cpu, cuda or cuda:N (default cpu)')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=None,
                        help='clips per training batch B; inference runs on '
                        'the B*K frames (default: the config\'s batch)')
    parser.add_argument('--clip-len', type=int, default=None,
                        help='frames per clip K (default: the config\'s)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed measurements before timing')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed measurements of each quantity')
    parser.add_argument('--iters', type=int, default=1,
                        help='calls averaged in one timed measurement')
    parser.add_argument('--amp', choices=('none', 'bf16'), default='none',
                        help='bfloat16 autocast (training and fast path)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last memory format (training and '
                        'fast path)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the fast inference path')
    parser.add_argument('--compile-mode', default='default',
                        help='torch.compile mode; reduce-overhead uses CUDA '
                        'graphs (default: default)')
    parser.add_argument('--checkpoint', default=None,
                        help='TSAL weights for the inference section (the '
                        'plain model takes the teacher\'s backbone and '
                        'neck); default: random initialisation')
    parser.add_argument('--fit-steps', type=int, default=0,
                        help='first train each model this many steps on '
                        'the benchmark batch (float32), so that its '
                        'heatmaps have clear maxima and the fast path\'s '
                        'agreement with eager float32 is meaningful '
                        '(default 0: the initial or --checkpoint weights)')
    parser.add_argument('--fit-clips', type=int, default=None,
                        help='fit on the first N clips only (they are the '
                        'first N clips at every batch size, so a small fit '
                        'batch serves large timed ones); the agreement is '
                        'then also reported over their frames (default: '
                        'the first batch size)')
    parser.add_argument('--data-root', default=None,
                        help='converted 300VW-layout dataset for the data '
                        'pipeline (default: a synthetic one in a temp dir)')
    parser.add_argument('--synthetic-frames', type=int, default=40,
                        help='frames per generated video (default 40)')
    parser.add_argument('--synthetic-videos', type=int, default=2,
                        help='generated training videos (default 2)')
    parser.add_argument('--num-workers', type=int, default=None,
                        help='dataloader workers (default: the config\'s)')
    parser.add_argument('--loader-batches', type=int, default=4,
                        help='batches per timed data-pipeline measurement')
    parser.add_argument('--memory-steps', type=int, default=2,
                        help='training steps of the memory measurement '
                        '(the teacher queue is full from the first)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--retain-freed-memory', action='store_true',
                        help='glibc keeps freed memory for reuse instead of '
                        'unmapping it (both models; tsal_mmpose.utils.'
                        'retain_freed_memory)')
    parser.add_argument('--skip', nargs='+', default=[],
                        choices=('train', 'inference', 'loader', 'memory'),
                        help='sections to leave out')
    parser.add_argument('--profile', action='store_true',
                        help='also profile training steps and inference of '
                        'each model (torch.profiler: the estimator\'s named '
                        'steps and module totals) and count their FLOPs')
    parser.add_argument('--profile-rows', type=int, default=15,
                        help='operators listed per profile')
    parser.add_argument('--profile-calls', type=int, default=3,
                        help='profiled calls per profile (averaged)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None, help='JSON output file')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the benchmark, print the tables, write ``--out``.

    Args:
        argv (Sequence[str], optional): Arguments (default ``sys.argv``).

    Returns:
        dict: All numbers: ``settings``, ``per_batch_size`` (per B:
        ``train``, ``inference``, ``loader``, ``memory``), ``ratios`` (the
        headline min/median/max of ``RATIO_KEYS`` at the first batch
        size) and, with ``--profile``, ``flops`` and ``profile``.
    """
    args = parse_args(argv)
    results = run_benchmark(args)
    print(format_tables(results))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f'\nwrote {out}')
    return results
