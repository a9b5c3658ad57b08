"""Motion field deviation suppression, L_D (Eq. 3)."""
from typing import Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

__all__ = ['mfds_loss', 'MFDSLoss']


def mfds_loss(tracked: Tensor,
              detected: Tensor,
              weights: Optional[Tensor] = None) -> Tensor:
    """Eq. 3, motion field deviation suppression.

    ``L_D = || phi(V, p_M(0))(K-1) - p_M(K-1) ||_2^2``, normalised as the
    mean over clips of ``1/N * sum_n ||t_n - d_n||_2^2`` (the mean squared
    Euclidean distance per landmark). The detection is the target: it is
    detached here, so the gradient reaches only the motion field (through
    ``tracked``).

    With ``weights`` (e.g. 0 for landmarks invisible on the clip's labelled
    frame, whose detections have no position to agree on), a clip's term
    is the weighted mean ``sum_n w_n ||t_n - d_n||^2 / sum_n w_n``; a clip
    without any weight adds 0 to the mean over clips. All-one weights give
    the unweighted value.

    Args:
        tracked (Tensor): ``[B, N, 2]`` landmarks of frame 0 tracked to
            frame ``K-1`` (heatmap pixels).
        detected (Tensor): ``[B, N, 2]`` detected ``p_M`` of frame ``K-1``.
        weights (Tensor, optional): ``[B, N]`` landmark weights; default 1.

    Returns:
        Tensor: Scalar loss in squared heatmap pixels.
    """
    assert tracked.shape == detected.shape and tracked.shape[-1] == 2
    sq = (tracked - detected.detach()).pow(2).sum(dim=-1)  # [B, N]
    if weights is None:
        return sq.mean(dim=-1).mean()
    assert weights.shape == sq.shape, (weights.shape, sq.shape)
    weights = weights.to(sq.dtype)
    # a clip without weight has a zero numerator: any positive divisor
    total = weights.sum(dim=-1).clamp(min=torch.finfo(sq.dtype).tiny)
    per_clip = (sq * weights).sum(dim=-1) / total
    return per_clip.mean()


@MODELS.register_module()
class MFDSLoss(nn.Module):
    """Module wrapper of :func:`mfds_loss` (Eq. 3).

    Args:
        loss_weight (float): Multiplier. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                tracked: Tensor,
                detected: Tensor,
                weights: Optional[Tensor] = None) -> Tensor:
        """Args: ``tracked``, ``detected``: ``[B, N, 2]``; ``weights``:
        ``[B, N]`` (optional, see :func:`mfds_loss`).

        Returns:
            Tensor: Scalar weighted loss.
        """
        return self.loss_weight * mfds_loss(tracked, detected, weights)
