"""Unsupervised motion-field loss, l_E in Eq. 1.

The motion field estimation module is trained without labels (Zhu et al.,
Hidden Two-Stream): an occlusion-aware photometric reconstruction term
plus an edge-aware first-order smoothness term, both evaluated at the flow
resolution on images area-downsampled to it.
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn

from ..utils.flow_ops import warp_image

__all__ = [
    'charbonnier', 'out_of_frame_mask', 'forward_backward_occlusion',
    'photometric_loss', 'edge_aware_smoothness', 'motion_field_loss',
    'MotionFieldLoss'
]


def charbonnier(x: Tensor, alpha: float = 0.45, eps: float = 1e-3) -> Tensor:
    """Generalised Charbonnier penalty ``(x^2 + eps^2)^alpha``.

    Args:
        x (Tensor): Any shape.
        alpha (float): Exponent. Defaults to 0.45.
        eps (float): Smoothing constant. Defaults to 1e-3.

    Returns:
        Tensor: Same shape as ``x``.
    """
    return (x * x + eps * eps).pow(alpha)


@torch.no_grad()
def out_of_frame_mask(flow: Tensor) -> Tensor:
    """1 where ``x + flow(x)`` stays inside the grid, else 0.

    Args:
        flow (Tensor): ``[B, 2, h, w]`` pixels.

    Returns:
        Tensor: ``[B, 1, h, w]`` float mask (no gradient).
    """
    _, _, h, w = flow.shape
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device)
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device)
    tx = xs.view(1, 1, w) + flow[:, 0]
    ty = ys.view(1, h, 1) + flow[:, 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return inside.unsqueeze(1).to(flow.dtype)


@torch.no_grad()
def forward_backward_occlusion(flow_fw: Tensor,
                               flow_bw: Tensor,
                               alpha1: float = 0.01,
                               alpha2: float = 0.5) -> Tensor:
    """Non-occlusion mask from forward-backward consistency (UnFlow).

    A pixel of the first frame is visible when
    ``|F(x) + B(x + F(x))|^2 < alpha1 (|F(x)|^2 + |B(x + F(x))|^2) + alpha2``.

    Args:
        flow_fw (Tensor): ``[B, 2, h, w]`` flow frame i -> i+1.
        flow_bw (Tensor): ``[B, 2, h, w]`` flow frame i+1 -> i.
        alpha1 (float): Relative tolerance. Defaults to 0.01.
        alpha2 (float): Absolute tolerance, squared pixels. Defaults to 0.5.

    Returns:
        Tensor: ``[B, 1, h, w]`` float mask of frame i (no gradient).
    """
    bw_at_fw = warp_image(flow_bw, flow_fw)
    diff = (flow_fw + bw_at_fw).pow(2).sum(dim=1, keepdim=True)
    mag = (flow_fw.pow(2) + bw_at_fw.pow(2)).sum(dim=1, keepdim=True)
    return (diff < alpha1 * mag + alpha2).to(flow_fw.dtype)


def photometric_loss(img1: Tensor,
                     img2: Tensor,
                     flow: Tensor,
                     mask: Optional[Tensor] = None,
                     alpha: float = 0.45,
                     eps: float = 1e-3) -> Tensor:
    """Masked Charbonnier error of ``img1`` vs ``img2`` warped back by flow.

    ``sum(mask * rho(img1 - warp(img2, flow))) / (C * sum(mask))``.

    Args:
        img1 (Tensor): ``[B, C, h, w]`` frame i.
        img2 (Tensor): ``[B, C, h, w]`` frame i+1.
        flow (Tensor): ``[B, 2, h, w]`` flow i -> i+1 (pixels).
        mask (Tensor, optional): ``[B, 1, h, w]`` valid pixels of frame i.
        alpha (float): Charbonnier exponent. Defaults to 0.45.
        eps (float): Charbonnier constant. Defaults to 1e-3.

    Returns:
        Tensor: Scalar (0 if the mask is empty).
    """
    err = charbonnier(img1 - warp_image(img2, flow), alpha, eps)
    if mask is None:
        return err.mean()
    mask = mask.to(err.dtype)
    return (err * mask).sum() / (mask.sum() * err.shape[1]).clamp(min=1.0)


def edge_aware_smoothness(flow: Tensor, img: Tensor,
                          edge_alpha: float = 2.5) -> Tensor:
    """First-order edge-aware smoothness of a flow field.

    ``0.5 * (mean |d_x V| exp(-a |d_x I|) + mean |d_y V| exp(-a |d_y I|))``
    with ``|d I|`` averaged over the image channels.

    Args:
        flow (Tensor): ``[B, 2, h, w]``.
        img (Tensor): ``[B, C, h, w]`` image of the same frame.
        edge_alpha (float): Edge sensitivity ``a``. Defaults to 2.5.

    Returns:
        Tensor: Scalar.
    """
    wx = torch.exp(-edge_alpha * (img[..., :, 1:] - img[..., :, :-1]).abs()
                   .mean(dim=1, keepdim=True))
    wy = torch.exp(-edge_alpha * (img[..., 1:, :] - img[..., :-1, :]).abs()
                   .mean(dim=1, keepdim=True))
    gx = (flow[..., :, 1:] - flow[..., :, :-1]).abs()
    gy = (flow[..., 1:, :] - flow[..., :-1, :]).abs()
    return 0.5 * ((gx * wx).mean() + (gy * wy).mean())


def motion_field_loss(images: Tensor,
                      flows: Tensor,
                      backward_flows: Optional[Tensor] = None,
                      occlusion: str = 'border',
                      charbonnier_alpha: float = 0.45,
                      charbonnier_eps: float = 1e-3,
                      edge_alpha: float = 2.5,
                      fb_alpha1: float = 0.01,
                      fb_alpha2: float = 0.5,
                      min_valid_fraction: float = 0.5) -> Dict[str, Tensor]:
    """l_E of Eq. 1: photometric + edge-aware smoothness over a clip.

    For every consecutive pair the first frame is reconstructed from the
    second with the forward flow (and, if ``backward_flows`` is given, the
    second from the first with the backward flow); pixels are masked by
    ``occlusion``: ``'none'``, ``'border'`` (out-of-frame targets) or
    ``'fb'`` (border and forward-backward consistency; needs
    ``backward_flows``, else it falls back to ``'border'``). A pair whose
    mask keeps less than ``min_valid_fraction`` of its pixels is not masked
    at all: a flow that masks itself out (everything out of frame or
    inconsistent, as happens early on while forward and backward flows
    still agree in sign) would otherwise get zero loss and zero gradient
    forever. Images are area-downsampled to the flow resolution.

    Args:
        images (Tensor): ``[B, K, C, H, W]``.
        flows (Tensor): ``[B, K-1, 2, h, w]`` forward flows (pixels of h x w).
        backward_flows (Tensor, optional): ``[B, K-1, 2, h, w]``, flow from
            frame i+1 back to frame i.
        occlusion (str): Masking mode. Defaults to ``'border'``.
        charbonnier_alpha (float): Defaults to 0.45.
        charbonnier_eps (float): Defaults to 1e-3.
        edge_alpha (float): Smoothness edge sensitivity. Defaults to 2.5.
        fb_alpha1 (float): Forward-backward relative tolerance.
        fb_alpha2 (float): Forward-backward absolute tolerance (px^2).
        min_valid_fraction (float): Below this kept fraction a pair is not
            masked. Defaults to 0.5.

    Returns:
        dict: ``photometric`` and ``smoothness`` scalars (unweighted).
    """
    if occlusion not in ('none', 'border', 'fb'):
        raise ValueError(f'unknown occlusion mode {occlusion!r}')
    b, k, c, _, _ = images.shape
    h, w = flows.shape[-2], flows.shape[-1]
    assert flows.shape[:2] == (b, k - 1), (flows.shape, images.shape)
    small = F.interpolate(
        images.flatten(0, 1), size=(h, w), mode='area').view(b, k, c, h, w)
    first = small[:, :-1].flatten(0, 1)  # [B*(K-1), C, h, w]
    second = small[:, 1:].flatten(0, 1)
    fw = flows.flatten(0, 1)
    directions = [(first, second, fw)]
    bw = None
    if backward_flows is not None:
        bw = backward_flows.flatten(0, 1)
        directions.append((second, first, bw))

    photo, smooth = [], []
    for img_a, img_b, flow in directions:
        mask = None
        if occlusion != 'none':
            mask = out_of_frame_mask(flow)
            if occlusion == 'fb' and bw is not None:
                other = bw if flow is fw else fw
                mask = mask * forward_backward_occlusion(
                    flow, other, fb_alpha1, fb_alpha2)
            kept = mask.mean(dim=(1, 2, 3), keepdim=True)
            mask = torch.where(kept < min_valid_fraction,
                               torch.ones_like(mask), mask)
        photo.append(
            photometric_loss(img_a, img_b, flow, mask, charbonnier_alpha,
                             charbonnier_eps))
        smooth.append(edge_aware_smoothness(flow, img_a, edge_alpha))
    return dict(
        photometric=torch.stack(photo).mean(),
        smoothness=torch.stack(smooth).mean())


@MODELS.register_module()
class MotionFieldLoss(nn.Module):
    """Module wrapper of :func:`motion_field_loss` (l_E, Eq. 1).

    Args:
        loss_weight (float): Weight of the photometric term. Defaults to 1.
        smooth_weight (float): Weight of the smoothness term. Defaults to
            0.1.
        occlusion (str): ``'none'`` | ``'border'`` | ``'fb'``. Defaults to
            ``'border'`` (forward-backward masking is best switched on once
            the flows have started to converge).
        charbonnier_alpha (float): Defaults to 0.45.
        charbonnier_eps (float): Defaults to 1e-3.
        edge_alpha (float): Defaults to 2.5, for mmpose-normalised images
            (mean/std, about 4.4 times the [0, 1] scale; 2.5 there is about
            10 on [0, 1] images).
        fb_alpha1 (float): Defaults to 0.01.
        fb_alpha2 (float): Defaults to 0.5.
        min_valid_fraction (float): Pairs whose mask keeps less are not
            masked. Defaults to 0.5.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 smooth_weight: float = 0.1,
                 occlusion: str = 'border',
                 charbonnier_alpha: float = 0.45,
                 charbonnier_eps: float = 1e-3,
                 edge_alpha: float = 2.5,
                 fb_alpha1: float = 0.01,
                 fb_alpha2: float = 0.5,
                 min_valid_fraction: float = 0.5) -> None:
        super().__init__()
        if occlusion not in ('none', 'border', 'fb'):
            raise ValueError(f'unknown occlusion mode {occlusion!r}')
        self.loss_weight = loss_weight
        self.smooth_weight = smooth_weight
        self.occlusion = occlusion
        self.charbonnier_alpha = charbonnier_alpha
        self.charbonnier_eps = charbonnier_eps
        self.edge_alpha = edge_alpha
        self.fb_alpha1 = fb_alpha1
        self.fb_alpha2 = fb_alpha2
        self.min_valid_fraction = min_valid_fraction

    @property
    def needs_backward_flows(self) -> bool:
        """Whether the forward-backward occlusion check is on."""
        return self.occlusion == 'fb'

    def forward(self,
                images: Tensor,
                flows: Tensor,
                backward_flows: Optional[Tensor] = None
                ) -> Dict[str, Tensor]:
        """Compute the weighted l_E terms.

        Args:
            images (Tensor): ``[B, K, C, H, W]``.
            flows (Tensor): ``[B, K-1, 2, h, w]``.
            backward_flows (Tensor, optional): ``[B, K-1, 2, h, w]``.

        Returns:
            dict: ``loss_photometric`` and ``loss_smooth`` (weighted).
        """
        terms = motion_field_loss(
            images, flows, backward_flows, self.occlusion,
            self.charbonnier_alpha, self.charbonnier_eps, self.edge_alpha,
            self.fb_alpha1, self.fb_alpha2, self.min_valid_fraction)
        return {
            'loss_photometric': self.loss_weight * terms['photometric'],
            'loss_smooth':
            self.loss_weight * self.smooth_weight * terms['smoothness'],
        }
