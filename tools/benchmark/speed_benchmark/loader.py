"""Throughput of the config's clip data pipeline."""
from __future__ import annotations

import time
import warnings
from typing import Any, Dict, Optional

from mmengine.config import Config
from mmengine.registry import DefaultScope

from .models import plain_dict

__all__ = ['measure_loader', 'synthetic_data_root']


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
    set_multi_processing(
        **plain_dict(cfg.get('env_cfg', {}).get('mp_cfg', {})))
    dl_cfg = plain_dict(cfg.train_dataloader)
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


def synthetic_data_root(folder: str, frames: int, videos: int) -> str:
    """Generate a small converted 300VW-layout benchmark into ``folder``.

    Args:
        folder (str): An empty (temporary) folder.
        frames (int): Frames per video.
        videos (int): Training videos (plus one easy and one hard test
            video).

    Returns:
        str: The data root (``folder`` with a trailing slash).
    """
    from tsal_mmpose.datasets.synthetic.generator import (GeneratorConfig,
                                                          generate_benchmark)
    generate_benchmark(
        folder,
        GeneratorConfig(
            train_videos=videos,
            test_easy_videos=1,
            test_hard_videos=1,
            frames=frames),
        convert=True,
        progress=False,
        log=None)
    return folder + '/'

