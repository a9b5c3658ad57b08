"""Timing: interleaved measurements and their min / median / max."""
from __future__ import annotations

import math
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ['summarize', 'ratios', 'sync', 'interleaved_timings', 'progress']

_T0 = time.monotonic()


def summarize(values: Sequence[float]) -> Dict[str, Any]:
    """min / median / max / mean of a list of positive measurements.

    Args:
        values (Sequence[float]): The measurements.

    Returns:
        dict: ``min``, ``median``, ``max``, ``mean``, ``n`` and ``values``.
    """
    values = [float(v) for v in values]
    if not values:
        return dict(min=math.nan, median=math.nan, max=math.nan,
                    mean=math.nan, n=0, values=[])
    return dict(
        min=min(values),
        median=statistics.median(values),
        max=max(values),
        mean=statistics.fmean(values),
        n=len(values),
        values=values)


def ratios(num: Sequence[float], den: Sequence[float]) -> Dict[str, Any]:
    """Summary of the paired ratios ``num[i] / den[i]``."""
    return summarize([a / b for a, b in zip(num, den)])


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timing boundaries)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def progress(what: str) -> None:
    """A progress line on stderr, with the seconds since the start."""
    print(f'[speed {time.monotonic() - _T0:6.0f}s] {what}', file=sys.stderr,
          flush=True)


def interleaved_timings(fns: Dict[str, Callable[[], Any]], warmup: int,
                        repeats: int, iters: int = 1,
                        log: Optional[Callable[[str], None]] = None
                        ) -> Tuple[Dict[str, List[float]],
                                   Dict[str, List[float]],
                                   Dict[str, List[float]]]:
    """Time callables in turn (A B A B ...), seconds per call.

    Interleaving makes machine noise hit every callable alike.

    Args:
        fns (dict): Name -> callable (synchronising at its end).
        warmup (int): Untimed rounds first.
        repeats (int): Timed rounds.
        iters (int): Calls per timed measurement (their mean is recorded).
        log (Callable, optional): Called with a line after the warm-up and
            after each timed round (progress of long measurements).

    Returns:
        tuple: Three dicts name -> ``repeats`` seconds per call: wall-clock
        time, CPU time of this process (all its threads; on a shared
        machine it does not count time spent descheduled) and the system
        (kernel) part of that CPU time.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    if log is not None and warmup:
        log(f'warm-up done ({warmup} round(s) of {", ".join(fns)})')
    wall: Dict[str, List[float]] = {name: [] for name in fns}
    cpu: Dict[str, List[float]] = {name: [] for name in fns}
    system: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            start_sys = os.times().system
            for _ in range(iters):
                fn()
            cpu[name].append((time.process_time() - start_cpu) / iters)
            system[name].append((os.times().system - start_sys) / iters)
            wall[name].append((time.perf_counter() - start) / iters)
        if log is not None:
            log(f'round {len(wall[name])}/{repeats}: ' + ', '.join(
                f'{n} {w[-1]:.3g} s' for n, w in wall.items()))
    return wall, cpu, system
