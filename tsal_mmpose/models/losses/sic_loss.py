"""Facial structure invariant constraint, L_I (Eq. 2)."""
from typing import Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

__all__ = ['face_box_width', 'sic_loss', 'SICLoss']


def face_box_width(points: Tensor) -> Tensor:
    """Face box width ``max_n x_n - min_n x_n`` (Sec. 3.2, below Eq. 2).

    Args:
        points (Tensor): ``[..., N, 2]`` landmarks (e.g. ``p_C``).

    Returns:
        Tensor: ``[...]`` widths in the unit of ``points``.
    """
    xs = points[..., 0]
    return xs.amax(dim=-1) - xs.amin(dim=-1)


def sic_loss(offsets: Tensor, box_w: Tensor, eps: float = 1e-6) -> Tensor:
    """Eq. 2, facial structure invariant constraint.

    Per clip of ``K`` frames, with ``S_i = sum_n ||O_n(i)||_2`` the sum of
    the offset moduli read at the face centre of frame ``i`` and
    ``a_i = S_i / box_w_i``::

        L_I = 1/K * sum_{i < j} (a_i - a_j)^2 = sum_i (a_i - mean_j a_j)^2

    (the centred form is used: it is exact and free of cancellation),
    averaged over the ``B`` clips. The norm is ``sqrt(dx^2 + dy^2 + 1e-12)``
    (finite gradient at zero offsets); widths are clamped to ``eps``.

    Args:
        offsets (Tensor): ``[B, K, N, 2]`` offsets at each frame's centre.
        box_w (Tensor): ``[B, K]`` face box widths, same unit as offsets.
        eps (float): Lower bound of the widths. Defaults to 1e-6.

    Returns:
        Tensor: Scalar loss (unitless).
    """
    assert offsets.dim() == 4 and offsets.shape[-1] == 2, offsets.shape
    assert box_w.shape == offsets.shape[:2], (box_w.shape, offsets.shape)
    norms = torch.sqrt(offsets.pow(2).sum(dim=-1) + 1e-12)  # [B, K, N]
    a = norms.sum(dim=-1) / box_w.clamp(min=eps)  # [B, K]
    per_clip = (a - a.mean(dim=1, keepdim=True)).pow(2).sum(dim=1)
    return per_clip.mean()


@MODELS.register_module()
class SICLoss(nn.Module):
    """Module wrapper of :func:`sic_loss` (Eq. 2).

    The face box widths only normalise: no gradient flows through them.

    Args:
        eps (float): Lower bound of the widths. Defaults to 1e-6.
        loss_weight (float): Multiplier. Defaults to 1.
    """

    def __init__(self, eps: float = 1e-6, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, offsets: Tensor, box_w: Optional[Tensor] = None,
                points: Optional[Tensor] = None) -> Tensor:
        """Compute the weighted L_I.

        Args:
            offsets (Tensor): ``[B, K, N, 2]``.
            box_w (Tensor, optional): ``[B, K]``. If omitted, computed from
                ``points`` with :func:`face_box_width`.
            points (Tensor, optional): ``[B, K, N, 2]`` landmarks (``p_C``).

        Returns:
            Tensor: Scalar loss.
        """
        if box_w is None:
            assert points is not None, 'give box_w or points'
            box_w = face_box_width(points)
        return self.loss_weight * sic_loss(offsets, box_w.detach(), self.eps)
