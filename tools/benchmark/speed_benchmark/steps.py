"""The timed callables: a training step, a prediction, the fast path."""
from __future__ import annotations

import contextlib
import copy
import itertools
import time
from types import SimpleNamespace
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIMIZERS

from .models import (BenchOptimWrapper, build_teacher_hook, float32,
                     plain_dict)
from .timing import sync

__all__ = [
    'unsup_hold_iter', 'make_train_step', 'make_predict', 'FusedForward',
    'make_fast_network', 'agreement', 'keypoints', 'fit_to_batch'
]


def unsup_hold_iter(cfg: Config) -> int:
    """An iteration inside w(t)'s hold phase (all losses at full weight)."""
    weight = plain_dict(cfg.model.get('unsup_weight', None)) or {}
    return int(weight.get('ramp_up', 0))


def make_train_step(model: torch.nn.Module, batch: dict,
                    wrapper: OptimWrapper, device: torch.device,
                    hook: Optional[Any] = None,
                    hold_iter: int = 0) -> Callable[[], None]:
    """A callable running one real ``train_step`` (and the Eq. 8 update).

    Args:
        model (nn.Module): The model (train mode is set).
        batch (dict): Its collated batch.
        wrapper (OptimWrapper): Its optimizer wrapper.
        device (torch.device): For synchronisation.
        hook (QueueTeacherHook, optional): Called after each step as the
            runner would (``after_train_iter`` on a minimal runner). Its
            queue is filled here with snapshots of the untrained student,
            so that every step measures the update of a long run: until
            the queue holds v snapshots, an update clones every queued
            tensor instead of reusing the oldest snapshot's storage.
        hold_iter (int): The iteration read by w(t) (held constant).

    Returns:
        Callable[[], None]: One training iteration.
    """
    if hook is not None:
        networks = hook.networks(model)
        while len(hook.queue) < hook.queue_size:
            hook.update(*networks)
    counter = itertools.count()
    hub = MessageHub.get_current_instance()

    def step() -> None:
        model.train()
        it = next(counter)
        hub.update_info('iter', hold_iter)
        model.train_step(batch, wrapper)
        if hook is not None:
            with torch.profiler.record_function('bench/queue_teacher_update'):
                hook.after_train_iter(
                    SimpleNamespace(model=model, iter=it), batch_idx=it)
        sync(device)

    return step


def make_predict(model: torch.nn.Module, batch: dict, device: torch.device,
                 network: Optional[torch.nn.Module] = None
                 ) -> Callable[[], list]:
    """A callable: preprocess + predict (decoding included), no grad.

    Args:
        model (nn.Module): The estimator (its data preprocessor is used).
        batch (dict): Its collated batch.
        device (torch.device): For synchronisation.
        network (nn.Module, optional): Run this network's ``predict``
            instead of the estimator's (a fast-path copy).

    Returns:
        Callable[[], list]: Returns the predicted data samples.
    """

    def run() -> list:
        model.eval()
        if network is not None:
            network.eval()
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
            if network is None:
                out = model(**data, mode='predict')
            else:
                out = network.predict(data['inputs'], data['data_samples'])
        sync(device)
        return out

    return run


class FusedForward(torch.nn.Module):
    """Backbone + neck + head forward of a top-down network as one module.

    The unit that the fast path compiles: channels-last input, autocast,
    outputs cast back to float32 for the (numpy) decoders.

    Args:
        network (nn.Module): A ``TopdownPoseEstimator`` (or TSALNetwork).
        amp_dtype (torch.dtype, optional): Autocast dtype.
        channels_last (bool): Convert the input to channels-last.
    """

    def __init__(self, network: torch.nn.Module,
                 amp_dtype: Optional[torch.dtype],
                 channels_last: bool) -> None:
        super().__init__()
        self.network = network
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last

    def forward(self, inputs: torch.Tensor) -> Any:
        """Head outputs of ``inputs`` [M, 3, H, W], in float32."""
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        net = self.network
        autocast = contextlib.nullcontext() if self.amp_dtype is None else \
            torch.autocast(device_type=inputs.device.type,
                           dtype=self.amp_dtype)
        with autocast:
            # the class methods: the instance ones are redirected here
            feats = type(net).extract_feat(net, inputs)
            outputs = type(net.head).forward(net.head, feats)
        return float32(outputs)


