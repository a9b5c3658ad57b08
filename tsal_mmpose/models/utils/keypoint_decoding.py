"""Batched torch decoding of the LHR and CLOR outputs (heatmap pixels).

The numpy codec ``TSALLabel`` decodes one face at a time for evaluation;
these functions decode a whole batch on the device for the training-time
signals ``p_M`` and ``p_C`` (Sec. 3.2) without leaving torch.
"""
from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor

__all__ = [
    'decode_heatmap_torch', 'decode_clor_torch', 'gather_offsets',
    'flip_clor_maps'
]


@torch.no_grad()
def decode_heatmap_torch(heatmaps: Tensor,
                         return_scores: bool = False
                         ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """LHR landmarks ``p_M``: argmax + quarter-pixel shift, no gradient.

    The shift moves each maximum by 0.25 px towards its larger horizontal /
    vertical neighbour, with the same border conditions as mmpose's
    ``refine_keypoints`` (so it agrees with ``TSALLabel.decode_heatmap``
    whenever the maxima are positive; unlike mmpose, non-positive maxima are
    not replaced by -1).

    Args:
        heatmaps (Tensor): ``[M, N, h, w]``.
        return_scores (bool): Also return the maxima. Defaults to False.

    Returns:
        Tensor | tuple: ``p_M`` ``[M, N, 2]`` in heatmap pixels (x, y), and
        the maxima ``[M, N]`` if ``return_scores``.
    """
    m, n, h, w = heatmaps.shape
    flat = heatmaps.reshape(m, n, h * w)
    scores, idx = flat.max(dim=-1)
    ys = torch.div(idx, w, rounding_mode='floor')
    xs = idx - ys * w

    def at(yy: Tensor, xx: Tensor) -> Tensor:
        yy = yy.clamp(0, h - 1)
        xx = xx.clamp(0, w - 1)
        return flat.gather(-1, (yy * w + xx).unsqueeze(-1)).squeeze(-1)

    dx = at(ys, xs + 1) - at(ys, xs - 1)
    dy = at(ys + 1, xs) - at(ys - 1, xs)
    valid_x = (xs > 1) & (xs < w - 1) & (ys > 0)
    valid_y = (ys > 1) & (ys < h - 1) & (xs > 0)
    dx = torch.where(valid_x, dx, torch.zeros_like(dx))
    dy = torch.where(valid_y, dy, torch.zeros_like(dy))
    points = torch.stack((xs, ys), dim=-1).to(heatmaps.dtype)
    points = points + 0.25 * torch.stack((dx.sign(), dy.sign()), dim=-1)
    if return_scores:
        return points, scores
    return points


def gather_offsets(offset_map: Tensor, index: Tensor) -> Tensor:
    """Read the offsets of all landmarks at one pixel per image.

    Args:
        offset_map (Tensor): ``[M, 2N, h, w]``; channel ``2n`` = dx of
            landmark ``n``, ``2n + 1`` = dy.
        index (Tensor): ``[M]`` flat pixel index ``y * w + x`` (long).

    Returns:
        Tensor: ``[M, N, 2]``, differentiable in ``offset_map``.
    """
    m, c, h, w = offset_map.shape
    flat = offset_map.reshape(m, c, h * w)
    idx = index.reshape(m, 1, 1).expand(m, c, 1).long()
    return flat.gather(-1, idx).reshape(m, c // 2, 2)


def decode_clor_torch(center_logits: Tensor,
                      offset_map: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """CLOR landmarks ``p_C`` = face-centre peak + offsets read there.

    The centre is the argmax of the centre map (no gradient); the offsets
    keep their gradient, so ``p_C`` is differentiable in ``offset_map``
    (detach it where it serves as a target).

    Args:
        center_logits (Tensor): ``[M, 1, h, w]`` (logits or probabilities).
        offset_map (Tensor): ``[M, 2N, h, w]``.

    Returns:
        tuple:
        - p_C (Tensor): ``[M, N, 2]`` heatmap pixels.
        - offsets (Tensor): ``[M, N, 2]`` offsets at the centre, with grad.
        - center (Tensor): ``[M, 2]`` integer centre ``(x, y)`` as float.
    """
    m, _, h, w = center_logits.shape
    idx = center_logits.detach().reshape(m, h * w).argmax(dim=-1)
    cy = torch.div(idx, w, rounding_mode='floor')
    cx = idx - cy * w
    center = torch.stack((cx, cy), dim=-1).to(offset_map.dtype)
    offsets = gather_offsets(offset_map, idx)
    return center.unsqueeze(1) + offsets, offsets, center


def flip_clor_maps(center_map: Tensor,
                   offset_map: Tensor,
                   flip_indices: Optional[List[int]] = None,
                   shift: bool = False) -> Tuple[Tensor, Tensor]:
    """Map CLOR outputs of a horizontally flipped image back to the image.

    The centre map is mirrored; the offset map is mirrored, the landmark
    channel pairs are swapped by ``flip_indices`` and ``dx`` is negated
    (``dy`` is kept), so that centre + offsets give the landmarks of the
    unflipped image. ``shift`` moves the maps one pixel right, as mmpose's
    ``flip_heatmaps(shift_heatmap=True)``.

    Args:
        center_map (Tensor): ``[M, 1, h, w]``.
        offset_map (Tensor): ``[M, 2N, h, w]``.
        flip_indices (list[int], optional): Symmetric landmark of each one.
        shift (bool): Shift by one pixel. Defaults to False.

    Returns:
        tuple: flipped ``center_map`` ``[M, 1, h, w]`` and ``offset_map``
        ``[M, 2N, h, w]``.
    """
    m, c, h, w = offset_map.shape
    center_map = center_map.flip(-1)
    offsets = offset_map.flip(-1).reshape(m, c // 2, 2, h, w)
    if flip_indices is not None:
        assert len(flip_indices) == c // 2
        offsets = offsets[:, list(flip_indices)]
    offsets = torch.cat((-offsets[:, :, :1], offsets[:, :, 1:]), dim=2)
    offset_map = offsets.reshape(m, c, h, w)
    if shift:
        center_map = torch.cat((center_map[..., :1], center_map[..., :-1]),
                               dim=-1)
        offset_map = torch.cat((offset_map[..., :1], offset_map[..., :-1]),
                               dim=-1)
    return center_map, offset_map
