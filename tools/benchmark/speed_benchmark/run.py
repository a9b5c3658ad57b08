"""The benchmark's sections, in order: peak memory (forks first), training
steps, inference, data pipeline."""
from __future__ import annotations

import argparse
import copy
import importlib
import tempfile
from typing import Any, Callable, Dict

import numpy as np
import torch
from mmengine.logging import MessageHub, MMLogger

from .loader import measure_loader, synthetic_data_root
from .memory import measure_memory
from .models import (build_models, build_optim_wrapper, build_teacher_hook,
                     load_config, load_weights, make_batches)
from .profiling import flop_analysis, profile_call
from .session import Session, headline_ratios, settings
from .steps import (agreement, fit_to_batch, keypoints, make_fast_network,
                    make_predict, make_train_step, unsup_hold_iter)
from .timing import interleaved_timings, progress, ratios, summarize

__all__ = ['run_benchmark']


def memory_section(s: Session, b: int) -> Dict[str, Any]:
    """Peak memory of a training step and a prediction of each model."""
    memory = {}
    for phase in ('train', 'infer'):
        for kind in ('tsal', 'plain'):
            progress(f'B={b}: peak memory of {kind} {phase}')
            memory[f'{kind}_{phase}'] = measure_memory(
                s.cfg, kind, phase, num_clips=b, clip_len=s.clip_len,
                device=s.device, amp_dtype=s.amp_dtype,
                channels_last=s.args.channels_last,
                steps=s.args.memory_steps if phase == 'train' else 2,
                seed=s.args.seed)
    for phase in ('train', 'infer'):
        memory[f'ratio_{phase}'] = memory[f'tsal_{phase}']['peak_bytes'] / \
            max(1, memory[f'plain_{phase}']['peak_bytes'])
    return memory


def train_section(s: Session, models: Dict[str, torch.nn.Module],
                  batches: Dict[str, dict], b: int) -> Dict[str, Any]:
    """Interleaved training steps of both models (and their profile)."""
    frames = b * s.clip_len
    hold_iter = unsup_hold_iter(s.cfg)
    steps = {
        kind: make_train_step(
            models[kind], batches[kind],
            build_optim_wrapper(s.cfg, models[kind], s.device, s.amp_dtype),
            s.device,
            build_teacher_hook(s.cfg) if kind == 'tsal' else None, hold_iter)
        for kind in ('tsal', 'plain')
    }
    progress(f'B={b} ({frames} frames): timing training steps')
    times, cpu, system = interleaved_timings(
        steps, s.args.warmup, s.args.repeats, s.args.iters,
        log=lambda line: progress(f'B={b} training: {line}'))
    train = dict(
        tsal_s=summarize(times['tsal']),
        plain_s=summarize(times['plain']),
        ratio=ratios(times['tsal'], times['plain']),
        tsal_cpu_s=summarize(cpu['tsal']),
        plain_cpu_s=summarize(cpu['plain']),
        cpu_ratio=ratios(cpu['tsal'], cpu['plain']),
        tsal_sys_s=summarize(system['tsal']),
        plain_sys_s=summarize(system['plain']),
        tsal_clips_per_s=summarize([b / t for t in times['tsal']]),
        plain_clips_per_s=summarize([b / t for t in times['plain']]),
        tsal_consumption_frames_per_s=summarize(
            [frames / t for t in times['tsal']]))
    s.done(f"B={b}: training step ratio (median) "
           f"{train['ratio']['median']:.3g}")
    if s.profile(b):
        for kind in ('tsal', 'plain'):
            s.profiles[f'train_{kind}'] = \
                profile_call(models[kind], steps[kind], s.device,
                             s.args.profile_rows, s.args.profile_calls)
        s.results['flops'] = flop_analysis(models, steps, batches, s.device)
    return train


def inference_section(s: Session, models: Dict[str, torch.nn.Module],
                      batches: Dict[str, dict], b: int) -> Dict[str, Any]:
    """Interleaved predictions of both models, eager and (with ``--amp``,
    ``--channels-last`` or ``--compile``) on the fast path."""
    args, frames = s.args, b * s.clip_len
    fns: Dict[str, Callable[[], list]] = {
        kind: make_predict(models[kind], batches[kind], s.device)
        for kind in ('plain', 'tsal')
    }
    fast = s.amp_dtype is not None or args.channels_last or args.compile
    if fast:
        mode = args.compile_mode if args.compile else None
        # the TSAL estimator predicts with its teacher network
        nets = dict(plain=models['plain'], tsal=models['tsal'].predictor)
        for kind, net in nets.items():
            fns[f'{kind}_fast'] = make_predict(
                models[kind], batches[kind], s.device,
                make_fast_network(net, s.amp_dtype, args.channels_last,
                                  mode))
    progress(f'B={b} ({frames} frames): timing inference')
    times, cpu, _ = interleaved_timings(
        fns, args.warmup, args.repeats, args.iters,
        log=lambda line: progress(f'B={b} inference: {line}'))
    infer = dict(
        frames=frames,
        tsal_s=summarize(times['tsal']),
        plain_s=summarize(times['plain']),
        ratio=ratios(times['tsal'], times['plain']),
        cpu_ratio=ratios(cpu['tsal'], cpu['plain']),
        faces_per_s={
            k: summarize([frames / t for t in v])
            for k, v in times.items()
        })
    if fast:
        reference = {k: keypoints(fns[k]()) for k in ('plain', 'tsal')}
        diffs = {
            k: np.abs(keypoints(fns[f'{k}_fast']()) - reference[k])
            for k in ('plain', 'tsal')
        }
        overall = {k: agreement(d) for k, d in diffs.items()}
        for key in ('max_abs_diff_px', 'median_abs_diff_px'):
            infer[f'fast_{key}'] = {k: a[key] for k, a in overall.items()}
        infer['fast_within_0.1px'] = {
            k: a['within_0_1px']
            for k, a in overall.items()
        }
        if args.fit_steps:  # the fitted clips lead the batch
            n = min(args.fit_clips or s.batch_sizes[0], b) * s.clip_len
            infer['fast_fitted'] = {
                k: dict(frames=n, **agreement(d[:n]))
                for k, d in diffs.items()
            }
        infer['fast_ratio'] = ratios(times['tsal_fast'], times['plain_fast'])
        infer['tsal_fast_over_plain_eager'] = ratios(times['tsal_fast'],
                                                     times['plain'])
    s.done(f"B={b}: inference ratio (median) {infer['ratio']['median']:.3g}")
    if s.profile(b):
        for kind in ('tsal', 'plain'):
            s.profiles[f'infer_{kind}'] = \
                profile_call(models[kind], fns[kind], s.device,
                             args.profile_rows, args.profile_calls)
    return infer