def make_fast_network(network: torch.nn.Module,
                      amp_dtype: Optional[torch.dtype], channels_last: bool,
                      compile_mode: Optional[str]) -> torch.nn.Module:
    """A copy of ``network`` whose ``predict`` runs a :class:`FusedForward`.

    The copy keeps mmpose's ``predict`` (decoding, mapping to the image):
    its ``extract_feat`` hands the images through and its head's
    ``forward`` calls the fused, optionally compiled, module.

    Args:
        network (nn.Module): A top-down network (not modified).
        amp_dtype (torch.dtype, optional): Autocast dtype.
        channels_last (bool): Channels-last weights and inputs.
        compile_mode (str, optional): ``torch.compile`` mode; ``None``:
            eager.

    Returns:
        nn.Module: The fast network (eval mode).
    """
    fast = copy.deepcopy(network).eval()
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    fused = FusedForward(fast, amp_dtype, channels_last)
    run = torch.compile(fused, mode=compile_mode) if compile_mode else fused
    fast.extract_feat = lambda inputs: (inputs, )
    fast.head.forward = lambda feats: run(feats[-1])
    fast._bench_fused = [run]  # keep a reference (not a submodule)
    return fast


def agreement(diff: np.ndarray) -> Dict[str, float]:
    """How closely a fast path's landmarks follow the eager float32 ones.

    Args:
        diff (np.ndarray): Absolute coordinate differences ``[M, N, 2]``
            (px) of M faces with N landmarks.

    Returns:
        dict: ``max_abs_diff_px``, ``median_abs_diff_px`` (over all
        coordinates) and ``within_0_1px``, the share of landmarks with
        both coordinates within 0.1 px.
    """
    return dict(
        max_abs_diff_px=float(diff.max()),
        median_abs_diff_px=float(np.median(diff)),
        within_0_1px=float((diff.max(axis=-1) <= 0.1).mean()))


def keypoints(samples: list) -> np.ndarray:
    """Predicted keypoints of data samples, ``[M, N, 2]`` (image px)."""
    return np.concatenate([
        np.asarray(s.pred_instances.keypoints, np.float64) for s in samples
    ])


def fit_to_batch(cfg: Config, models: Dict[str, torch.nn.Module],
                 batches: Dict[str, dict], device: torch.device, steps: int,
                 hold_iter: int, fit_lr: float = 1e-3) -> Dict[str, float]:
    """Train each model ``steps`` float32 steps on its benchmark batch.

    Random weights give nearly flat heatmaps whose maxima any rounding
    moves; after fitting the batch, the maxima are clear, so comparing
    fast and eager predictions on that batch measures numerical agreement.

    Args:
        cfg (Config): The TSAL config (its teacher hook).
        models (dict): ``tsal`` and ``plain`` models, trained in place.
        batches (dict): Their batches (:func:`make_batches`).
        device (torch.device): The device.
        steps (int): Training steps per model.
        hold_iter (int): The iteration read by w(t).
        fit_lr (float): Adam's learning rate. Defaults to 1e-3.

    Returns:
        dict: Seconds spent per model.
    """
    spent = {}
    for kind, model in models.items():
        optimizer = OPTIMIZERS.build(
            dict(type='Adam', lr=fit_lr, params=model.parameters()))
        step = make_train_step(
            model, batches[kind],
            BenchOptimWrapper(optimizer, None, device.type), device,
            build_teacher_hook(cfg) if kind == 'tsal' else None, hold_iter)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        spent[kind] = time.perf_counter() - start
    return spent
