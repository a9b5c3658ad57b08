"""Face-centre heatmap loss of the CLOR branch (part of l_C in Eq. 1)."""
import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn

__all__ = ['center_focal_loss', 'CenterFocalLoss']


def center_focal_loss(pred_logits: Tensor,
                      target_heatmap: Tensor,
                      alpha: float = 2.0,
                      beta: float = 4.0) -> Tensor:
    """Penalty-reduced pixel-wise focal loss of "Objects as Points".

    With ``p = sigmoid(pred_logits)`` and target ``y``::

        L = -1/P * sum_{y == 1} (1 - p)^alpha log(p)
            -1/P * sum_{y < 1} (1 - y)^beta p^alpha log(1 - p)

    where ``P = max(1, #{y == 1})`` is the number of peaks. The logs are
    computed with ``logsigmoid`` (stable for large logits).

    Args:
        pred_logits (Tensor): ``[M, 1, h, w]`` centre-map logits.
        target_heatmap (Tensor): ``[M, 1, h, w]`` Gaussian target, peaks 1.
        alpha (float): Focusing exponent. Defaults to 2.
        beta (float): Penalty-reduction exponent. Defaults to 4.

    Returns:
        Tensor: Scalar loss.
    """
    target = target_heatmap.to(pred_logits.dtype)
    prob = torch.sigmoid(pred_logits)
    pos = target.eq(1).to(pred_logits.dtype)
    neg = 1.0 - pos
    pos_term = (1 - prob).pow(alpha) * F.logsigmoid(pred_logits) * pos
    neg_term = ((1 - target).pow(beta) * prob.pow(alpha) *
                F.logsigmoid(-pred_logits) * neg)
    num_pos = pos.sum().clamp(min=1.0)
    return -(pos_term.sum() + neg_term.sum()) / num_pos


@MODELS.register_module()
class CenterFocalLoss(nn.Module):
    """Module wrapper of :func:`center_focal_loss`.

    Args:
        alpha (float): Focusing exponent. Defaults to 2.
        beta (float): Penalty-reduction exponent. Defaults to 4.
        loss_weight (float): Multiplier. Defaults to 1.
    """

    def __init__(self,
                 alpha: float = 2.0,
                 beta: float = 4.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.loss_weight = loss_weight

    def forward(self, pred_logits: Tensor, target_heatmap: Tensor) -> Tensor:
        """Args: ``pred_logits``, ``target_heatmap``: ``[M, 1, h, w]``.

        Returns:
            Tensor: Scalar weighted loss.
        """
        return self.loss_weight * center_focal_loss(
            pred_logits, target_heatmap, self.alpha, self.beta)