def loader_section(s: Session, data_root: str, b: int) -> Dict[str, Any]:
    """Frames/s of the clip data pipeline against TSAL's consumption."""
    args, entry = s.args, s.results['per_batch_size'][str(b)]
    loader = measure_loader(s.cfg, data_root, b, s.clip_len,
                            args.num_workers, args.warmup, args.repeats,
                            args.loader_batches)
    loader['data_root'] = args.data_root or '(synthetic, temp)'
    if 'train' in entry:
        consumption = entry['train']['tsal_consumption_frames_per_s']
        loader['ratio'] = ratios(loader['frames_per_s'],
                                 consumption['values'])
    loader['frames_per_s'] = summarize(loader['frames_per_s'])
    return loader


def run_benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    """Run every section; return all numbers (see :func:`.cli.main`)."""
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.retain_freed_memory:
        from tsal_mmpose.utils import retain_freed_memory
        retain_freed_memory()
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    cfg = load_config(args.config)
    clip_len = int(args.clip_len or cfg.train_dataloader.dataset.get(
        'clip_len', cfg.get('clip_len', 10)))
    batch_sizes = args.batch_sizes or [int(cfg.train_dataloader.batch_size)]
    MessageHub.get_instance('tsal_speed_benchmark')
    MMLogger.get_instance('tsal_speed_benchmark', log_level='WARNING')
    s = Session(
        args, cfg, device, torch.bfloat16 if args.amp == 'bf16' else None,
        clip_len, batch_sizes,
        dict(settings=settings(args, cfg, device, clip_len, batch_sizes),
             per_batch_size={str(b): {} for b in batch_sizes}))
    per_b = s.results['per_batch_size']

    # Peak memory first: on CPU each job is a fork of this process, made
    # before it has run any parallel torch work. The optimizers' constructor
    # imports torch._dynamo lazily: once here rather than in every fork.
    importlib.import_module('torch._dynamo')
    for b in batch_sizes:
        if 'memory' not in args.skip:
            per_b[str(b)]['memory'] = memory = memory_section(s, b)
            s.done(f'B={b}: peak memory train ratio '
                   f"{memory['ratio_train']:.3g}")

    models = build_models(cfg, device, args.seed, s.amp_dtype is not None)
    if args.channels_last:
        models = {
            k: m.to(memory_format=torch.channels_last)
            for k, m in models.items()
        }
    if args.checkpoint:
        load_weights(models, args.checkpoint, device)
    # the first N clips are the same at every batch size (one random
    # stream, clip after clip), so the fitted frames lead every batch
    if args.fit_steps:
        fit_to_batch(cfg, models,
                     make_batches(cfg, args.fit_clips or batch_sizes[0],
                                  clip_len, args.seed), device,
                     args.fit_steps, unsup_hold_iter(cfg))
    init_state = {k: copy.deepcopy(m.state_dict()) for k, m in models.items()}
    for b in batch_sizes:
        batches = make_batches(cfg, b, clip_len, args.seed)
        for section, measure in (('train', train_section),
                                 ('inference', inference_section)):
            if section not in args.skip:
                for k, m in models.items():
                    m.load_state_dict(init_state[k])
                per_b[str(b)][section] = measure(s, models, batches, b)

    if 'loader' not in args.skip:
        with tempfile.TemporaryDirectory(prefix='tsal_speed_') as tmp:
            data_root = args.data_root or synthetic_data_root(
                tmp, max(args.synthetic_frames, clip_len + 1),
                args.synthetic_videos)
            for b in batch_sizes:
                per_b[str(b)]['loader'] = loader = loader_section(
                    s, data_root, b)
                s.done(f'B={b}: data pipeline frames/s (median) '
                       f"{loader['frames_per_s']['median']:.4g}")

    s.results['ratios'] = headline_ratios(per_b[str(batch_sizes[0])])
    if s.profiles:
        s.results['profile'] = s.profiles
    return s.results
