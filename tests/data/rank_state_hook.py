"""A test hook that saves each rank's model weights at the end of training."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS


@HOOKS.register_module()
class RankStateDumpHook(Hook):
    """Write ``rank<r>_state.pth`` (the unwrapped model's state dict)."""

    priority = 'LOWEST'

    def after_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        torch.save({k: v.cpu()
                    for k, v in model.state_dict().items()},
                   osp.join(runner.work_dir, f'rank{get_rank()}_state.pth'))
