"""Point tracking and image warping with a dense motion field.

Convention (shared by the whole package): a flow ``V`` between frame ``i``
and frame ``i + 1`` is a ``[2, h, w]`` map in pixels of its own grid,
channel 0 = x displacement, channel 1 = y; ``V[:, y, x]`` moves a point at
``(x, y)`` in frame ``i`` to ``(x, y) + V[:, y, x]`` in frame ``i + 1``.
Pixel centres are at integer coordinates (``align_corners=True``).
"""
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['pixel_to_grid', 'sample_points', 'track_points', 'warp_image']


def pixel_to_grid(points: Tensor, height: int, width: int) -> Tensor:
    """Pixel coordinates to ``grid_sample`` coordinates (align_corners).

    Args:
        points (Tensor): ``[..., 2]`` pixel ``(x, y)``.
        height (int): Grid height ``h``.
        width (int): Grid width ``w``.

    Returns:
        Tensor: ``[..., 2]`` in ``[-1, 1]`` where ``-1``/``1`` are the
        centres of the first/last pixels.
    """
    scale = points.new_tensor([2.0 / max(width - 1, 1),
                               2.0 / max(height - 1, 1)])
    return points * scale - 1.0


def sample_points(field: Tensor, points: Tensor,
                  padding_mode: str = 'border') -> Tensor:
    """Bilinearly sample a dense field at sub-pixel points.

    Args:
        field (Tensor): ``[B, C, h, w]``.
        points (Tensor): ``[B, N, 2]`` pixel ``(x, y)`` on the field's grid.
        padding_mode (str): ``grid_sample`` padding. Defaults to
            ``'border'``.

    Returns:
        Tensor: ``[B, N, C]``; differentiable in ``field`` and ``points``.
    """
    h, w = field.shape[-2:]
    grid = pixel_to_grid(points, h, w).unsqueeze(1).to(field.dtype)
    out = F.grid_sample(
        field, grid, mode='bilinear', padding_mode=padding_mode,
        align_corners=True)  # [B, C, 1, N]
    return out[:, :, 0].transpose(1, 2)


def track_points(flows: Tensor, points: Tensor) -> Tensor:
    """Carry points through a clip with its motion fields, ``phi(V, g)``.

    ``g(0) = points`` and ``g(i + 1) = g(i) + V_i(g(i))``, where ``V_i`` is
    sampled bilinearly at ``g(i)`` with border padding (Sec. 3.2, the
    tracking source of Eqs. 3-5). The result is differentiable in the
    flows (through the sampled values and the sampling locations).

    Args:
        flows (Tensor): ``[B, K-1, 2, h, w]`` forward flows, pixels of the
            ``h x w`` grid.
        points (Tensor): ``[B, N, 2]`` points of frame 0 in the same pixels.

    Returns:
        Tensor: ``[B, K, N, 2]``; frame 0 equals ``points``.
    """
    assert flows.dim() == 5 and flows.shape[2] == 2, flows.shape
    assert points.dim() == 3 and points.shape[-1] == 2, points.shape
    tracks = [points]
    current = points
    for i in range(flows.shape[1]):
        current = current + sample_points(flows[:, i], current)
        tracks.append(current)
    return torch.stack(tracks, dim=1)


def warp_image(img: Tensor, flow: Tensor,
               padding_mode: str = 'border') -> Tensor:
    """Backward warping: ``out(x) = img(x + flow(x))``.

    With ``img`` = frame ``i + 1`` and ``flow`` = ``V_i``, ``out``
    reconstructs frame ``i``.

    Args:
        img (Tensor): ``[B, C, h, w]``.
        flow (Tensor): ``[B, 2, h, w]`` pixels of the same grid.
        padding_mode (str): ``grid_sample`` padding. Defaults to
            ``'border'``.

    Returns:
        Tensor: ``[B, C, h, w]``.
    """
    b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing='ij')
    base = torch.stack((xs, ys), dim=0).unsqueeze(0)  # [1, 2, h, w]
    target = (base + flow).permute(0, 2, 3, 1)  # [B, h, w, 2]
    grid = pixel_to_grid(target, h, w).to(img.dtype)
    return F.grid_sample(
        img, grid, mode='bilinear', padding_mode=padding_mode,
        align_corners=True)
