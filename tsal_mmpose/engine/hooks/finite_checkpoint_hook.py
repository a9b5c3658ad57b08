"""Refuse to write a checkpoint whose weights are not finite."""
from typing import List

import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

__all__ = ['FiniteCheckpointHook', 'nonfinite_tensors']


def nonfinite_tensors(state_dict: dict) -> List[str]:
    """Names of the floating-point tensors with a NaN or infinite value.

    Args:
        state_dict (dict): Name -> tensor (other values are ignored).

    Returns:
        list[str]: The names, in the dict's order.
    """
    names = [
        name for name, value in state_dict.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point()
    ]
    if not names:
        return []
    # one host synchronisation for the whole model
    finite = torch.stack(
        [state_dict[name].isfinite().all() for name in names]).tolist()
    return [name for name, ok in zip(names, finite) if not ok]


@HOOKS.register_module()
class FiniteCheckpointHook(Hook):
    """Stop training rather than save non-finite weights.

    :class:`TSALEstimator` stops (or skips the batch) on a non-finite loss
    term before any optimizer step, but a finite loss can still have
    non-finite gradients. Just before mmengine writes a checkpoint, this
    hook checks every floating-point tensor of its ``state_dict``
    (parameters and buffers of both networks) and raises instead of letting
    the file be written.
    """

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise ``FloatingPointError`` naming the non-finite tensors."""
        bad = nonfinite_tensors(checkpoint.get('state_dict', {}))
        if bad:
            shown = ', '.join(bad[:5]) + (
                f' and {len(bad) - 5} more' if len(bad) > 5 else '')
            raise FloatingPointError(
                f'not saving a checkpoint (mmengine iter {runner.iter}, '
                f'epoch {runner.epoch}): non-finite values in {shown}. '
                'Training stops; the last checkpoint written is finite.')
