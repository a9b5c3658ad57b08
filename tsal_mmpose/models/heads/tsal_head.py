"""Detection head of TSAL: LHR heatmaps and CLOR centre + offsets (Sec. 3.2).

One shared decoder trunk is followed by three branches: ``N`` landmark
heatmaps ``H``, a face-centre heatmap ``C`` (logits) and ``2N`` offset
channels ``O`` from the centre to the landmarks. The head works as a plain
mmpose top-down head (``TopdownPoseEstimator``) and provides the batched
decoders used for the training-time signals ``p_M`` and ``p_C``.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, Features, InstanceList,
                                 OptConfigType, OptSampleList, Predictions)
from torch import Tensor, nn

from ..utils.keypoint_decoding import (decode_clor_torch,
                                       decode_heatmap_torch, flip_clor_maps,
                                       gather_offsets)

__all__ = ['TSALHead']

TSALOutputs = Tuple[Tensor, Tensor, Tensor]


def _default_heatmap_loss(num_kpts: int,
                          codec: Optional[BaseKeypointCodec]) -> dict:
    """l_M as Dong et al.'s summed heatmap error, in mmpose's MSE loss.

    ``KeypointMSELoss`` averages over images, landmarks and pixels; its
    weight ``N * w * h`` makes it a sum over landmarks and pixels. (At
    weight 1 the heatmap term is about 1e-3 and the centre and offset terms
    starve it: a supervised tiny model reached 21.5% NME at weight 1 and
    7.8% at ``N * w * h`` on the embedded benchmark,
    docs/benchmarks/2026-11-30_tsal_hrnet_w18.md.)
    """
    if codec is None:
        raise ValueError(
            'TSALHead: the default heatmap loss weight N * w * h needs the '
            'heatmap size of a `decoder`; set decoder=dict(type=\'TSALLabel\','
            ' ...) or loss=dict(type=\'KeypointMSELoss\', '
            'use_target_weight=True, loss_weight=N * w * h)')
    w, h = codec.heatmap_size
    return dict(
        type='KeypointMSELoss',
        use_target_weight=True,
        loss_weight=num_kpts * w * h)


@MODELS.register_module()
class TSALHead(BaseHead):
    """LHR + CLOR head (Sec. 3.1-3.2 of the TSAL paper).

    Args:
        in_channels (int): Channels of the last backbone/neck feature map.
        out_channels (int): Number of landmarks ``N``. Defaults to 68.
        deconv_out_channels (Sequence[int], optional): Stride-2 deconv
            layers of the trunk (as mmpose's ``HeatmapHead``); ``None`` for
            features already at heatmap resolution. Defaults to
            ``(256, 256, 256)``.
        deconv_kernel_sizes (Sequence[int], optional): 4, 3 or 2 each.
            Defaults to ``(4, 4, 4)``.
        conv_out_channels (Sequence[int], optional): Extra conv layers of
            the trunk. Defaults to None.
        conv_kernel_sizes (Sequence[int], optional): Their kernel sizes.
        branch_channels (int): Hidden channels of an optional 3x3 conv
            (+ ReLU) before the 1x1 output of the centre and of the offset
            branch; 0 gives plain 1x1 convolutions. Defaults to 0.
        center_bias_init (float): Initial bias of the centre logits
            (``-log((1 - 0.1) / 0.1)``, CenterNet's prior). Defaults to
            -2.19.
        loss (dict, optional): Heatmap loss (l_M, ``loss_heatmap``).
            Defaults to ``KeypointMSELoss`` with keypoint weights and
            ``loss_weight = N * w * h`` (``w, h`` the decoder's heatmap
            size), Dong et al.'s error summed over landmarks and pixels;
            without a ``decoder`` it must be given.
        center_loss (dict): Centre loss (l_C, ``loss_center``). Defaults to
            ``CenterFocalLoss``.
        offset_loss (dict): Offset loss at the centre pixel (l_C,
            ``loss_offset``). Defaults to mmpose ``L1Loss`` with weights.
        offset_radius (int): Supervise the offsets of every pixel within
            this Chebyshev distance of the ground-truth centre, each with
            the landmarks' offsets from that pixel, and average the loss
            over them. 0 supervises the centre pixel alone, as CenterNet;
            the decoder reads the offsets at the predicted centre peak,
            which often misses the true centre by a pixel or two. Defaults
            to 0.
        decoder (dict, optional): ``TSALLabel`` codec config, needed by
            ``predict`` and by the default ``loss``.
        init_cfg (dict, optional): Defaults to normal(0.001) convolutions
            and unit BatchNorm, as ``HeatmapHead``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 68,
                 deconv_out_channels: Optional[Sequence[int]] = (256, 256,
                                                                 256),
                 deconv_kernel_sizes: Optional[Sequence[int]] = (4, 4, 4),
                 conv_out_channels: Optional[Sequence[int]] = None,
                 conv_kernel_sizes: Optional[Sequence[int]] = None,
                 branch_channels: int = 0,
                 center_bias_init: float = -2.19,
                 loss: OptConfigType = None,
                 center_loss: ConfigType = dict(type='CenterFocalLoss'),
                 offset_loss: ConfigType = dict(
                     type='L1Loss', use_target_weight=True),
                 offset_radius: int = 0,
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(
                    type='Normal',
                    layer=['Conv2d', 'ConvTranspose2d'],
                    std=0.001),
                dict(type='Constant', layer='BatchNorm2d', val=1)
            ]
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.center_bias_init = center_bias_init
        if not (isinstance(offset_radius, int) and offset_radius >= 0):
            raise ValueError('offset_radius must be a non-negative int, got '
                             f'{offset_radius!r}')
        self.offset_radius = offset_radius

        self.decoder = (
            KEYPOINT_CODECS.build(decoder) if decoder is not None else None)
        if loss is None:
            loss = _default_heatmap_loss(out_channels, self.decoder)
        self.loss_module = MODELS.build(loss)
        self.center_loss_module = MODELS.build(center_loss)
        self.offset_loss_module = MODELS.build(offset_loss)

        layers: List[nn.Module] = []
        ch = in_channels
        if deconv_out_channels:
            assert deconv_kernel_sizes is not None and len(
                deconv_kernel_sizes) == len(deconv_out_channels), (
                    'deconv_out_channels and deconv_kernel_sizes differ')
            for out_ch, k in zip(deconv_out_channels, deconv_kernel_sizes):
                pad, out_pad = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[k]
                layers += [
                    nn.ConvTranspose2d(ch, out_ch, k, stride=2, padding=pad,
                                       output_padding=out_pad, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.ReLU(inplace=True)
                ]
                ch = out_ch
        if conv_out_channels:
            assert conv_kernel_sizes is not None and len(
                conv_kernel_sizes) == len(conv_out_channels), (
                    'conv_out_channels and conv_kernel_sizes differ')
            for out_ch, k in zip(conv_out_channels, conv_kernel_sizes):
                layers += [
                    nn.Conv2d(ch, out_ch, k, padding=(k - 1) // 2),
                    nn.BatchNorm2d(out_ch),
                    nn.ReLU(inplace=True)
                ]
                ch = out_ch
        self.trunk = nn.Sequential(*layers) if layers else nn.Identity()
        self.heatmap_layer = nn.Conv2d(ch, out_channels, 1)
        self.center_layer = self._branch(ch, 1, branch_channels)
        self.offset_layer = self._branch(ch, 2 * out_channels,
                                         branch_channels)
        self._reset_center_bias()

    @staticmethod
    def _branch(in_ch: int, out_ch: int, hidden: int) -> nn.Module:
        if hidden <= 0:
            return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1))
        return nn.Sequential(
            nn.Conv2d(in_ch, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_ch, 1))

    def _reset_center_bias(self) -> None:
        nn.init.constant_(self.center_layer[-1].bias, self.center_bias_init)

    def init_weights(self) -> None:
        """Apply ``init_cfg``, then restore the centre-logit prior bias."""
        super().init_weights()
        self._reset_center_bias()

    # ------------------------------------------------------------ forward
    def forward(self, feats: Tuple[Tensor]) -> TSALOutputs:
        """Predict the three maps from the last feature map.

        Args:
            feats (tuple[Tensor]): Multi-scale features; ``feats[-1]`` is
                ``[M, in_channels, h', w']``.

        Returns:
            tuple:
            - H (Tensor): ``[M, N, h, w]`` landmark heatmaps.
            - C (Tensor): ``[M, 1, h, w]`` face-centre logits.
            - O (Tensor): ``[M, 2N, h, w]`` offsets in heatmap pixels
              (channel ``2n`` = dx, ``2n + 1`` = dy of landmark ``n``).
        """
        x = self.trunk(feats[-1])
        return self.heatmap_layer(x), self.center_layer(x), \
            self.offset_layer(x)

    # ---------------------------------------------------- torch decoders
    decode_heatmap_torch = staticmethod(decode_heatmap_torch)
    decode_clor_torch = staticmethod(decode_clor_torch)

    # --------------------------------------------------------------- loss
    @staticmethod
    def is_labelled(data_sample) -> bool:
        """Whether a frame carries supervised targets.

        False when ``metainfo['labelled']`` is False or the codec targets
        (``gt_instance_labels.keypoint_weights``, ``gt_fields.heatmaps``)
        are missing.
        """
        if not data_sample.metainfo.get('labelled', True):
            return False
        if not (hasattr(data_sample, 'gt_instance_labels')
                and hasattr(data_sample, 'gt_fields')):
            return False
        return ('keypoint_weights' in data_sample.gt_instance_labels
                and 'heatmaps' in data_sample.gt_fields)

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Supervised losses l_M and l_C (Eq. 1) on the labelled frames.

        Args:
            feats (tuple[Tensor]): Features of ``M`` frames.
            batch_data_samples (list[PoseDataSample]): ``M`` samples.
            train_cfg (dict): ``compute_acc`` (default True) adds
                ``acc_pose``.

        Returns:
            dict: see :meth:`loss_by_outputs`.
        """
        return self.loss_by_outputs(
            self.forward(feats), batch_data_samples, train_cfg)

    def loss_by_outputs(self,
                        outputs: TSALOutputs,
                        batch_data_samples: OptSampleList,
                        train_cfg: ConfigType = {}) -> Dict[str, Tensor]:
        """Supervised losses from already computed outputs.

        ``loss_heatmap`` = heatmap MSE with keypoint weights (l_M);
        ``loss_center`` = focal loss on the centre logits and
        ``loss_offset`` = L1 of the offsets read at the ground-truth centre
        pixel, weighted by visibility (together l_C of Eq. 1); with
        ``offset_radius`` r > 0, the mean of that loss over the
        ``(2r + 1)^2`` pixels around the centre (clipped into the map),
        each against the landmarks' offsets from its own position. Only the
        frames for which :meth:`is_labelled` holds contribute; with none,
        the losses are zeros attached to the graph.

        Args:
            outputs (tuple): ``(H, C, O)`` of :meth:`forward`, ``M`` frames.
            batch_data_samples (list[PoseDataSample]): ``M`` samples.
            train_cfg (dict): ``compute_acc`` (default True).

        Returns:
            dict: ``loss_heatmap``, ``loss_center``, ``loss_offset`` and
            ``acc_pose`` (if computed and any frame is labelled).
        """
        heatmaps, center, offsets = outputs
        assert len(batch_data_samples) == heatmaps.shape[0], (
            len(batch_data_samples), heatmaps.shape)
        sel = [
            i for i, d in enumerate(batch_data_samples)
            if self.is_labelled(d)
        ]
        if not sel:
            zero = (heatmaps.sum() + center.sum() + offsets.sum()) * 0.
            return {
                name: zero
                for name in ('loss_heatmap', 'loss_center', 'loss_offset')
            }

        device = heatmaps.device
        samples = [batch_data_samples[i] for i in sel]
        index = torch.as_tensor(sel, device=device)
        pred_hm = heatmaps.index_select(0, index)
        pred_c = center.index_select(0, index)
        pred_o = offsets.index_select(0, index)

        gt_hm = torch.stack([d.gt_fields.heatmaps
                             for d in samples]).to(pred_hm)
        kpt_w = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in samples
        ]).to(pred_hm)
        gt_c = torch.stack([d.gt_fields.center_heatmap
                            for d in samples]).to(pred_c)
        c_idx = torch.cat([
            d.gt_instance_labels.center_index for d in samples
        ]).to(device=device, dtype=torch.long)
        gt_o = torch.cat([d.gt_instance_labels.offsets
                          for d in samples]).to(pred_o)
        o_w = torch.cat([
            d.gt_instance_labels.offset_weights for d in samples
        ]).to(pred_o)

        losses = {
            'loss_heatmap': self.loss_module(pred_hm, gt_hm, kpt_w),
            'loss_center': self.center_loss_module(pred_c, gt_c),
            'loss_offset': self.offset_loss_module(
                *self._offset_pairs(pred_o, c_idx, gt_o, o_w)),
        }
        if train_cfg.get('compute_acc', True):
            _, avg_acc, _ = pose_pck_accuracy(
                output=to_numpy(pred_hm.float()),
                target=to_numpy(gt_hm.float()),
                mask=to_numpy(kpt_w) > 0)
            losses['acc_pose'] = torch.tensor(avg_acc, device=device)
        return losses

    def _offset_pairs(self, pred_o: Tensor, center_index: Tensor,
                      gt_o: Tensor,
                      weights: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Predicted and target offsets at the supervised pixels.

        Args:
            pred_o (Tensor): ``[M, 2N, h, w]`` predicted offset maps.
            center_index (Tensor): ``[M]`` flat index of the true centre.
            gt_o (Tensor): ``[M, N, 2]`` offsets from the true centre.
            weights (Tensor): ``[M, N]`` landmark weights.

        Returns:
            tuple: prediction and target ``[S M, N, 2]`` and weights
            ``[S M, N]``, ``S = (2 r + 1)^2`` pixels per frame (``S = 1``
            for ``offset_radius = 0``).
        """
        r = self.offset_radius
        if r == 0:
            return gather_offsets(pred_o, center_index), gt_o, weights
        h, w = pred_o.shape[-2:]
        cx, cy = center_index % w, center_index // w
        preds, targets = [], []
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                x = (cx + dx).clamp(0, w - 1)
                y = (cy + dy).clamp(0, h - 1)
                preds.append(gather_offsets(pred_o, y * w + x))
                shift = torch.stack([x - cx, y - cy], dim=-1).to(gt_o)
                targets.append(gt_o - shift[:, None])
        n = len(preds)
        return (torch.cat(preds), torch.cat(targets),
                weights.repeat(n, 1))

    # ------------------------------------------------------------ predict
    def flip_outputs(self, outputs: TSALOutputs, flip_indices: List[int],
                     shift: bool = False) -> TSALOutputs:
        """Map the outputs of a horizontally flipped input back.

        Heatmaps as mmpose's ``flip_heatmaps`` (mirror + swap symmetric
        channels); centre and offsets by :func:`flip_clor_maps` (mirror,
        swap landmark pairs, negate dx).

        Args:
            outputs (tuple): ``(H, C, O)`` of the flipped input.
            flip_indices (list[int]): Symmetric landmark of each landmark.
            shift (bool): Shift all maps one pixel right. Defaults to False.

        Returns:
            tuple: ``(H, C, O)`` in the frame of the unflipped input.
        """
        heatmaps, center, offsets = outputs
        heatmaps = flip_heatmaps(
            heatmaps.clone(), flip_indices=flip_indices,
            flip_mode='heatmap', shift_heatmap=shift)
        center, offsets = flip_clor_maps(center, offsets, flip_indices,
                                         shift)
        return heatmaps, center, offsets

    def decode(self, batch_outputs: TSALOutputs) -> InstanceList:
        """Decode ``p_M``, ``p_C`` and the fused ``p`` of a batch.

        The whole batch is decoded on the outputs' device with the batched
        torch decoders, which give the codec's results (``TSALLabel.
        decode_heatmap`` / ``decode_clor`` / ``fuse``, one face at a time in
        numpy) without copying the maps to the host: heatmap maxima with
        mmpose's quarter-pixel refinement (non-positive maxima give -1, as
        in mmpose), the centre peak plus the offsets read there, and
        ``p = gamma p_M + (1 - gamma) p_C``. Only a codec with
        ``unbiased=True`` (DARK refinement, numpy only in mmpose) decodes
        face by face with the codec.

        Args:
            batch_outputs (tuple): ``(H, C, O)`` for ``M`` images:
                ``[M, N, h, w]``, ``[M, 1, h, w]``, ``[M, 2N, h, w]``.

        Returns:
            list[InstanceData]: per image ``keypoints`` (fused), ``
            keypoints_lhr`` (``p_M``), ``keypoints_clor`` (``p_C``), all
            ``[1, N, 2]`` in input-image pixels, and ``keypoint_scores``
            ``[1, N]`` (heatmap maxima).
        """
        if self.decoder is None:
            raise RuntimeError(
                f'The decoder has not been set in {self.__class__.__name__}.')
        codec = self.decoder
        if codec.unbiased:
            return self._decode_with_codec(batch_outputs)
        heatmaps, center, offsets = (x.detach().float()
                                     for x in batch_outputs)
        with torch.no_grad():
            p_m, scores = decode_heatmap_torch(heatmaps, return_scores=True)
            p_m = torch.where(scores.unsqueeze(-1) > 0, p_m,
                              torch.full_like(p_m, -1.0))
            p_c = decode_clor_torch(center, offsets)[0]
            scale = p_m.new_tensor(codec.scale_factor)
            p_m, p_c = p_m * scale, p_c * scale
            fused = codec.fuse(p_m, p_c)
            arrays = [to_numpy(x) for x in (fused, scores, p_m, p_c)]
        return [
            InstanceData(
                keypoints=k[None],
                keypoint_scores=sc[None],
                keypoints_lhr=m[None],
                keypoints_clor=c[None]) for k, sc, m, c in zip(*arrays)
        ]

    def _decode_with_codec(self, batch_outputs: TSALOutputs) -> InstanceList:
        """:meth:`decode` face by face with the (numpy) codec."""
        heatmaps, center, offsets = (to_numpy(x) for x in batch_outputs)
        preds = []
        for hm, c, o in zip(heatmaps, center, offsets):
            p_m, scores = self.decoder.decode_heatmap(hm)
            p_c, _ = self.decoder.decode_clor(c, o)
            preds.append(
                InstanceData(
                    keypoints=self.decoder.fuse(p_m, p_c),
                    keypoint_scores=scores,
                    keypoints_lhr=p_m,
                    keypoints_clor=p_c))
        return preds

    @staticmethod
    def _to_image_space(points: np.ndarray, metainfo: dict) -> np.ndarray:
        if not all(k in metainfo
                   for k in ('input_center', 'input_scale', 'input_size')):
            return points
        size = np.asarray(metainfo['input_size'], dtype=np.float32)
        scale = np.asarray(metainfo['input_scale'], dtype=np.float32)
        center = np.asarray(metainfo['input_center'], dtype=np.float32)
        return points / size * scale + center - 0.5 * scale

    def test_outputs(self, feats: Features,
                     batch_data_samples: OptSampleList,
                     test_cfg: ConfigType = {}) -> TSALOutputs:
        """The maps that :meth:`predict` decodes.

        With ``test_cfg['flip_test']``, ``feats = [feats,
        feats_of_flipped_input]``: the outputs of the flipped input are
        mapped back (:meth:`flip_outputs`, ``test_cfg['shift_heatmap']``)
        and averaged with the others.

        Args:
            feats: features, or a list of two for flip test.
            batch_data_samples (list[PoseDataSample]): ``M`` samples (their
                ``flip_indices`` serve the flip test).
            test_cfg (dict): ``flip_test``, ``flip_mode``,
                ``shift_heatmap``.

        Returns:
            tuple: ``(H, C, O)`` as :meth:`forward`, ``M`` frames.
        """
        if not test_cfg.get('flip_test', False):
            return self.forward(feats)
        assert isinstance(feats, list) and len(feats) == 2
        flip_mode = test_cfg.get('flip_mode', 'heatmap')
        if flip_mode != 'heatmap':
            raise ValueError(f'{self.__class__.__name__} supports '
                             f'flip_mode="heatmap" only, got {flip_mode}')
        flip_indices = batch_data_samples[0].metainfo['flip_indices']
        outputs = self.forward(feats[0])
        flipped = self.flip_outputs(
            self.forward(feats[1]), flip_indices,
            test_cfg.get('shift_heatmap', False))
        return tuple((a + b) * 0.5 for a, b in zip(outputs, flipped))

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict landmarks; flip test when ``test_cfg['flip_test']``.

        Decodes the maps of :meth:`test_outputs` (with flip test, ``feats =
        [feats, feats_of_flipped_input]``).

        ``keypoints`` (fused ``p``) is returned in input-image pixels; the
        pose estimator maps it to the original image as for any mmpose
        head. ``keypoints_lhr`` / ``keypoints_clor`` are mapped here with
        the same formula when the samples carry ``input_center``,
        ``input_scale`` and ``input_size``, so that after
        ``TopdownPoseEstimator.predict`` all three share the original image
        frame.

        Args:
            feats: features, or a list of two for flip test.
            batch_data_samples (list[PoseDataSample]): ``M`` samples.
            test_cfg (dict): ``flip_test``, ``shift_heatmap``,
                ``output_heatmaps``.

        Returns:
            list[InstanceData] | tuple: predictions, plus ``PixelData``
            with ``heatmaps`` ``[N, h, w]`` and ``center_heatmap``
            (sigmoid) ``[1, h, w]`` if ``output_heatmaps``.
        """
        outputs = self.test_outputs(feats, batch_data_samples, test_cfg)
        preds = self.decode(outputs)
        if batch_data_samples is not None:
            for pred, sample in zip(preds, batch_data_samples):
                for key in ('keypoints_lhr', 'keypoints_clor'):
                    pred.set_field(
                        self._to_image_space(pred.get(key), sample.metainfo),
                        key)

        if test_cfg.get('output_heatmaps', False):
            heatmaps, center, _ = outputs
            fields = [
                PixelData(heatmaps=hm, center_heatmap=c.sigmoid())
                for hm, c in zip(heatmaps.detach(), center.detach())
            ]
            return preds, fields
        return preds
