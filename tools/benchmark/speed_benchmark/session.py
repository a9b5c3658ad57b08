"""What every section of the benchmark shares: its settings, the results
so far, and the headline ratios."""
from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config

from .models import build_teacher_hook, tsal_codec_config
from .timing import progress, summarize

__all__ = ['RATIO_KEYS', 'Session', 'settings', 'headline_ratios']

#: The four headline ratios (TSAL over plain, or supply over demand).
RATIO_KEYS = ('train_step', 'inference', 'loader_over_consumption',
              'peak_memory_train')


@dataclass
class Session:
    """What every section reads, and the results so far.

    Attributes:
        args (argparse.Namespace): The command line.
        cfg (Config): The TSAL config.
        device (torch.device): Where the models run.
        amp_dtype (torch.dtype, optional): Autocast dtype (``--amp``).
        clip_len (int): K, frames per clip.
        batch_sizes (list[int]): B, clips per training batch.
        results (dict): ``settings`` and ``per_batch_size`` so far.
        profiles (dict): The profiles taken (``--profile``).
    """
    args: argparse.Namespace
    cfg: Config
    device: torch.device
    amp_dtype: Optional[torch.dtype]
    clip_len: int
    batch_sizes: List[int]
    results: Dict[str, Any]
    profiles: Dict[str, Any] = field(default_factory=dict)

    def done(self, what: str) -> None:
        """After each measurement: a progress line on stderr, and the
        numbers so far in ``--out`` (a run stopped by a time limit keeps
        them)."""
        progress(what)
        if self.args.out:
            out = Path(self.args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(self.results, indent=2))

    def profile(self, b: int) -> bool:
        """Whether to profile at batch size ``b`` (the first one)."""
        return self.args.profile and b == self.batch_sizes[0]


def settings(args: argparse.Namespace, cfg: Config, device: torch.device,
             clip_len: int, batch_sizes: List[int]) -> Dict[str, Any]:
    """The run's settings, as the JSON records them (``settings``)."""
    codec = tsal_codec_config(cfg)
    weights = args.checkpoint or 'random initialisation'
    if args.fit_steps:
        what = 'the benchmark batch' if args.fit_clips is None else \
            f'the first {args.fit_clips} clips of the benchmark batch'
        weights += f', then fitted to {what} for {args.fit_steps} steps'
    hook = build_teacher_hook(cfg)
    return dict(
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
        weights=weights,
        teacher_hook=None if hook is None else dict(
            queue_size=hook.queue_size, smoothing=hook.smoothing))


def headline_ratios(first: Dict[str, Any]) -> Dict[str, Any]:
    """The :data:`RATIO_KEYS` measured at the first batch size."""
    out = {}
    if 'train' in first:
        out['train_step'] = first['train']['ratio']
    if 'inference' in first:
        out['inference'] = first['inference']['ratio']
    if 'ratio' in first.get('loader', {}):
        out['loader_over_consumption'] = first['loader']['ratio']
    if 'memory' in first:
        out['peak_memory_train'] = summarize([first['memory']['ratio_train']])
    return out
