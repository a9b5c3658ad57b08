"""Where the time goes (torch.profiler) and what it computes (FLOPs).

The profile reports the ``torch.profiler.record_function`` ranges that
the TSAL estimator opens at its named steps (labels starting with
``teacher.``, ``student.`` or ``tsal.``), the benchmark's own ``bench/``
ranges (backward pass, optimizer step, Eq. 8 teacher update) and, for
both models, ``module/NAME`` totals of the calls of their main modules.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List

import torch

from .steps import make_predict

__all__ = [
    'LABEL_PREFIXES', 'profiled_modules', 'module_ranges', 'label_times',
    'profile_call', 'flop_analysis'
]

#: the profiler ranges reported: the estimator's steps, the benchmark's
#: own and the module totals of :func:`module_ranges`
LABEL_PREFIXES = ('teacher.', 'student.', 'tsal.', 'bench/', 'module/')


def profiled_modules(model: torch.nn.Module) -> Dict[str, torch.nn.Module]:
    """The modules totalled by :func:`module_ranges`, by qualified name:
    the model's children, the children of each network among them (a
    child with a backbone) and every loss module."""
    picked = {}
    for name, child in model.named_children():
        picked[name] = child
        if isinstance(getattr(child, 'backbone', None), torch.nn.Module):
            for sub, grandchild in child.named_children():
                picked[f'{name}.{sub}'] = grandchild
    for name, module in model.named_modules():
        if name and 'loss' in name.rsplit('.', 1)[-1]:
            picked[name] = module
    return picked


@contextlib.contextmanager
def module_ranges(model: torch.nn.Module) -> Iterator[List[str]]:
    """A profiler range ``module/NAME`` around every call of the modules of
    :func:`profiled_modules` while active.

    Forward hooks open and close the ranges, so calls of ``forward()``
    itself (which bypass hooks) are not counted: the estimator's own
    ranges cover those.

    Yields:
        list[str]: The labels.
    """
    handles, labels = [], []
    for name, module in profiled_modules(model).items():
        label, opened = f'module/{name}', []

        def enter(mod, args, label=label, opened=opened) -> None:
            opened.append(torch.profiler.record_function(label).__enter__())

        def leave(mod, args, output, opened=opened) -> None:
            opened.pop().__exit__(None, None, None)

        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave, always_call=True))
        labels.append(label)
    try:
        yield labels
    finally:
        for handle in handles:
            handle.remove()


def label_times(averages: Iterable[Any], prefixes: Iterable[str],
                calls: int) -> Dict[str, Dict[str, float]]:
    """Per-call times of the labelled ranges in a profiler's averages.

    On a GPU the profiler reports every ``record_function`` range twice:
    once on the host (its CPU time, the Python and launch work) and once
    as a GPU annotation (the span of its kernels on the GPU timeline),
    as two entries of ``key_averages()`` with the same key.

    Args:
        averages (Iterable): ``prof.key_averages()`` entries (``key``,
            ``device_type``, ``count``, ``cpu_time_total`` and
            ``device_time_total`` in microseconds).
        prefixes (Iterable[str]): The labels to report are those starting
            with one of these.
        calls (int): Profiled calls, the divisor.

    Returns:
        dict: label -> ``ms`` (host time, inclusive) and ``calls`` per
        call, plus ``gpu_ms`` (GPU span per call) where the range ran
        kernels on a GPU.
    """
    from torch.autograd import DeviceType
    prefixes = tuple(prefixes)
    out: Dict[str, Dict[str, float]] = {}
    for event in averages:
        if not event.key.startswith(prefixes):
            continue
        entry = out.setdefault(event.key, dict(ms=0.0, calls=0.0))
        if event.device_type == DeviceType.CPU:
            entry['ms'] = event.cpu_time_total / 1e3 / calls
            entry['calls'] = event.count / calls
        else:
            entry['gpu_ms'] = event.device_time_total / 1e3 / calls
    return out


def profile_call(model: torch.nn.Module, fn: Callable[[], Any],
                 device: torch.device, rows: int,
                 calls: int = 3) -> Dict[str, Any]:
    """Profile ``calls`` calls of ``fn``.

    Args:
        model (nn.Module): The model that ``fn`` runs (its module totals).
        fn (Callable): A training step or a prediction.
        device (torch.device): Adds CUDA activity on GPUs.
        rows (int): Operators listed in ``table``.
        calls (int): Profiled calls (averaged).

    Returns:
        dict: ``ms_per_call`` (wall, profiler on), ``calls``, ``labels``
        (the ranges of :data:`LABEL_PREFIXES`, see :func:`label_times`)
        and ``table`` (the top operators by self time, totals over all
        calls, as text).
    """
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    fn()  # warm
    with module_ranges(model):
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            for _ in range(calls):
                fn()
        total = time.perf_counter() - start
    averages = prof.key_averages()
    sort_by = 'self_cuda_time_total' if device.type == 'cuda' \
        else 'self_cpu_time_total'
    return dict(
        ms_per_call=total * 1e3 / calls,
        calls=calls,
        labels=label_times(averages, LABEL_PREFIXES, calls),
        table=averages.table(sort_by=sort_by, row_limit=rows))


def _flop_counts(fn: Callable[[], Any], no_grad: bool) -> Dict[str, float]:
    """FLOPs (convolutions, matmuls) of one call of ``fn`` per module path
    (root class name stripped; ``''`` is the whole call)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False, depth=8)
    grad = torch.no_grad() if no_grad else contextlib.nullcontext()
    with grad, counter:
        fn()
    flops: Dict[str, float] = {}
    for name, ops in counter.get_flop_counts().items():
        if name == 'Global':
            flops[''] = float(sum(ops.values()))
        elif '.' in name:
            flops[name.split('.', 1)[1]] = float(sum(ops.values()))
    return flops


