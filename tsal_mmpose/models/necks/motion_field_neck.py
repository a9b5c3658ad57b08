"""Motion field estimation (MFE) module of TSAL (Sec. 3.1 and 3.2).

A small coarse-to-fine CNN predicts, for each pair of consecutive frames
of a clip, the forward flow at heatmap resolution in heatmap pixels. It is
trained without labels by l_E (:class:`MotionFieldLoss`) and, through the
tracks :func:`track_points`, by MFDS (Eq. 3).
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ..utils.flow_ops import track_points, warp_image

__all__ = [
    'MotionFieldNeck', 'local_correlation', 'track_points', 'warp_image'
]


def _conv(in_ch: int, out_ch: int, stride: int = 1,
          dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=dilation,
                  dilation=dilation),
        nn.LeakyReLU(0.1, inplace=True))


class _ShiftedDotProducts(torch.autograd.Function):
    """``out[:, i] = sum_c feat1 * feat2_padded[..., dy:dy + h, dx:dx + w]``.

    The same values as one product and sum per displacement under autograd,
    with a backward that accumulates every displacement's gradient in place
    into two buffers (autograd would allocate and zero-fill a padded
    gradient per displacement).
    """

    @staticmethod
    def forward(ctx: Any, feat1: Tensor, padded: Tensor,
                max_disp: int) -> Tensor:
        """``feat1`` ``[P, C, h, w]``, ``padded`` ``[P, C, h + 2d, w + 2d]``
        -> ``[P, (2d + 1)^2, h, w]``."""
        h, w = feat1.shape[-2:]
        span = 2 * max_disp + 1
        costs = [(feat1 * padded[..., dy:dy + h, dx:dx + w]).sum(1)
                 for dy in range(span) for dx in range(span)]
        ctx.save_for_backward(feat1, padded)
        ctx.span = span
        return torch.stack(costs, dim=1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor
                 ) -> Tuple[Optional[Tensor], Optional[Tensor], None]:
        feat1, padded = ctx.saved_tensors
        grad = grad.to(feat1.dtype)
        h, w = feat1.shape[-2:]
        need1, need2 = ctx.needs_input_grad[:2]
        grad1 = torch.zeros_like(feat1) if need1 else None
        grad2 = torch.zeros_like(padded) if need2 else None
        for i in range(ctx.span**2):
            dy, dx = divmod(i, ctx.span)
            g = grad[:, i:i + 1]
            if need1:
                grad1.addcmul_(g, padded[..., dy:dy + h, dx:dx + w])
            if need2:
                grad2[..., dy:dy + h, dx:dx + w].addcmul_(g, feat1)
        return grad1, grad2, None


def local_correlation(feat1: Tensor, feat2: Tensor,
                      max_disp: int) -> Tensor:
    """Cost volume: cosine similarity for displacements up to max_disp.

    Args:
        feat1 (Tensor): ``[P, C, h, w]``.
        feat2 (Tensor): ``[P, C, h, w]``.
        max_disp (int): Largest displacement ``d`` in pixels.

    Returns:
        Tensor: ``[P, (2d + 1)^2, h, w]``; channel ``(dy + d) * (2d + 1) +
        (dx + d)`` holds the cosine similarity of ``feat1(x)`` and
        ``feat2(x + (dx, dy))`` over channels (0 outside the map).
    """
    d = max_disp
    padded = F.pad(F.normalize(feat2, dim=1), (d, d, d, d))
    return _ShiftedDotProducts.apply(F.normalize(feat1, dim=1), padded, d)


@MODELS.register_module()
class MotionFieldNeck(BaseModule):
    """Coarse-to-fine flow network between consecutive frames.

    A shared (siamese) encoder of stride-2 convolutions computes a feature
    pyramid of every frame once, down to ``stride * 2^num_coarse_levels``.
    At the coarsest level a local cost volume (displacements up to
    ``max_displacement`` pixels of that level) and dilated convolutions
    predict a flow; each finer level down to the output stride warps the
    second frame's features by the upsampled flow, builds a small cost
    volume (``refine_displacement``) and predicts a residual flow. Flows at
    every level are kept in pixels of the OUTPUT grid (rescaled only for
    warping), so upsampling only resamples them spatially. The flow
    predictors start near zero (tracks start as identity).

    Convention: ``flows[b, i, :, y, x]`` moves a point at ``(x, y)`` of
    frame ``i`` to frame ``i + 1`` (channel 0 = x, 1 = y).

    Args:
        in_channels (int): Channels of one frame. Defaults to 3.
        base_channels (int): Channels of the first level; level ``l`` has
            ``base * min(2^(l-1), max_mult)``. Defaults to 16.
        max_mult (int): Channel multiplier cap. Defaults to 4.
        stride (int): Output stride (power of 2), i.e. image / heatmap
            size. Defaults to 4.
        num_coarse_levels (int): Levels below the output stride. Defaults
            to 2.
        max_displacement (int): Search range of the coarsest cost volume,
            pixels of that level. Defaults to 4.
        refine_displacement (int): Search range at the finer levels.
            Defaults to 2.
        dilations (Sequence[int]): Dilated context convolutions at the
            coarsest level. Defaults to ``(2, 4)``.
        loss (dict, optional): Config of the l_E loss; ``None`` leaves l_E
            out. Defaults to ``dict(type='MotionFieldLoss')``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 3,
                 base_channels: int = 16,
                 max_mult: int = 4,
                 stride: int = 4,
                 num_coarse_levels: int = 2,
                 max_displacement: int = 4,
                 refine_displacement: int = 2,
                 dilations: Sequence[int] = (2, 4),
                 loss: Optional[dict] = dict(type='MotionFieldLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        out_level = int(round(math.log2(stride)))
        if 2**out_level != stride or stride < 1:
            raise ValueError(f'stride must be a power of 2, got {stride}')
        self.stride = stride
        self.out_level = out_level
        self.num_levels = max(out_level + num_coarse_levels, 1)
        self.max_displacement = max_displacement
        self.refine_displacement = refine_displacement

        chans = [
            base_channels * min(2**i, max_mult)
            for i in range(self.num_levels)
        ]
        self.level_channels = chans
        encoders: List[nn.Module] = []
        prev = in_channels
        for ch in chans:
            encoders.append(nn.Sequential(_conv(prev, ch, stride=2),
                                          _conv(ch, ch)))
            prev = ch
        self.encoders = nn.ModuleList(encoders)
        corr_ch = (2 * max_displacement + 1)**2
        self.context = nn.Sequential(
            _conv(chans[-1] + corr_ch, chans[-1]),
            *[_conv(chans[-1], chans[-1], dilation=d) for d in dilations])
        self.coarse_flow = nn.Conv2d(chans[-1], 2, 3, padding=1)

        # refinement from level num_levels-1 down to the output level
        # (level l has stride 2^l and index l-1 in ``chans``)
        self.refine_levels = list(
            range(self.num_levels - 1, max(out_level, 1) - 1, -1))
        refine_corr = (2 * refine_displacement + 1)**2
        refiners, flow_heads = [], []
        for level in self.refine_levels:
            ch = chans[level - 1]
            refiners.append(
                _conv(ch + refine_corr + chans[level] + 2, ch))
            flow_heads.append(nn.Conv2d(ch, 2, 3, padding=1))
        self.refiners = nn.ModuleList(refiners)
        self.flow_heads = nn.ModuleList(flow_heads)
        for head in [self.coarse_flow, *self.flow_heads]:
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.zeros_(head.bias)

        self.loss_module = MODELS.build(loss) if loss is not None else None

    # ----------------------------------------------------------- network
    def encode(self, images: Tensor) -> List[Tensor]:
        """Feature pyramid of single frames.

        Args:
            images (Tensor): ``[P, C, H, W]``.

        Returns:
            list[Tensor]: level ``l`` (stride ``2^l``) at index ``l - 1``.
        """
        feats = []
        x = images
        for enc in self.encoders:
            x = enc(x)
            feats.append(x)
        return feats

    def flow_from_features(self, feats1: List[Tensor], feats2: List[Tensor],
                           out_size: Tuple[int, int]) -> Tensor:
        """Flow from frame 1 to frame 2 given their feature pyramids.

        Args:
            feats1 (list[Tensor]): Pyramid of frame 1 (:meth:`encode`).
            feats2 (list[Tensor]): Pyramid of frame 2.
            out_size (tuple): Output ``(h, w)``.

        Returns:
            Tensor: ``[P, 2, h, w]`` in output pixels.
        """
        corr = F.leaky_relu(
            local_correlation(feats1[-1], feats2[-1], self.max_displacement),
            0.1)
        feat = self.context(torch.cat((feats1[-1], corr), dim=1))
        flow = self.coarse_flow(feat)
        for level, refine, head in zip(self.refine_levels, self.refiners,
                                       self.flow_heads):
            f1, f2 = feats1[level - 1], feats2[level - 1]
            size = f1.shape[-2:]
            feat = F.interpolate(
                feat, size=size, mode='bilinear', align_corners=False)
            flow = F.interpolate(
                flow, size=size, mode='bilinear', align_corners=False)
            to_level = 2.0**(self.out_level - level)  # output px -> level px
            warped = warp_image(f2, flow * to_level)
            corr = F.leaky_relu(
                local_correlation(f1, warped, self.refine_displacement), 0.1)
            feat = refine(torch.cat((f1, corr, feat, flow), dim=1))
            flow = flow + head(feat)
        if tuple(flow.shape[-2:]) != tuple(out_size):
            flow = F.interpolate(
                flow, size=out_size, mode='bilinear', align_corners=False)
        return flow

    def pair_flow(self, img_a: Tensor, img_b: Tensor) -> Tensor:
        """Flow from ``img_a`` to ``img_b``.

        Args:
            img_a (Tensor): ``[P, C, H, W]``.
            img_b (Tensor): ``[P, C, H, W]``.

        Returns:
            Tensor: ``[P, 2, ceil(H / stride), ceil(W / stride)]``.
        """
        feats = self.encode(torch.cat((img_a, img_b)))
        feats_a = [f[:img_a.shape[0]] for f in feats]
        feats_b = [f[img_a.shape[0]:] for f in feats]
        return self.flow_from_features(feats_a, feats_b,
                                       self._out_size(img_a))

    def _out_size(self, images: Tensor) -> Tuple[int, int]:
        h, w = images.shape[-2:]
        return (-(-h // self.stride), -(-w // self.stride))

    def forward(self,
                images: Tensor,
                return_backward: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Flows between consecutive frames of each clip.

        Every frame is encoded once; the pairs share the features.

        Args:
            images (Tensor): ``[B, K, C, H, W]`` (normalised like the
                backbone input).
            return_backward (bool): Also return the flows from frame
                ``i + 1`` back to frame ``i``.

        Returns:
            Tensor | tuple: forward flows ``[B, K-1, 2, h, w]`` (heatmap
            pixels, ``h = H / stride``), and backward flows of the same
            shape if ``return_backward``.
        """
        assert images.dim() == 5 and images.shape[1] >= 2, images.shape
        b, k = images.shape[:2]
        out_size = self._out_size(images)
        feats = [
            f.unflatten(0, (b, k)) for f in self.encode(images.flatten(0, 1))
        ]
        first = [f[:, :-1].flatten(0, 1) for f in feats]
        second = [f[:, 1:].flatten(0, 1) for f in feats]
        if return_backward:
            flows = self.flow_from_features(
                [torch.cat(p) for p in zip(first, second)],
                [torch.cat(p) for p in zip(second, first)], out_size)
            fw, bw = flows.chunk(2)
            return (fw.unflatten(0, (b, k - 1)), bw.unflatten(0, (b, k - 1)))
        return self.flow_from_features(first, second,
                                       out_size).unflatten(0, (b, k - 1))

    # -------------------------------------------------------------- loss
    @property
    def needs_backward_flows(self) -> bool:
        """bool: whether l_E uses the backward flows too (forward-backward
        occlusion)."""
        return bool(getattr(self.loss_module, 'needs_backward_flows', False))

    def flows_for_loss(self,
                       images: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """The flows of a batch of clips and the backward ones l_E needs.

        Args:
            images (Tensor): ``[B, K, C, H, W]``.

        Returns:
            tuple: forward flows ``[B, K-1, 2, h, w]`` and, if
            :attr:`needs_backward_flows`, the backward flows of the same
            shape (else ``None``).
        """
        # through __call__, so that module hooks (FLOP counters) see it
        if self.needs_backward_flows:
            return self(images, return_backward=True)
        return self(images), None

    def loss(self,
             images: Tensor,
             flows: Optional[Tensor] = None,
             backward_flows: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """l_E of Eq. 1 for a batch of clips.

        Missing flows are computed (the backward ones only when the loss
        uses forward-backward occlusion).

        Args:
            images (Tensor): ``[B, K, C, H, W]``.
            flows (Tensor, optional): ``[B, K-1, 2, h, w]``.
            backward_flows (Tensor, optional): ``[B, K-1, 2, h, w]``.

        Returns:
            dict: ``loss_photometric`` and ``loss_smooth`` (empty without a
            loss config).
        """
        if self.loss_module is None:
            return {}
        needs_bw = self.needs_backward_flows
        if flows is None:
            if needs_bw and backward_flows is None:
                flows, backward_flows = self.forward(
                    images, return_backward=True)
            else:
                flows = self.forward(images)
        elif needs_bw and backward_flows is None:
            b, k = images.shape[:2]
            backward_flows = self.pair_flow(
                images[:, 1:].flatten(0, 1),
                images[:, :-1].flatten(0, 1)).unflatten(0, (b, k - 1))
        return self.loss_module(images, flows, backward_flows)
