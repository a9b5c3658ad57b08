"""Pseudo-heatmap supervision of the unlabelled frames (Eqs. 4 and 5)."""
import math
from typing import Optional, Tuple, Union

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

__all__ = [
    'render_gaussian_heatmaps', 'pseudo_heatmap_loss',
    'student_pseudo_targets', 'PseudoHeatmapLoss'
]


@torch.no_grad()
def render_gaussian_heatmaps(
    points: Tensor,
    heatmap_size: Tuple[int, int],
    sigma: float,
    keypoints_visible: Optional[Tensor] = None,
    return_weights: bool = False,
) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Render landmark heatmaps exactly as the codec does (no gradient).

    Batched torch form of ``TSALLabel``'s landmark targets: peak at
    ``mu = floor(p + 1/2)``, value
    ``exp(-((x - mu_x)^2 + (y - mu_y)^2) / (2 sigma^2))`` for offsets
    ``x - mu_x`` and ``y - mu_y`` in ``[-ceil(3 sigma), floor(3 sigma)]``,
    0 elsewhere; landmarks that are invisible (``< 0.5``) or whose window
    misses the map give an empty heatmap and weight 0.

    Args:
        points (Tensor): ``[M, N, 2]`` heatmap pixels ``(x, y)``.
        heatmap_size (tuple): ``(w, h)``.
        sigma (float): Gaussian sigma in heatmap pixels.
        keypoints_visible (Tensor, optional): ``[M, N]``.
        return_weights (bool): Also return the weights. Defaults to False.

    Returns:
        Tensor | tuple: heatmaps ``[M, N, h, w]`` (dtype of ``points`` if
        floating, else float32) and, if ``return_weights``, weights
        ``[M, N]``.
    """
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    dtype = points.dtype if points.is_floating_point() else torch.float32
    lo, hi = -math.ceil(3 * sigma), math.floor(3 * sigma)
    mu = torch.floor(points.to(dtype) + 0.5)  # [M, N, 2]
    dx = torch.arange(w, dtype=dtype, device=points.device) - mu[..., 0:1]
    dy = torch.arange(h, dtype=dtype, device=points.device) - mu[..., 1:2]
    in_x = (dx >= lo) & (dx <= hi)  # [M, N, w]
    in_y = (dy >= lo) & (dy <= hi)  # [M, N, h]
    valid = in_x.any(dim=-1) & in_y.any(dim=-1)
    if keypoints_visible is not None:
        valid = valid & (keypoints_visible >= 0.5)
    # separable: exp(-(dx^2 + dy^2) / (2 s^2)) is the product of the x and y
    # factors; the window and the validity are folded into the factors
    zero = dx.new_zeros(())
    gx = torch.where(in_x & valid.unsqueeze(-1),
                     torch.exp(-dx.pow(2) / (2 * sigma**2)), zero)
    gy = torch.where(in_y, torch.exp(-dy.pow(2) / (2 * sigma**2)), zero)
    heatmaps = gy.unsqueeze(-1) * gx.unsqueeze(-2)
    if return_weights:
        return heatmaps, valid.to(dtype)
    return heatmaps


def pseudo_heatmap_loss(pred_heatmaps: Tensor,
                        target_points: Tensor,
                        sigma: float,
                        target_weights: Optional[Tensor] = None) -> Tensor:
    """Eq. 4, pseudo-heatmap loss of the unlabelled frames of a clip.

    Per clip::

        L_d = sum_{i=1}^{K-1} sum_n w_{i,n} ||G(t_n(i)) - H_n(i)||_2^2
              / (N w h (K-1))

    with ``G`` the codec's Gaussian (:func:`render_gaussian_heatmaps`,
    rendered without gradient), averaged over clips. The teacher's targets
    are the tracks ``phi(V^R, p_l)`` (Eq. 4), the student's come from
    :func:`student_pseudo_targets` (Eq. 5).

    Args:
        pred_heatmaps (Tensor): ``[B, K-1, N, h, w]`` predictions of the
            unlabelled frames 1..K-1.
        target_points (Tensor): ``[B, K-1, N, 2]`` heatmap pixels.
        sigma (float): Gaussian sigma in heatmap pixels (the codec's).
        target_weights (Tensor, optional): ``[B, K-1, N]``; default 1.

    Returns:
        Tensor: Scalar loss.
    """
    b, t, n, h, w = pred_heatmaps.shape
    assert target_points.shape == (b, t, n, 2), target_points.shape
    target = render_gaussian_heatmaps(
        target_points.detach().reshape(b * t, n, 2), (w, h), sigma)
    target = target.reshape(b, t, n, h, w).to(pred_heatmaps.dtype)
    sq = (target - pred_heatmaps).pow(2).sum(dim=(-2, -1))  # [B, K-1, N]
    if target_weights is not None:
        sq = sq * target_weights.to(sq.dtype)
    per_clip = sq.sum(dim=(1, 2)) / (n * w * h * t)
    return per_clip.mean()


def student_pseudo_targets(tracks: Tensor, p_c: Tensor,
                           mu: float = 0.6) -> Tensor:
    """Eq. 5 (as corrected), the student's multi-source target points.

    ``mu * phi(V^S, p_l)(i) + (1 - mu) * p_C^S(i)`` for the unlabelled
    frames, detached; its loss is :func:`pseudo_heatmap_loss` of these
    targets. ``mu = 0.6`` is the paper's best value (Fig. 6).

    Args:
        tracks (Tensor): ``[..., N, 2]`` tracked landmarks (heatmap px).
        p_c (Tensor): ``[..., N, 2]`` CLOR landmarks of the same frames.
        mu (float): Weight of the tracks. Defaults to 0.6.

    Returns:
        Tensor: ``[..., N, 2]`` detached targets.
    """
    return (mu * tracks + (1.0 - mu) * p_c).detach()


@MODELS.register_module()
class PseudoHeatmapLoss(nn.Module):
    """Module wrapper of :func:`pseudo_heatmap_loss` (Eqs. 4/5).

    Targets whose Gaussian misses the map get weight 0, as the codec's
    ``keypoint_weights`` give the labelled ones.

    Args:
        sigma (float): Gaussian sigma in heatmap pixels; use the codec's.
            Defaults to 1.5.
        loss_weight (float): Multiplier. Defaults to 1.
    """

    def __init__(self, sigma: float = 1.5, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.sigma = sigma
        self.loss_weight = loss_weight

    def forward(self,
                pred_heatmaps: Tensor,
                target_points: Tensor,
                target_weights: Optional[Tensor] = None) -> Tensor:
        """Compute the weighted pseudo-heatmap loss.

        Args:
            pred_heatmaps (Tensor): ``[B, K-1, N, h, w]``.
            target_points (Tensor): ``[B, K-1, N, 2]`` heatmap pixels.
            target_weights (Tensor, optional): ``[B, K-1, N]``.

        Returns:
            Tensor: Scalar weighted loss.
        """
        b, t, n, h, w = pred_heatmaps.shape
        _, inside = render_gaussian_heatmaps(
            target_points.detach().reshape(b * t, n, 2), (w, h), self.sigma,
            return_weights=True)
        inside = inside.reshape(b, t, n)
        target_weights = inside if target_weights is None else (
            target_weights * inside)
        return self.loss_weight * pseudo_heatmap_loss(
            pred_heatmaps, target_points, self.sigma, target_weights)
