"""Motion field deviation suppression, L_D (Eq. 3)."""
from mmpose.registry import MODELS
from torch import Tensor, nn

__all__ = ['mfds_loss', 'MFDSLoss']


def mfds_loss(tracked: Tensor, detected: Tensor) -> Tensor:
    """Eq. 3, motion field deviation suppression.

    ``L_D = || phi(V, p_M(0))(K-1) - p_M(K-1) ||_2^2``, normalised as the
    mean over clips of ``1/N * sum_n ||t_n - d_n||_2^2`` (the mean squared
    Euclidean distance per landmark). The detection is the target: it is
    detached here, so the gradient reaches only the motion field (through
    ``tracked``).

    Args:
        tracked (Tensor): ``[B, N, 2]`` landmarks of frame 0 tracked to
            frame ``K-1`` (heatmap pixels).
        detected (Tensor): ``[B, N, 2]`` detected ``p_M`` of frame ``K-1``.

    Returns:
        Tensor: Scalar loss in squared heatmap pixels.
    """
    assert tracked.shape == detected.shape and tracked.shape[-1] == 2
    sq = (tracked - detected.detach()).pow(2).sum(dim=-1)  # [B, N]
    return sq.mean(dim=-1).mean()


@MODELS.register_module()
class MFDSLoss(nn.Module):
    """Module wrapper of :func:`mfds_loss` (Eq. 3).

    Args:
        loss_weight (float): Multiplier. Defaults to 1.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, tracked: Tensor, detected: Tensor) -> Tensor:
        """Args: ``tracked``, ``detected``: ``[B, N, 2]``.

        Returns:
            Tensor: Scalar weighted loss.
        """
        return self.loss_weight * mfds_loss(tracked, detected)
