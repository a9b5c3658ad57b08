"""Distributed runs on CPUs (gloo) with mmengine's Runner."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = ['prepare_cpu_distributed']


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Make ``--launcher pytorch`` work without GPUs.

    mmengine 0.10 always calls ``torch.cuda.set_device`` when it starts a
    process group for the pytorch launcher, and gives DDP the local rank as
    device id; both fail without CUDA. On a machine without CUDA this joins
    the process group with the gloo backend itself (torchrun's environment
    variables give rank, world size and address; mmengine then skips its own
    initialisation) and makes DDP wrap the CPU model without device ids.

    Args:
        cfg (Config): The run's config; ``cfg.launcher`` is read, and
            ``env_cfg.dist_cfg`` and ``model_wrapper_cfg`` are updated.

    Returns:
        bool: whether CPU distributed training was set up.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    return True
