"""Eq. 8 of the TSAL paper as pure functions: which tensors it averages, and
the in-place average itself."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ['queue_average_', 'split_tensors']


def split_tensors(module: nn.Module) -> tuple[dict[str, Tensor],
                                              dict[str, Tensor]]:
    """Split a network's tensors by how Eq. 8 treats them.

    Parameters and floating-point buffers (BatchNorm ``running_mean`` and
    ``running_var``) are averaged: Algorithm 1 averages the whole network
    state, and statistics measured by the teacher with its weights before the
    average would no longer describe the averaged weights. Integer buffers
    (``num_batches_tracked``) cannot be averaged and are copied from the
    student.

    Args:
        module (nn.Module): A teacher or student network.

    Returns:
        tuple[dict[str, Tensor], dict[str, Tensor]]: The averaged tensors
        (parameters, then floating-point buffers) and the copied buffers,
        each by name in the module's order.
    """
    averaged, copied = dict(module.named_parameters()), {}
    for name, buffer in module.named_buffers():
        (averaged if buffer.is_floating_point() else copied)[name] = buffer
    return averaged, copied


@torch.no_grad()
def queue_average_(teacher_tensors: Sequence[Tensor],
                   queue: Sequence[Sequence[Tensor]],
                   smoothing: float) -> Sequence[Tensor]:
    """Average the teacher towards the mean of a student queue (Eq. 8).

    ``Theta^R <- lambda * Theta^R + (1 - lambda) * Avg(T)`` with
    ``T = [Theta^S_{t-n+1}, ..., Theta^S_t]``, applied tensor by tensor.

    Evaluated as ``teacher *= lambda``, then ``teacher += (1 - lambda) / n *
    snapshot`` for each snapshot, oldest first: no model-sized temporary, and
    the result depends only on the teacher and the queue's contents (see
    docs/design/queue_teacher_hook.md). With lambda = 0 the teacher is
    overwritten (a non-finite teacher does not survive as ``0 * nan``); with
    lambda = 1 it is left as it is.

    Args:
        teacher_tensors (Sequence[Tensor]): The teacher's tensors Theta^R, of
            any shapes; modified in place.
        queue (Sequence[Sequence[Tensor]]): n >= 1 snapshots, each holding
            one tensor per teacher tensor, in the same order, shape and dtype.
        smoothing (float): lambda in [0, 1], the teacher's own weight.

    Returns:
        Sequence[Tensor]: ``teacher_tensors``, updated.

    Raises:
        ValueError: If ``smoothing`` is outside [0, 1], the queue is empty or
            a snapshot holds another number of tensors than the teacher.
    """
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f'smoothing must be in [0, 1], got {smoothing!r}')
    if not queue:
        raise ValueError('Eq. 8 needs at least one student snapshot')
    for i, snapshot in enumerate(queue):
        if len(snapshot) != len(teacher_tensors):
            raise ValueError(
                f'snapshot {i} holds {len(snapshot)} tensors, the teacher '
                f'{len(teacher_tensors)}')
    if smoothing == 1.0 or not teacher_tensors:
        return teacher_tensors
    teacher = list(teacher_tensors)
    if smoothing == 0.0:
        torch._foreach_zero_(teacher)
    else:
        torch._foreach_mul_(teacher, smoothing)
    weight = (1.0 - smoothing) / len(queue)
    for snapshot in queue:
        torch._foreach_add_(teacher, list(snapshot), alpha=weight)
    return teacher_tensors