def _module_rows(flops: Dict[str, float]) -> Dict[str, float]:
    """The parts worth comparing: backbone, neck, each head branch and the
    motion field, of every network."""
    rows = {}
    for name, value in flops.items():
        parts = name.split('.')
        if parts[0] in ('teacher', 'student'):
            parts = parts[1:]
        if (len(parts) == 1 and parts[0] in ('backbone', 'neck',
                                             'motion_field')) or \
                (len(parts) == 2 and parts[0] == 'head'):
            rows[name] = value
    return rows


def flop_analysis(models: Dict[str, torch.nn.Module],
                  steps: Dict[str, Callable[[], Any]],
                  batches: Dict[str, dict],
                  device: torch.device) -> Dict[str, Any]:
    """Machine-independent cost: FLOPs of a training step and of inference.

    Training-step totals include the backward pass; the per-module split is
    taken from a forward pass of the loss under ``no_grad`` (module
    attribution of backward FLOPs is unreliable).

    Returns:
        dict: per model ``train_step_gflops``, ``loss_forward_gflops`` (by
        module), ``inference_gflops``; ``ratios`` of TSAL over plain.
    """
    out: Dict[str, Any] = {}
    for kind, model in models.items():

        def loss_forward(model=model, kind=kind):
            model.train()
            data = model.data_preprocessor(batches[kind], True)
            model(**data, mode='loss')

        step = _flop_counts(steps[kind], no_grad=False)
        fwd = _flop_counts(loss_forward, no_grad=True)
        infer = _flop_counts(make_predict(model, batches[kind], device),
                             no_grad=True)
        out[kind] = dict(
            train_step_gflops=step.get('', 0.0) / 1e9,
            loss_forward_gflops=fwd.get('', 0.0) / 1e9,
            loss_forward_by_module_gflops={
                k: v / 1e9
                for k, v in _module_rows(fwd).items()
            },
            inference_gflops=infer.get('', 0.0) / 1e9)
    out['ratios'] = {
        key: out['tsal'][key] / out['plain'][key]
        for key in ('train_step_gflops', 'loss_forward_gflops',
                    'inference_gflops') if out['plain'][key] > 0
    }
    return out
