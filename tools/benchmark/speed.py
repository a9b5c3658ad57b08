#!/usr/bin/env python3
"""Speed of TSAL against a plain mmpose top-down model, in one run.

Both models are built from the same config: TSAL from its ``model``, the
plain model as an mmpose ``TopdownPoseEstimator`` with the same backbone,
neck and input size and a ``HeatmapHead`` (MSRAHeatmap codec, the TSAL
head's trunk) trained with ``KeypointMSELoss`` on every frame. Measured on
the same machine, with the same frames, and interleaved (A B A B ...) so
that machine noise hits both alike:

1. **training step** of TSAL (both networks, motion fields, all losses,
   Adam step, Eq. 8 teacher update of ``QueueTeacherHook``) on ``B`` clips
   of ``K`` frames over a plain training step on the same ``B*K`` frames;
2. **inference latency** of the teacher (``TSALEstimator.predict``,
   decoding included, flip test off, eval mode, no grad) over the plain
   model's on the same ``B*K`` frames;
3. **clip data pipeline throughput** (frames/s delivered by the config's
   training dataloader, augmentation included) over the TSAL training
   consumption (``B*K`` frames / training step time);
4. **peak memory** of a TSAL training step over a plain one: peak resident
   set (``VmHWM`` of a forked process, reset via ``/proc/self/clear_refs``)
   over the resident set before the model is built on CPU,
   ``torch.cuda.max_memory_allocated`` on CUDA. Inference peaks are
   reported too.

Step and latency batches are synthetic (random textures moving across the
frames, a parametric 68-point face, targets encoded by the codecs), so they
do not depend on the data loader. The data pipeline runs on a converted
300VW-layout dataset: ``--data-root``, or else a small synthetic benchmark
generated into a temporary folder (tools/make_synthetic_300vw.py).

With ``--amp bf16``, ``--channels-last`` or ``--compile`` the inference
section also times a "fast path" of both models (channels-last memory,
bfloat16 autocast, ``torch.compile`` of backbone + neck + head; compile
mode ``reduce-overhead`` uses CUDA graphs) against the eager float32 path
(faces/s and max |difference| of the predictions in pixels); ``--amp`` and
``--channels-last`` also apply to both training steps.

Every ratio is given as min / median / max over ``--repeats`` paired
measurements after ``--warmup`` untimed ones; on CPUs the CPU time of the
training steps is reported beside the wall time (it does not count time
spent descheduled on a shared machine, where ``--threads 1`` also avoids
the collapse of multi-threaded kernels under oversubscription), and so is
its system part, mostly the kernel's page faults when glibc maps freed
activations anew at every step (``--retain-freed-memory`` keeps them in
the process, as ``tools/train.py --retain-freed-memory`` does). With
``--profile``, torch.profiler runs are labelled per module and per TSAL
function, and the FLOPs of both models are counted per module (a
machine-independent account of the ratios). Progress goes to stderr:
a line after the warm-up and after each timed round, and one per section
(the numbers so far are then in ``--out``). The results are printed as
markdown tables and written as JSON (``--out``).

Examples::

    # CPU, the tiny config (synthetic data generated on the fly)
    python tools/benchmark/speed.py --threads 1 --repeats 5 \\
        --out speed_cpu.json
    # GPU, HRNetV2-W18 at 256x256, a batch-size sweep and the fast path
    python tools/benchmark/speed.py --config configs/tsal_hrnet_300vw.py \\
        --device cuda --batch-sizes 1 4 8 16 --amp bf16 --channels-last \\
        --compile --out speed_h200.json
    # where the time goes (torch.profiler, per module and function)
    python tools/benchmark/speed.py --repeats 1 --profile
    # CPU, the paper's config, glibc keeping freed memory
    python tools/benchmark/speed.py --config configs/tsal_hrnet_300vw.py \\
        --batch-sizes 1 --threads 2 --retain-freed-memory
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import importlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import (Any, Callable, Dict, Iterable, Iterator, List,
                    Optional, Sequence, Tuple)

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIMIZERS, DefaultScope

__all__ = [
    'RATIO_KEYS', 'parse_args', 'main', 'run_benchmark', 'build_models',
    'plain_model_config', 'frame_batch', 'BenchOptimWrapper',
    'FusedForward', 'load_weights',
    'make_fast_network', 'measure_loader', 'measure_memory', 'profile_call',
    'summarize', 'interleaved_timings', 'format_tables', 'label_times',
    'bf16_safe_to_numpy', 'flop_analysis', 'agreement'
]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / 'configs' / 'tsal_tiny_synthetic.py'
#: The four headline ratios (TSAL over plain, or supply over demand).
RATIO_KEYS = ('train_step', 'inference', 'loader_over_consumption',
              'peak_memory_train')
MIB = 2.0**20
_T0 = time.monotonic()


# ----------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
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
                        'each model (torch.profiler, labelled by module) '
                        'and count their FLOPs')
    parser.add_argument('--profile-rows', type=int, default=15,
                        help='operators listed per profile')
    parser.add_argument('--profile-calls', type=int, default=3,
                        help='profiled calls per profile (averaged)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None, help='JSON output file')
    return parser.parse_args(argv)


# ----------------------------------------------------------------------
# small utilities
# ----------------------------------------------------------------------
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


def _ratios(num: Sequence[float], den: Sequence[float]) -> Dict[str, Any]:
    """Summary of the paired ratios ``num[i] / den[i]``."""
    return summarize([a / b for a, b in zip(num, den)])


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work (timing boundaries)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


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


def _amp_dtype(args: argparse.Namespace) -> Optional[torch.dtype]:
    return torch.bfloat16 if args.amp == 'bf16' else None


def _autocast(device: torch.device, dtype: Optional[torch.dtype]):
    """``torch.autocast`` for ``dtype``, or a null context without one."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def bf16_safe_to_numpy() -> Iterator[int]:
    """Let mmpose's ``to_numpy`` take bfloat16 tensors while active.

    numpy has no bfloat16, and the training losses of mmpose's heads
    (``HeatmapHead`` and ``TSALHead`` alike) hand the autocast heatmaps to
    ``to_numpy`` for their accuracy log; the patched function converts
    bfloat16 tensors to float32 first. Every loaded module holding
    mmpose's function under that name is patched, and restored on exit.

    Yields:
        int: The number of patched modules.
    """
    from mmpose.utils import tensor_utils
    original = tensor_utils.to_numpy

    def widen(x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16:
            return x.float()
        return x

    @functools.wraps(original)
    def safe(x: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, (list, tuple)):
            x = type(x)(widen(t) for t in x)
        return original(widen(x), *args, **kwargs)

    modules = [
        m for m in list(sys.modules.values())
        if getattr(m, '__dict__', {}).get('to_numpy') is original
    ]
    for module in modules:
        module.to_numpy = safe
    try:
        yield len(modules)
    finally:
        for module in modules:
            module.to_numpy = original


# ----------------------------------------------------------------------
# configs and models
# ----------------------------------------------------------------------
def load_config(path: str) -> Config:
    """Read a TSAL config and register the plugin's components."""
    import tsal_mmpose  # noqa: F401  (registers the TSAL components)
    return Config.fromfile(path)


def _plain(cfg_dict: Any) -> Any:
    """A ConfigDict (nested) as plain dicts/lists."""
    if hasattr(cfg_dict, 'to_dict'):
        return cfg_dict.to_dict()
    return copy.deepcopy(cfg_dict)


def tsal_model_config(cfg: Config) -> dict:
    """The config's ``model`` with flip test off."""
    model = _plain(cfg.model)
    model['test_cfg'] = dict(model.get('test_cfg') or {}, flip_test=False)
    return model


def plain_model_config(cfg: Config) -> dict:
    """A stock mmpose top-down model matching the TSAL network of ``cfg``.

    Same data preprocessor settings, backbone, neck and head trunk (deconv
    and conv layers) as one TSAL network, with mmpose's ``HeatmapHead``,
    ``KeypointMSELoss(use_target_weight=True)`` and an ``MSRAHeatmap`` codec
    with the TSAL codec's input size, heatmap size and sigma.

    Args:
        cfg (Config): A TSAL config.

    Returns:
        dict: The ``TopdownPoseEstimator`` config (flip test off).
    """
    model = _plain(cfg.model)
    head = model['head']
    prep = dict(model.get('data_preprocessor') or {})
    prep['type'] = 'PoseDataPreprocessor'
    return dict(
        type='TopdownPoseEstimator',
        data_preprocessor=prep,
        backbone=copy.deepcopy(model['backbone']),
        neck=copy.deepcopy(model.get('neck')),
        head=dict(
            type='HeatmapHead',
            in_channels=head['in_channels'],
            out_channels=head.get('out_channels', 68),
            deconv_out_channels=head.get('deconv_out_channels',
                                         (256, 256, 256)),
            deconv_kernel_sizes=head.get('deconv_kernel_sizes', (4, 4, 4)),
            conv_out_channels=head.get('conv_out_channels'),
            conv_kernel_sizes=head.get('conv_kernel_sizes'),
            loss=dict(type='KeypointMSELoss', use_target_weight=True),
            decoder=plain_codec_config(cfg)),
        test_cfg=dict(flip_test=False))


def tsal_codec_config(cfg: Config) -> dict:
    """The TSAL network's codec config (the head's decoder)."""
    return _plain(cfg.model.head.decoder)


def plain_codec_config(cfg: Config) -> dict:
    """``MSRAHeatmap`` with the TSAL codec's sizes and sigma."""
    codec = tsal_codec_config(cfg)
    return dict(
        type='MSRAHeatmap',
        input_size=tuple(codec['input_size']),
        heatmap_size=tuple(codec['heatmap_size']),
        sigma=codec.get('sigma', 2.0))


def _build_model(model_cfg: dict, device: torch.device,
                 seed: int) -> torch.nn.Module:
    from mmpose.registry import MODELS
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model.to(device)


def build_models(cfg: Config, device: torch.device,
                 seed: int = 0) -> Dict[str, torch.nn.Module]:
    """Build ``{'tsal': TSALEstimator, 'plain': TopdownPoseEstimator}``."""
    return dict(
        tsal=_build_model(tsal_model_config(cfg), device, seed),
        plain=_build_model(plain_model_config(cfg), device, seed))


def load_weights(models: Dict[str, torch.nn.Module], checkpoint: str,
                 device: torch.device) -> None:
    """Load a TSAL checkpoint; the plain model takes the teacher's backbone
    and neck (its HeatmapHead differs from the TSALHead)."""
    from mmengine.runner import load_checkpoint
    load_checkpoint(models['tsal'], checkpoint, map_location=device)
    teacher, plain = models['tsal'].teacher, models['plain']
    plain.backbone.load_state_dict(teacher.backbone.state_dict())
    if getattr(plain, 'neck', None) is not None:
        plain.neck.load_state_dict(teacher.neck.state_dict())


def build_teacher_hook(cfg: Config) -> Optional[Any]:
    """The config's ``QueueTeacherHook`` (None when it has none)."""
    from mmpose.registry import HOOKS
    for hook_cfg in cfg.get('custom_hooks', None) or []:
        if hook_cfg.get('type') == 'QueueTeacherHook':
            with DefaultScope.overwrite_default_scope('mmpose'):
                return HOOKS.build(_plain(hook_cfg))
    return None


class BenchOptimWrapper(OptimWrapper):
    """``OptimWrapper`` with an optional autocast context and profiler labels.

    mmengine's ``AmpOptimWrapper`` refuses CPUs; bfloat16 needs no loss
    scaling, so autocast around the forward pass is all it takes.

    Args:
        optimizer (torch.optim.Optimizer): The optimizer.
        autocast_dtype (torch.dtype, optional): Autocast dtype of the
            forward pass (``None``: full precision).
        device_type (str): ``'cpu'`` or ``'cuda'``.
    """

    def __init__(self,
                 optimizer: torch.optim.Optimizer,
                 autocast_dtype: Optional[torch.dtype] = None,
                 device_type: str = 'cpu') -> None:
        super().__init__(optimizer)
        self.autocast_dtype = autocast_dtype
        self.device_type = device_type

    @contextlib.contextmanager
    def optim_context(self, model: torch.nn.Module):
        """The parent's context plus autocast (forward pass only)."""
        with super().optim_context(model):
            if self.autocast_dtype is None:
                yield
            else:
                with torch.autocast(device_type=self.device_type,
                                    dtype=self.autocast_dtype):
                    yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        with torch.profiler.record_function('bench/backward'):
            super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        with torch.profiler.record_function('bench/optimizer_step'):
            super().step(**kwargs)


def build_optim_wrapper(cfg: Config, model: torch.nn.Module,
                        device: torch.device,
                        amp_dtype: Optional[torch.dtype]) -> OptimWrapper:
    """The config's optimizer (Adam for TSAL) in a :class:`BenchOptimWrapper`.
    """
    opt_cfg = _plain(cfg.optim_wrapper.get('optimizer',
                                           dict(type='Adam', lr=1e-3)))
    optimizer = OPTIMIZERS.build(dict(opt_cfg, params=model.parameters()))
    return BenchOptimWrapper(optimizer, amp_dtype, device.type)


# ----------------------------------------------------------------------
# synthetic batches
# ----------------------------------------------------------------------
def frame_batch(clips: List[List[dict]], codec: dict) -> dict:
    """A plain mmpose batch of the same frames, every frame labelled.

    Args:
        clips (list[list[dict]]): From ``tsal_mmpose.testing.
            moving_texture_clips``.
        codec (dict): The plain model's codec config (``MSRAHeatmap``).

    Returns:
        dict: ``inputs`` (B*K tensors ``[3, h, w]``) and ``data_samples``
        (B*K ``PoseDataSample``), as mmpose's ``pseudo_collate`` gives.
    """
    from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
    with DefaultScope.overwrite_default_scope('mmpose'):
        encode = GenerateTarget(encoder=copy.deepcopy(codec))
    pack = PackPoseInputs()
    inputs, samples = [], []
    for frames in clips:
        for frame in frames:
            frame = {
                k: v
                for k, v in frame.items()
                if k not in ('gt_hidden', 'labelled', 'clip_len',
                             'frame_index')
            }
            packed = pack(encode(frame))
            inputs.append(packed['inputs'])
            samples.append(packed['data_samples'])
    return dict(inputs=inputs, data_samples=samples)


def make_batches(cfg: Config, num_clips: int, clip_len: int,
                 seed: int) -> Dict[str, dict]:
    """``{'tsal': clip batch, 'plain': frame batch}`` of the same frames."""
    from tsal_mmpose.testing import moving_texture_clips, pack_clips
    codec = tsal_codec_config(cfg)
    clips = moving_texture_clips(num_clips, clip_len, codec['input_size'],
                                 seed)
    return dict(
        tsal=pack_clips(clips, codec),
        plain=frame_batch(clips, plain_codec_config(cfg)))


# ----------------------------------------------------------------------
# training step and inference callables
# ----------------------------------------------------------------------
def _unsup_hold_iter(cfg: Config) -> int:
    """An iteration inside w(t)'s hold phase (all losses at full weight)."""
    weight = _plain(cfg.model.get('unsup_weight', None)) or {}
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
        _sync(device)

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
        _sync(device)
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
        with _autocast(inputs.device, self.amp_dtype):
            # the class methods: the instance ones are redirected here
            feats = type(net).extract_feat(net, inputs)
            outputs = type(net.head).forward(net.head, feats)
        if isinstance(outputs, (tuple, list)):
            return tuple(o.float() for o in outputs)
        return outputs.float()


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


def _keypoints(samples: list) -> np.ndarray:
    """Predicted keypoints of data samples, ``[M, N, 2]`` (image px)."""
    return np.concatenate([
        np.asarray(s.pred_instances.keypoints, np.float64) for s in samples
    ])


# ----------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------
def interleaved_timings(fns: Dict[str, Callable[[], Any]], warmup: int,
                        repeats: int, iters: int = 1,
                        log: Optional[Callable[[str], None]] = None
                        ) -> Tuple[Dict[str, List[float]],
                                   Dict[str, List[float]],
                                   Dict[str, List[float]]]:
    """Time callables in turn (A B A B ...), seconds per call.

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


def _batch_frames(batch: dict) -> int:
    return int(sum(x.shape[0] if x.dim() == 4 else 1
                   for x in batch['inputs']))


def measure_loader(cfg: Config, data_root: str, batch_size: int,
                   clip_len: int, num_workers: Optional[int], warmup: int,
                   repeats: int, batches: int) -> Dict[str, Any]:
    """Frames/s delivered by the config's training dataloader.

    The config's sampler is replaced by mmengine's ``InfiniteSampler``:
    with a dataset of few clips every batch would otherwise end an epoch,
    and the workers do not prefetch across epochs, so the measurement
    would see one worker at a time instead of their steady rate.

    Args:
        cfg (Config): The TSAL config (``train_dataloader``).
        data_root (str): Converted 300VW-layout dataset.
        batch_size (int): Clips per batch.
        clip_len (int): K.
        num_workers (int, optional): Workers (``None``: the config's).
        warmup (int): Untimed batches first (worker start-up), besides
            the ``num_workers * prefetch_factor`` prefetched ones.
        repeats (int): Timed measurements.
        batches (int): Batches per measurement.

    Returns:
        dict: ``frames_per_s`` (list), ``num_workers``, ``dataset_clips``.
    """
    import cv2
    from mmengine.runner import Runner
    from mmengine.utils.dl_utils import set_multi_processing

    # every clip frame is cropped with the labelled frame's box on purpose
    warnings.filterwarnings('ignore', message='Use the existing "bbox_')
    # as the Runner sets up a training run (OpenCV single-threaded in each
    # worker, the start method); OpenCV's own setting is restored after
    cv2_threads = cv2.getNumThreads()
    set_multi_processing(**_plain(cfg.get('env_cfg', {}).get('mp_cfg', {})))
    dl_cfg = _plain(cfg.train_dataloader)
    dl_cfg['batch_size'] = batch_size
    if num_workers is not None:
        dl_cfg['num_workers'] = num_workers
    workers = int(dl_cfg.get('num_workers', 0))
    dl_cfg['persistent_workers'] = workers > 0  # torch needs workers
    dl_cfg['dataset']['data_root'] = data_root
    dl_cfg['dataset']['clip_len'] = clip_len
    dl_cfg['sampler'] = dict(type='InfiniteSampler', shuffle=True)
    try:
        with DefaultScope.overwrite_default_scope('mmpose'):
            loader = Runner.build_dataloader(dl_cfg, seed=0)
        it = iter(loader)
        # drain what the workers prefetched while starting, so that the
        # timed batches are produced at the workers' steady rate
        prefetched = workers * int(dl_cfg.get('prefetch_factor') or 2)
        for _ in range(max(1, warmup) + prefetched):
            next(it)
        fps = []
        for _ in range(repeats):
            start = time.perf_counter()
            frames = sum(_batch_frames(next(it)) for _ in range(batches))
            fps.append(frames / (time.perf_counter() - start))
        return dict(frames_per_s=fps, num_workers=workers,
                    dataset_clips=len(loader.dataset))
    finally:
        cv2.setNumThreads(cv2_threads)


def ensure_data_root(args: argparse.Namespace, clip_len: int,
                     stack: contextlib.ExitStack) -> str:
    """``--data-root``, or a synthetic benchmark in a temporary folder."""
    if args.data_root:
        return args.data_root
    from tsal_mmpose.datasets.synthetic.generator import (GeneratorConfig,
                                                          generate_benchmark)
    root = stack.enter_context(
        tempfile.TemporaryDirectory(prefix='tsal_speed_'))
    frames = max(args.synthetic_frames, clip_len + 1)
    generate_benchmark(
        root,
        GeneratorConfig(
            train_videos=args.synthetic_videos,
            test_easy_videos=1,
            test_hard_videos=1,
            frames=frames),
        convert=True,
        progress=False,
        log=None)
    return root + '/'


# ----------------------------------------------------------------------
# peak memory
# ----------------------------------------------------------------------
def _memory_job(cfg: Config, kind: str, phase: str, num_clips: int,
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
    model_cfg = tsal_model_config(cfg) if kind == 'tsal' \
        else plain_model_config(cfg)
    model = _build_model(model_cfg, device, seed)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if phase == 'train':
        wrapper = build_optim_wrapper(cfg, model, device, amp_dtype)
        fn = make_train_step(model, batch, wrapper, device,
                             build_teacher_hook(cfg) if kind == 'tsal'
                             else None, _unsup_hold_iter(cfg))
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
        conn.send(_memory_job(**kwargs))
    except BaseException as exc:  # report any failure to the parent
        conn.send(dict(error=f'{type(exc).__name__}: {exc}'))
    finally:
        conn.close()


def measure_memory(cfg: Config, kind: str, phase: str,
                   **kwargs: Any) -> Dict[str, Any]:
    """Peak memory of one model and phase (see :func:`_memory_job`).

    On CPU the job runs in a forked process, so that its ``VmHWM`` (reset
    at the start) is its own; on CUDA it runs here with the allocator's
    peak statistics.

    Args:
        cfg (Config): The TSAL config.
        kind (str): ``'tsal'`` or ``'plain'``.
        phase (str): ``'train'`` or ``'infer'``.
        **kwargs: The other arguments of :func:`_memory_job`.

    Returns:
        dict: ``peak_bytes`` and details.
    """
    job = dict(cfg=cfg, kind=kind, phase=phase, **kwargs)
    if job['device'].type == 'cuda':
        return _memory_job(**job)
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


# ----------------------------------------------------------------------
# profiling
# ----------------------------------------------------------------------
@contextlib.contextmanager
def _labelled(model: torch.nn.Module) -> Iterator[List[str]]:
    """Label module forwards, head/motion-field losses and TSAL's
    training-time functions as profiler ranges (undone on exit).

    Methods are wrapped rather than hooked, so that direct ``.forward()``
    calls (``TSALEstimator`` calls ``head.forward``) are labelled too.
    """
    from tsal_mmpose.models.pose_estimators import tsal_estimator
    labels: List[str] = []
    patched: List[tuple] = []

    def wrap(owner: Any, attr: str, name: str, static: bool = False) -> None:
        if isinstance(owner, type):
            original = owner.__dict__[attr]
        else:
            original = getattr(owner, attr)
        target = original.__func__ if static else original

        @functools.wraps(target)
        def wrapper(*a, **k):
            with torch.profiler.record_function(name):
                return target(*a, **k)

        setattr(owner, attr, staticmethod(wrapper) if static else wrapper)
        patched.append((owner, attr, original))
        labels.append(name)

    wrap(model.data_preprocessor, 'forward', 'data_preprocessor')
    nets = getattr(model, 'networks', None) or {'plain': model}
    for role, net in nets.items():
        for child in ('backbone', 'neck', 'head', 'motion_field'):
            module = getattr(net, child, None)
            if isinstance(module, torch.nn.Module):
                wrap(module, 'forward', f'{role}.{child}')
        for name, module in net.named_modules():
            if name and 'loss' in name.rsplit('.', 1)[-1]:
                wrap(module, 'forward', f'{role}.{name}')
        for method in ('loss_by_outputs', 'loss', 'decode'):
            if hasattr(net.head, method):
                wrap(net.head, method, f'{role}.head.{method}')
        if getattr(net, 'motion_field', None) is not None:
            wrap(net.motion_field, 'loss', f'{role}.motion_field.loss')
    for name in ('sic_loss', 'mfds_loss', 'pseudo_loss'):
        module = getattr(model, name, None)
        if isinstance(module, torch.nn.Module):
            wrap(module, 'forward', f'tsal.{name}')
    if hasattr(model, 'networks'):
        for fn in ('decode_heatmap_torch', 'decode_clor_torch',
                   'track_points', 'face_box_width'):
            wrap(tsal_estimator, fn, f'tsal.{fn}')
        wrap(type(model), 'labelled_points', 'tsal.labelled_points',
             static=True)
    try:
        yield labels
    finally:
        for owner, attr, original in reversed(patched):
            if isinstance(owner, (type, type(tsal_estimator))):
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)  # drop the shadowing instance attribute


def label_times(averages: Iterable[Any], wanted: Iterable[str],
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
        wanted (Iterable[str]): The labels to report.
        calls (int): Profiled calls, the divisor.

    Returns:
        dict: label -> ``ms`` (host time, inclusive) and ``calls`` per
        call, plus ``gpu_ms`` (GPU span per call) where the range ran
        kernels on a GPU.
    """
    from torch.autograd import DeviceType
    wanted = set(wanted)
    out: Dict[str, Dict[str, float]] = {}
    for event in averages:
        if event.key not in wanted:
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
    """Profile ``calls`` calls of ``fn`` with labelled modules and functions.

    Args:
        model (nn.Module): The model that ``fn`` runs (to label).
        fn (Callable): A training step or a prediction.
        device (torch.device): Adds CUDA activity on GPUs.
        rows (int): Operators listed in ``table``.
        calls (int): Profiled calls (averaged).

    Returns:
        dict: ``ms_per_call`` (wall, profiler on), ``labels`` (see
        :func:`label_times`) and ``table`` (the top
        operators by self time, totals over all calls, as text).
    """
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    fn()  # warm
    with _labelled(model) as labels:
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            for _ in range(calls):
                fn()
        total = time.perf_counter() - start
    averages = prof.key_averages()
    wanted = set(labels) | {
        'bench/backward', 'bench/optimizer_step',
        'bench/queue_teacher_update'
    }
    sort_by = 'self_cuda_time_total' if device.type == 'cuda' \
        else 'self_cpu_time_total'
    return dict(
        ms_per_call=total * 1e3 / calls,
        calls=calls,
        labels=label_times(averages, wanted, calls),
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


# ----------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------
def _fmt_stats(stats: Dict[str, Any], scale: float = 1.0,
               digits: int = 3) -> str:
    return ' / '.join(f'{stats[k] * scale:.{digits}g}'
                      for k in ('min', 'median', 'max'))


def _progress(what: str) -> None:
    """A progress line on stderr, with the seconds since the start."""
    print(f'[speed {time.monotonic() - _T0:6.0f}s] {what}', file=sys.stderr,
          flush=True)


def _section_done(args: argparse.Namespace, results: Dict[str, Any],
                  what: str) -> None:
    """After each measurement: a progress line on stderr, and the numbers
    so far in ``--out`` (a run stopped by a time limit keeps them)."""
    _progress(what)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))


def run_benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    """Run every section; return all numbers (see :func:`main`)."""
    load_config(args.config)  # registers the components for the patch
    with contextlib.ExitStack() as stack:
        if args.amp != 'none':
            stack.enter_context(bf16_safe_to_numpy())
        return _run_benchmark(args)


def _weights_label(args: argparse.Namespace) -> str:
    """Where the timed models' weights come from, in words."""
    label = args.checkpoint or 'random initialisation'
    if args.fit_steps:
        what = 'the benchmark batch' if args.fit_clips is None else \
            f'the first {args.fit_clips} clips of the benchmark batch'
        label += f', then fitted to {what} for {args.fit_steps} steps'
    return label


def fit_to_batch(cfg: Config, models: Dict[str, torch.nn.Module],
                 batches: Dict[str, dict], device: torch.device, steps: int,
                 hold_iter: int, fit_lr: float = 1e-3) -> Dict[str, float]:
    """Train each model ``steps`` float32 steps on its benchmark batch.

    Random weights give nearly flat heatmaps whose maxima any rounding
    moves; after fitting the batch, the maxima are clear, so comparing
    fast and eager predictions on that batch measures numerical agreement.

    Args:
        cfg (Config): The TSAL config (optimizer settings).
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


def _run_benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    """The sections of :func:`run_benchmark`, in order: peak memory (forks
    first), training steps, inference, data pipeline."""
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.retain_freed_memory:
        from tsal_mmpose.utils import retain_freed_memory
        retain_freed_memory()
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    amp_dtype = _amp_dtype(args)
    cfg = load_config(args.config)
    clip_len = int(args.clip_len or cfg.train_dataloader.dataset.get(
        'clip_len', cfg.get('clip_len', 10)))
    batch_sizes = args.batch_sizes or [int(cfg.train_dataloader.batch_size)]
    fast_wanted = amp_dtype is not None or args.channels_last or args.compile
    MessageHub.get_instance('tsal_speed_benchmark')
    MMLogger.get_instance('tsal_speed_benchmark', log_level='WARNING')
    hold_iter = _unsup_hold_iter(cfg)
    codec = tsal_codec_config(cfg)
    results: Dict[str, Any] = dict(
        settings=dict(
            config=str(args.config),
            device=str(device),
            device_name=(torch.cuda.get_device_name(device)
                         if device.type == 'cuda' else platform.processor()
                         or platform.machine()),
            torch=torch.__version__,
            threads=torch.get_num_threads(),
            retain_freed_memory=args.retain_freed_memory,
            cpu_count=os.cpu_count(),
            batch_sizes=batch_sizes,
            clip_len=clip_len,
            input_size=list(codec['input_size']),
            heatmap_size=list(codec['heatmap_size']),
            warmup=args.warmup,
            repeats=args.repeats,
            iters=args.iters,
            amp=args.amp,
            channels_last=args.channels_last,
            compile=args.compile,
            compile_mode=args.compile_mode if args.compile else None,
            weights=_weights_label(args)),
        per_batch_size={})
    hook_probe = build_teacher_hook(cfg)
    results['settings']['teacher_hook'] = None if hook_probe is None else \
        dict(queue_size=hook_probe.queue_size,
             smoothing=hook_probe.smoothing)

    # Peak memory first: on CPU each job is a fork of this process, made
    # before it has run any parallel torch work. The optimizers' constructor
    # imports torch._dynamo lazily: once here rather than in every fork.
    importlib.import_module('torch._dynamo')
    for b in batch_sizes:
        entry = results['per_batch_size'].setdefault(str(b), {})
        if 'memory' in args.skip:
            continue
        memory = {}
        for phase in ('train', 'infer'):
            for kind in ('tsal', 'plain'):
                _progress(f'B={b}: peak memory of {kind} {phase}')
                memory[f'{kind}_{phase}'] = measure_memory(
                    cfg, kind, phase, num_clips=b, clip_len=clip_len,
                    device=device, amp_dtype=amp_dtype,
                    channels_last=args.channels_last,
                    steps=args.memory_steps if phase == 'train' else 2,
                    seed=args.seed)
        memory['ratio_train'] = memory['tsal_train']['peak_bytes'] / max(
            1, memory['plain_train']['peak_bytes'])
        memory['ratio_infer'] = memory['tsal_infer']['peak_bytes'] / max(
            1, memory['plain_infer']['peak_bytes'])
        entry['memory'] = memory
        _section_done(args, results,
                      f'B={b}: peak memory train ratio '
                      f"{memory['ratio_train']:.3g}")

    models = build_models(cfg, device, args.seed)
    if args.channels_last:
        models = {
            k: m.to(memory_format=torch.channels_last)
            for k, m in models.items()
        }
    if args.checkpoint:
        load_weights(models, args.checkpoint, device)
    # the first N clips are the same at every batch size (one random
    # stream, clip after clip), so the fitted frames lead every batch
    fit_clips = args.fit_clips or batch_sizes[0]
    if args.fit_steps:
        fit_to_batch(cfg, models, make_batches(cfg, fit_clips, clip_len,
                                               args.seed), device,
                     args.fit_steps, hold_iter)
    init_state = {k: copy.deepcopy(m.state_dict()) for k, m in models.items()}
    profiles: Dict[str, Any] = {}

    for b in batch_sizes:
        entry = results['per_batch_size'][str(b)]
        frames = b * clip_len
        batches = make_batches(cfg, b, clip_len, args.seed)
        if 'train' not in args.skip:
            for k, m in models.items():
                m.load_state_dict(init_state[k])
            steps = dict(
                tsal=make_train_step(
                    models['tsal'], batches['tsal'],
                    build_optim_wrapper(cfg, models['tsal'], device,
                                        amp_dtype), device,
                    build_teacher_hook(cfg), hold_iter),
                plain=make_train_step(
                    models['plain'], batches['plain'],
                    build_optim_wrapper(cfg, models['plain'], device,
                                        amp_dtype), device, None, hold_iter))
            _progress(f'B={b} ({frames} frames): timing training steps')
            times, cpu, system = interleaved_timings(
                steps, args.warmup, args.repeats, args.iters,
                log=lambda line: _progress(f'B={b} training: {line}'))
            entry['train'] = dict(
                tsal_s=summarize(times['tsal']),
                plain_s=summarize(times['plain']),
                ratio=_ratios(times['tsal'], times['plain']),
                tsal_cpu_s=summarize(cpu['tsal']),
                plain_cpu_s=summarize(cpu['plain']),
                cpu_ratio=_ratios(cpu['tsal'], cpu['plain']),
                tsal_sys_s=summarize(system['tsal']),
                plain_sys_s=summarize(system['plain']),
                tsal_clips_per_s=summarize([b / t for t in times['tsal']]),
                plain_clips_per_s=summarize(
                    [b / t for t in times['plain']]),
                tsal_consumption_frames_per_s=summarize(
                    [frames / t for t in times['tsal']]))
            _section_done(args, results,
                          f"B={b}: training step ratio (median) "
                          f"{entry['train']['ratio']['median']:.3g}")
            if args.profile and b == batch_sizes[0]:
                for k in ('tsal', 'plain'):
                    profiles[f'train_{k}'] = profile_call(
                        models[k], steps[k], device, args.profile_rows,
                        args.profile_calls)
                results['flops'] = flop_analysis(models, steps, batches,
                                                 device)
            del steps
        if 'inference' not in args.skip:
            for k, m in models.items():
                m.load_state_dict(init_state[k])
            fns = dict(
                plain=make_predict(models['plain'], batches['plain'],
                                   device),
                tsal=make_predict(models['tsal'], batches['tsal'], device))
            if fast_wanted:
                mode = args.compile_mode if args.compile else None
                fast_nets = dict(
                    plain=make_fast_network(models['plain'], amp_dtype,
                                            args.channels_last, mode),
                    tsal=make_fast_network(models['tsal'].predictor,
                                           amp_dtype, args.channels_last,
                                           mode))
                for k in ('plain', 'tsal'):
                    fns[f'{k}_fast'] = make_predict(models[k], batches[k],
                                                    device, fast_nets[k])
            _progress(f'B={b} ({frames} frames): timing inference')
            times, cpu, _ = interleaved_timings(
                fns, args.warmup, args.repeats, args.iters,
                log=lambda line: _progress(f'B={b} inference: {line}'))
            infer = dict(
                frames=frames,
                tsal_s=summarize(times['tsal']),
                plain_s=summarize(times['plain']),
                ratio=_ratios(times['tsal'], times['plain']),
                cpu_ratio=_ratios(cpu['tsal'], cpu['plain']),
                faces_per_s={
                    k: summarize([frames / t for t in v])
                    for k, v in times.items()
                })
            if fast_wanted:
                reference = {k: _keypoints(fns[k]()) for k in ('plain',
                                                               'tsal')}
                diffs = {
                    k: np.abs(_keypoints(fns[f'{k}_fast']()) - reference[k])
                    for k in ('plain', 'tsal')
                }
                overall = {k: agreement(d) for k, d in diffs.items()}
                for key in ('max_abs_diff_px', 'median_abs_diff_px'):
                    infer[f'fast_{key}'] = {
                        k: a[key]
                        for k, a in overall.items()
                    }
                infer['fast_within_0.1px'] = {
                    k: a['within_0_1px']
                    for k, a in overall.items()
                }
                if args.fit_steps:  # the fitted clips lead the batch
                    n = min(fit_clips, b) * clip_len
                    infer['fast_fitted'] = {
                        k: dict(frames=n, **agreement(d[:n]))
                        for k, d in diffs.items()
                    }
                infer['fast_ratio'] = _ratios(times['tsal_fast'],
                                              times['plain_fast'])
                infer['tsal_fast_over_plain_eager'] = _ratios(
                    times['tsal_fast'], times['plain'])
            entry['inference'] = infer
            _section_done(args, results,
                          f"B={b}: inference ratio (median) "
                          f"{infer['ratio']['median']:.3g}")
            if args.profile and b == batch_sizes[0]:
                for k in ('tsal', 'plain'):
                    profiles[f'infer_{k}'] = profile_call(
                        models[k], fns[k], device, args.profile_rows,
                        args.profile_calls)
            del fns

    if 'loader' not in args.skip:
        with contextlib.ExitStack() as stack:
            data_root = ensure_data_root(args, clip_len, stack)
            for b in batch_sizes:
                entry = results['per_batch_size'][str(b)]
                loader = measure_loader(cfg, data_root, b, clip_len,
                                        args.num_workers, args.warmup,
                                        args.repeats, args.loader_batches)
                loader['data_root'] = args.data_root or '(synthetic, temp)'
                if 'train' in entry:
                    consumption = entry['train'][
                        'tsal_consumption_frames_per_s']['values']
                    loader['ratio'] = _ratios(loader['frames_per_s'],
                                              consumption)
                loader['frames_per_s'] = summarize(loader['frames_per_s'])
                entry['loader'] = loader
                _section_done(args, results,
                              f'B={b}: data pipeline frames/s (median) '
                              f"{loader['frames_per_s']['median']:.4g}")

    first = results['per_batch_size'][str(batch_sizes[0])]
    ratios = {}
    if 'train' in first:
        ratios['train_step'] = first['train']['ratio']
    if 'inference' in first:
        ratios['inference'] = first['inference']['ratio']
    if 'ratio' in first.get('loader', {}):
        ratios['loader_over_consumption'] = first['loader']['ratio']
    if 'memory' in first:
        ratios['peak_memory_train'] = summarize(
            [first['memory']['ratio_train']])
    results['ratios'] = ratios
    if profiles:
        results['profile'] = profiles
    return results


def format_tables(results: Dict[str, Any]) -> str:
    """The results as markdown tables."""
    s = results['settings']
    lines = [
        f"TSAL vs plain mmpose top-down on {s['device']} "
        f"({s['device_name']}, {s['threads']} threads), input "
        f"{s['input_size'][0]}x{s['input_size'][1]}, K={s['clip_len']}, "
        f"amp={s['amp']}, channels_last={s['channels_last']}, "
        f"compile={s['compile']}, retain_freed_memory="
        f"{s.get('retain_freed_memory', False)}; warmup {s['warmup']}, "
        f"repeats {s['repeats']} (min / median / max)", '',
        '| B (clips) | frames | quantity | TSAL | plain | ratio |',
        '|---|---|---|---|---|---|'
    ]
    for b, entry in results['per_batch_size'].items():
        frames = int(b) * s['clip_len']
        if 'train' in entry:
            t = entry['train']
            lines.append(
                f"| {b} | {frames} | train step (ms) | "
                f"{_fmt_stats(t['tsal_s'], 1e3)} | "
                f"{_fmt_stats(t['plain_s'], 1e3)} | "
                f"{_fmt_stats(t['ratio'])} |")
            lines.append(
                f"| {b} | {frames} | train step CPU time (ms) | "
                f"{_fmt_stats(t['tsal_cpu_s'], 1e3)} | "
                f"{_fmt_stats(t['plain_cpu_s'], 1e3)} | "
                f"{_fmt_stats(t['cpu_ratio'])} |")
            lines.append(
                f"| {b} | {frames} | train step system CPU time (ms) | "
                f"{_fmt_stats(t['tsal_sys_s'], 1e3)} | "
                f"{_fmt_stats(t['plain_sys_s'], 1e3)} | |")
            lines.append(
                f"| {b} | {frames} | training clips/s | "
                f"{_fmt_stats(t['tsal_clips_per_s'])} | "
                f"{_fmt_stats(t['plain_clips_per_s'])} | |")
        if 'inference' in entry:
            i = entry['inference']
            lines.append(
                f"| {b} | {frames} | inference latency (ms) | "
                f"{_fmt_stats(i['tsal_s'], 1e3)} | "
                f"{_fmt_stats(i['plain_s'], 1e3)} | "
                f"{_fmt_stats(i['ratio'])} |")
        if 'loader' in entry:
            d = entry['loader']
            cons = entry.get('train', {}).get(
                'tsal_consumption_frames_per_s')
            lines.append(
                f"| {b} | {frames} | data pipeline frames/s "
                f"({d['num_workers']} workers) vs TSAL consumption | "
                f"{_fmt_stats(d['frames_per_s'])} | "
                f"{_fmt_stats(cons) if cons else ''} | "
                f"{_fmt_stats(d['ratio']) if 'ratio' in d else ''} |")
        if 'memory' in entry:
            m = entry['memory']
            for phase in ('train', 'infer'):
                lines.append(
                    f"| {b} | {frames} | peak memory {phase} (MiB) | "
                    f"{m[f'tsal_{phase}']['peak_bytes'] / MIB:.1f} | "
                    f"{m[f'plain_{phase}']['peak_bytes'] / MIB:.1f} | "
                    f"{m[f'ratio_{phase}']:.3g} |")
    fast_rows = []
    for b, entry in results['per_batch_size'].items():
        i = entry.get('inference', {})
        if 'fast_max_abs_diff_px' not in i:
            continue
        for k, name in (('plain', 'stock mmpose'), ('tsal', 'TSAL teacher')):
            for path in ('', '_fast'):
                diff = (f"{i['fast_max_abs_diff_px'][k]:.3g} / "
                        f"{i['fast_median_abs_diff_px'][k]:.3g} / "
                        f"{100 * i['fast_within_0.1px'][k]:.1f}%"
                        if path else '0')
                fitted = i.get('fast_fitted', {}).get(k)
                fitted = (f"{fitted['frames']} frames: "
                          f"{fitted['max_abs_diff_px']:.3g} / "
                          f"{fitted['median_abs_diff_px']:.3g} / "
                          f"{100 * fitted['within_0_1px']:.1f}%"
                          if fitted and path else '')
                fast_rows.append(
                    f"| {b} | {i['frames']} | {name} | "
                    f"{'fast' if path else 'eager fp32'} | "
                    f"{_fmt_stats(i['faces_per_s'][k + path])} | "
                    f"{diff} | {fitted} |")
        # speed-up = time of stock eager / time of the TSAL fast path
        speedup = summarize(
            [1.0 / r for r in i['tsal_fast_over_plain_eager']['values']])
        fast_rows.append(
            f"| {b} | {i['frames']} | TSAL teacher fast over stock mmpose "
            f"eager fp32 | speed-up | {_fmt_stats(speedup)} | | |")
    if fast_rows:
        lines += [
            '', f"Inference paths ({s['weights']}; with random weights the "
            'heatmaps are nearly flat and the differences are not '
            'meaningful)', '',
            '| B (clips) | faces | model | path | faces/s | '
            'abs diff vs eager fp32: max / median (px) / landmarks '
            'within 0.1 px | the same on the fitted frames |',
            '|---|---|---|---|---|---|---|'
        ] + fast_rows
    lines += [
        '', '| headline ratio | min | median | max |', '|---|---|---|---|'
    ]
    for key, stats in results['ratios'].items():
        lines.append(f"| {key} | {stats['min']:.3g} | {stats['median']:.3g}"
                     f" | {stats['max']:.3g} |")
    flops = results.get('flops')
    if flops:
        lines += [
            '', '| GFLOPs (conv + matmul) | TSAL | plain | ratio |',
            '|---|---|---|---|'
        ]
        for key, label in (('train_step_gflops', 'training step (fwd+bwd)'),
                           ('loss_forward_gflops', 'loss forward'),
                           ('inference_gflops', 'inference')):
            lines.append(f"| {label} | {flops['tsal'][key]:.3f} | "
                         f"{flops['plain'][key]:.3f} | "
                         f"{flops['ratios'].get(key, math.nan):.3g} |")
        lines += ['', '| loss-forward GFLOPs by module | model | GFLOPs |',
                  '|---|---|---|']
        for kind in ('tsal', 'plain'):
            for name, value in flops[kind][
                    'loss_forward_by_module_gflops'].items():
                lines.append(f'| {name} | {kind} | {value:.3f} |')
    for name, prof in results.get('profile', {}).items():
        lines += [
            '', f"Profile {name}: {prof['ms_per_call']:.1f} ms per call "
            f"(mean of {prof['calls']}, profiler on)", '',
            '| label | host ms per call (inclusive) | GPU ms per call '
            '(span of its kernels) | calls per call |', '|---|---|---|---|'
        ]
        for label, v in sorted(
                prof['labels'].items(),
                key=lambda kv: -kv[1].get('gpu_ms', kv[1]['ms'])):
            gpu = f"{v['gpu_ms']:.1f}" if 'gpu_ms' in v else ''
            lines.append(
                f"| {label} | {v['ms']:.1f} | {gpu} | {v['calls']:g} |")
        lines += ['', '```', prof['table'], '```']
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the benchmark, print the tables, write ``--out``.

    Args:
        argv (Sequence[str], optional): Arguments (default ``sys.argv``).

    Returns:
        dict: All numbers: ``settings``, ``per_batch_size`` (per B:
        ``train``, ``inference``, ``loader``, ``memory``), ``ratios`` (the
        headline min/median/max of :data:`RATIO_KEYS` at the first batch
        size) and, with ``--profile``, ``profile``.
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


if __name__ == '__main__':
    main()
