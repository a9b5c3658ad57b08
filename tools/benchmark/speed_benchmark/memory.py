"""Peak memory of one model's training steps or predictions.

On CPU the peak resident set (``VmHWM`` of a forked process, reset via
``/proc/self/clear_refs``) above the resident set before the model is
built; on CUDA ``torch.cuda.max_memory_allocated``.
"""
from __future__ import annotations

import multiprocessing
import signal
from typing import Any, Dict, Optional

import torch
from mmengine.config import Config

from .models import (build_model, build_optim_wrapper, build_teacher_hook,
                     make_batches, plain_model_config, tsal_model_config)
from .steps import make_predict, make_train_step, unsup_hold_iter

__all__ = ['measure_memory', 'memory_job']


def _proc_status_kib(field: str) -> Optional[int]:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current resident set (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def memory_job(cfg: Config, kind: str, phase: str, num_clips: int,
               clip_len: int, device: torch.device,
               amp_dtype: Optional[torch.dtype], channels_last: bool,
               steps: int, seed: int) -> Dict[str, Any]:
    """Build one model, run ``steps`` training steps or predictions, and
    return its peak memory in bytes above the state before the build."""
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        reset = True
    else:
        reset = _reset_peak_rss()
        base = (_proc_status_kib('VmRSS') or 0) * 1024
    batch = make_batches(cfg, num_clips, clip_len, seed)[kind]
    config_of = tsal_model_config if kind == 'tsal' else plain_model_config
    model = build_model(config_of(cfg, amp_dtype is not None), device, seed)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if phase == 'train':
        wrapper = build_optim_wrapper(cfg, model, device, amp_dtype)
        fn = make_train_step(model, batch, wrapper, device,
                             build_teacher_hook(cfg) if kind == 'tsal'
                             else None, unsup_hold_iter(cfg))
    else:
        fn = make_predict(model, batch, device)
    for _ in range(steps):
        fn()
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) - base
        absolute = torch.cuda.max_memory_allocated(device)
    else:
        absolute = (_proc_status_kib('VmHWM') or 0) * 1024
        peak = absolute - base
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    del fn, model, batch
    if cuda:
        torch.cuda.empty_cache()
    return dict(peak_bytes=int(peak), absolute_peak_bytes=int(absolute),
                parameter_bytes=int(params), steps=steps,
                peak_reset=bool(reset))


def _memory_child(conn: Any, kwargs: dict, threads: int) -> None:
    try:
        torch.set_num_threads(threads)
        conn.send(memory_job(**kwargs))
    except BaseException as exc:  # report any failure to the parent
        conn.send(dict(error=f'{type(exc).__name__}: {exc}'))
    finally:
        conn.close()


def measure_memory(cfg: Config, kind: str, phase: str,
                   **kwargs: Any) -> Dict[str, Any]:
    """Peak memory of one model and phase (see :func:`memory_job`).

    On CPU the job runs in a forked process, so that its ``VmHWM`` (reset
    at the start) is its own; on CUDA it runs here with the allocator's
    peak statistics.

    Args:
        cfg (Config): The TSAL config.
        kind (str): ``'tsal'`` or ``'plain'``.
        phase (str): ``'train'`` or ``'infer'``.
        **kwargs: The other arguments of :func:`memory_job`.

    Returns:
        dict: ``peak_bytes`` and details.
    """
    job = dict(cfg=cfg, kind=kind, phase=phase, **kwargs)
    if job['device'].type == 'cuda':
        return memory_job(**job)
    ctx = multiprocessing.get_context('fork')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_memory_child, args=(child, job, torch.get_num_threads()))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:  # the process died without sending
        result = None
    proc.join()
    if result is None:
        hint = (' (SIGKILL: out of memory? try smaller --batch-sizes)'
                if proc.exitcode == -signal.SIGKILL else '')
        result = dict(
            error=f'memory process exited with {proc.exitcode}{hint}')
    if 'error' in result:
        raise RuntimeError(f'peak memory of {kind}/{phase}: '
                           f'{result["error"]}')
    return result
