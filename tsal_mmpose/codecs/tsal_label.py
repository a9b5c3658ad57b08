"""Targets of the two detection branches of TSAL: LHR and CLOR (Sec. 3.1).

A face gets ``N`` landmark heatmaps (Landmark Heatmap Regression, LHR), one
face-centre heatmap and ``N`` offsets from the centre to the landmarks
(Contour Landmark Offset Regression, CLOR, "objects as points"). Decoding
gives ``p_M`` from the heatmaps, ``p_C`` from the centre peak plus the
offsets read there, and the fused test-time result
``p = gamma * p_M + (1 - gamma) * p_C`` (Sec. 3.2).
"""
import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.codecs.utils import (get_heatmap_maximum, refine_keypoints,
                                 refine_keypoints_dark)
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

ArrayOrTensor = Union[np.ndarray, Tensor]

__all__ = [
    'TSALLabel', 'centernet_gaussian_radius', 'landmark_gaussian_heatmaps'
]


def landmark_gaussian_heatmaps(
        heatmap_size: Tuple[int, int], keypoints: np.ndarray,
        keypoints_visible: np.ndarray,
        sigma: float) -> Tuple[np.ndarray, np.ndarray]:
    """Unnormalised Gaussian landmark heatmaps (LHR targets).

    For landmark ``n`` with integer peak ``mu = floor(p + 1/2)`` (heatmap
    pixels), pixel ``(x, y)`` gets
    ``exp(-((x - mu_x)^2 + (y - mu_y)^2) / (2 sigma^2))`` when both
    ``x - mu_x`` and ``y - mu_y`` lie in ``[-ceil(3 sigma), floor(3 sigma)]``
    and 0 elsewhere. This is the target of mmpose's ``MSRAHeatmap`` (same
    sigma, peak and window) for landmarks away from the top/left border; it
    is computed here because mmpose's ``generate_gaussian_heatmaps`` places
    the peak one pixel off when the window starts left of / above the map
    (its integer conversion truncates towards zero) and when ``3 sigma``
    has a fractional part in ``(0, 1/2)``. The weight of a landmark is 0 if
    it is invisible (``< 0.5``) or its window misses the map.

    Args:
        heatmap_size (tuple): ``(w, h)``.
        keypoints (np.ndarray): ``[1, N, 2]`` heatmap pixels.
        keypoints_visible (np.ndarray): ``[1, N]``.
        sigma (float): Gaussian sigma, heatmap pixels.

    Returns:
        tuple: heatmaps ``[N, h, w]`` float32 and weights ``[1, N]``.
    """
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    lo, hi = -math.ceil(3 * sigma), math.floor(3 * sigma)
    mu = np.floor(keypoints[0, :, :2].astype(np.float64) + 0.5)  # [N, 2]
    dx = np.arange(w, dtype=np.float32)[None] - mu[:, :1].astype(np.float32)
    dy = np.arange(h, dtype=np.float32)[None] - mu[:, 1:].astype(np.float32)
    in_x = (dx >= lo) & (dx <= hi)  # [N, w]
    in_y = (dy >= lo) & (dy <= hi)  # [N, h]
    weights = keypoints_visible.astype(np.float32).copy()
    valid = (weights[0] >= 0.5) & in_x.any(axis=1) & in_y.any(axis=1)
    weights[0, ~valid] = 0.
    gauss = np.exp(-(dy[:, :, None]**2 + dx[:, None, :]**2) /
                   np.float32(2 * sigma**2))
    mask = in_y[:, :, None] & in_x[:, None, :] & valid[:, None, None]
    heatmaps = np.where(mask, gauss, np.float32(0)).astype(np.float32)
    return heatmaps, weights


def centernet_gaussian_radius(box_w: float,
                              box_h: float,
                              min_overlap: float = 0.7) -> float:
    """Radius of the centre Gaussian of a box, as in "Objects as Points".

    The radius ``r`` is the largest corner displacement that keeps a box of
    size ``(box_w, box_h)`` at an IoU of at least ``min_overlap`` with the
    true box, taking the smallest of the three cases of CornerNet /
    CenterNet (both corners inside, both outside, one of each). Each case is
    the root of a quadratic ``a r^2 - b r + c = 0``; the published formula
    (``r = (b + sqrt(b^2 - 4ac)) / 2``) is reproduced as is.

    Args:
        box_w (float): Box width (any unit; the radius is in the same unit).
        box_h (float): Box height.
        min_overlap (float): Minimum IoU. Defaults to 0.7.

    Returns:
        float: The (non-negative) radius.
    """
    w, h, o = float(box_w), float(box_h), float(min_overlap)
    roots = []
    for a, b, c in ((1.0, h + w, w * h * (1 - o) / (1 + o)),
                    (4.0, 2 * (h + w), (1 - o) * w * h),
                    (4.0 * o, -2 * o * (h + w), (o - 1) * w * h)):
        disc = max(b * b - 4 * a * c, 0.0)
        roots.append((b + math.sqrt(disc)) / 2)
    return max(min(roots), 0.0)


@KEYPOINT_CODECS.register_module()
class TSALLabel(BaseKeypointCodec):
    """Landmark heatmaps + face centre + centre-to-landmark offsets.

    All model-side quantities are in heatmap pixels (pixel centres at
    integer coordinates); a heatmap pixel is ``input_size / heatmap_size``
    input pixels, and the conversion is a plain scaling as in mmpose's
    ``MSRAHeatmap``.

    Encoded (``encode``, one instance, ``N`` landmarks, heatmap ``h x w``):

        - heatmaps (np.ndarray): ``[N, h, w]`` float32, the Gaussians of
          :func:`landmark_gaussian_heatmaps` (mmpose's ``MSRAHeatmap``
          target with the same ``sigma``, without its border offset).
        - keypoint_weights (np.ndarray): ``[1, N]``, visibility, 0 for
          landmarks whose Gaussian misses the map.
        - center_heatmap (np.ndarray): ``[1, h, w]`` float32, Gaussian
          ``exp(-|x - c|^2 / (2 sigma_c^2))`` over the whole map with value
          exactly 1 at the integer centre ``c`` and nowhere else.
        - center_index (np.ndarray): ``[1]`` int64, ``c_y * w + c_x``.
        - offsets (np.ndarray): ``[1, N, 2]`` float32, ``keypoints_hm - c``.
        - offset_weights (np.ndarray): ``[1, N]`` float32, the visibility.
        - face_box_wh (np.ndarray): ``[1, 2]`` float32, width and height of
          the box of the visible landmarks, in heatmap pixels.

    The face centre is the centre of the landmark box (``center_mode=
    'bbox'``) or one landmark (an int, e.g. 30 = nose tip in the iBUG
    68-point order), rounded to the nearest pixel (``floor(x + 0.5)``) and
    clipped into the map so that a peak always exists; the offsets are taken
    from that integer centre, so centre + offsets reproduce the landmarks
    exactly. If the centre landmark is not visible, the box centre is used.

    The centre Gaussian's sigma follows the face size (Sec. 3.1:
    ``sigma(box_w, box_h)``): with ``center_sigma='box'`` it is
    ``(2 r + 1) / 6`` with ``r`` the integer part of the CenterNet radius of
    the landmark box for ``min_overlap``; a float gives a fixed sigma. The
    exponent uses ``2 sigma^2`` (the paper prints ``sigma^2``; the two
    differ only by a rescaling of sigma).

    Decoded (``decode``): ``encoded = (heatmaps [N, h, w], center_heatmap
    [1, h, w], offset_map [2N, h, w])`` (a leading batch axis of size 1 is
    accepted on each), channel ``2n`` of the offset map is ``dx`` of
    landmark ``n`` and ``2n + 1`` is ``dy``. The result is the fused
    keypoints ``[1, N, 2]`` in input-image pixels and the heatmap scores
    ``[1, N]``.

    Args:
        input_size (tuple): Input image size ``(W, H)``. Defaults to
            ``(256, 256)``.
        heatmap_size (tuple): Heatmap size ``(w, h)``. Defaults to
            ``(64, 64)``.
        sigma (float): Sigma of the landmark Gaussians, heatmap pixels.
            Defaults to 1.5.
        center_mode (str | int): ``'bbox'`` or a landmark index. Defaults to
            ``'bbox'``.
        center_sigma (str | float): ``'box'`` or a fixed sigma in heatmap
            pixels. Defaults to ``'box'``.
        min_overlap (float): IoU for the CenterNet radius. Defaults to 0.7.
        gamma (float): Weight of ``p_M`` in the fused result. Defaults to
            0.8 (Sec. 3.2).
        unbiased (bool): Decode heatmaps with DARK refinement instead of the
            quarter-pixel shift. Defaults to False.
        blur_kernel_size (int): Kernel of the DARK blur. Defaults to 11.
    """

    # Packed by mmpose's PackPoseInputs: maps -> gt_fields (all h x w),
    # per-instance arrays (leading dim 1) -> gt_instance_labels. The
    # instance table is left empty so that PackPoseInputs keeps its own
    # (bboxes, keypoints, keypoints_visible, ...).
    field_mapping_table = dict(
        heatmaps='heatmaps', center_heatmap='center_heatmap')
    label_mapping_table = dict(
        keypoint_weights='keypoint_weights',
        center_index='center_index',
        offsets='offsets',
        offset_weights='offset_weights',
        face_box_wh='face_box_wh')
    instance_mapping_table = dict()

    def __init__(self,
                 input_size: Tuple[int, int] = (256, 256),
                 heatmap_size: Tuple[int, int] = (64, 64),
                 sigma: float = 1.5,
                 center_mode: Union[str, int] = 'bbox',
                 center_sigma: Union[str, float] = 'box',
                 min_overlap: float = 0.7,
                 gamma: float = 0.8,
                 unbiased: bool = False,
                 blur_kernel_size: int = 11) -> None:
        super().__init__()
        if not (center_mode == 'bbox' or (isinstance(center_mode, int)
                                          and center_mode >= 0)):
            raise ValueError(
                f'center_mode must be "bbox" or a landmark index, got '
                f'{center_mode!r}')
        if isinstance(center_sigma, str) and center_sigma != 'box':
            raise ValueError(
                f'center_sigma must be "box" or a float, got {center_sigma!r}')
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.sigma = sigma
        self.center_mode = center_mode
        self.center_sigma = center_sigma
        self.min_overlap = min_overlap
        self.gamma = gamma
        self.unbiased = unbiased
        self.blur_kernel_size = blur_kernel_size
        self.scale_factor = (np.array(input_size, dtype=np.float32) /
                             np.array(heatmap_size, dtype=np.float32))

    # ------------------------------------------------------------ encoding
    def face_center(self, keypoints_hm: np.ndarray,
                    visible: np.ndarray) -> np.ndarray:
        """Face centre (float) of one instance in heatmap pixels.

        Args:
            keypoints_hm (np.ndarray): ``[N, 2]`` landmarks, heatmap pixels.
            visible (np.ndarray): ``[N]`` bool mask of usable landmarks.

        Returns:
            np.ndarray: ``[2]`` centre ``(x, y)``.
        """
        if isinstance(self.center_mode, int) and visible[self.center_mode]:
            return keypoints_hm[self.center_mode].astype(np.float64)
        if not visible.any():
            w, h = self.heatmap_size
            return np.array([(w - 1) / 2, (h - 1) / 2])
        pts = keypoints_hm[visible]
        return (pts.min(axis=0) + pts.max(axis=0)) / 2.0

    def center_gaussian_sigma(self, box_wh: np.ndarray) -> float:
        """Sigma of the centre Gaussian (Sec. 3.1, ``sigma(box_w, box_h)``).

        Args:
            box_wh (np.ndarray): ``[2]`` face box size in heatmap pixels.

        Returns:
            float: Sigma in heatmap pixels.
        """
        if self.center_sigma == 'box':
            radius = int(
                centernet_gaussian_radius(box_wh[0], box_wh[1],
                                          self.min_overlap))
            return (2 * radius + 1) / 6.0
        return float(self.center_sigma)

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode the landmarks of one face (input-image pixels).

        Args:
            keypoints (np.ndarray): ``[1, N, 2]`` input-image pixels.
            keypoints_visible (np.ndarray, optional): ``[1, N]``.

        Returns:
            dict: see the class docstring.
        """
        assert keypoints.shape[0] == 1, (
            f'{self.__class__.__name__} only supports single-instance '
            'keypoint encoding')
        if keypoints_visible is None:
            keypoints_visible = np.ones(keypoints.shape[:2], dtype=np.float32)
        keypoints_hm = keypoints[..., :2] / self.scale_factor

        heatmaps, keypoint_weights = landmark_gaussian_heatmaps(
            self.heatmap_size, keypoints_hm, keypoints_visible, self.sigma)

        w, h = self.heatmap_size
        visible = keypoints_visible[0] > 0.5
        if visible.any():
            pts = keypoints_hm[0][visible]
            box_wh = pts.max(axis=0) - pts.min(axis=0)
        else:
            box_wh = np.zeros(2)
        center = np.floor(self.face_center(keypoints_hm[0], visible) + 0.5)
        center = np.clip(center, 0, [w - 1, h - 1]).astype(np.int64)

        sigma_c = self.center_gaussian_sigma(box_wh)
        xs = np.arange(w, dtype=np.float32)
        ys = np.arange(h, dtype=np.float32)[:, None]
        center_heatmap = np.exp(-((xs - center[0])**2 +
                                  (ys - center[1])**2) /
                                (2 * sigma_c**2)).astype(np.float32)

        offsets = (keypoints_hm - center[None, None]).astype(np.float32)
        offset_weights = keypoints_visible.astype(np.float32).copy()
        offsets[offset_weights <= 0] = 0.

        return dict(
            heatmaps=heatmaps,
            keypoint_weights=keypoint_weights,
            center_heatmap=center_heatmap[None],
            center_index=np.array([center[1] * w + center[0]], np.int64),
            offsets=offsets,
            offset_weights=offset_weights,
            face_box_wh=box_wh.astype(np.float32)[None])

    # ------------------------------------------------------------ decoding
    @staticmethod
    def _squeeze(arr: np.ndarray, ndim: int) -> np.ndarray:
        arr = np.asarray(arr)
        if arr.ndim == ndim + 1 and arr.shape[0] == 1:
            arr = arr[0]
        assert arr.ndim == ndim, f'unexpected shape {arr.shape}'
        return arr

    def decode_heatmap(self,
                       heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """LHR result ``p_M``: heatmap maxima with sub-pixel refinement.

        Args:
            heatmaps (np.ndarray): ``[N, h, w]`` (or ``[1, N, h, w]``).

        Returns:
            tuple: ``p_M`` ``[1, N, 2]`` in input-image pixels and the
            maxima ``[1, N]``.
        """
        heatmaps = self._squeeze(heatmaps, 3).astype(np.float32, copy=True)
        keypoints, scores = get_heatmap_maximum(heatmaps)
        keypoints, scores = keypoints[None], scores[None]
        if self.unbiased:
            keypoints = refine_keypoints_dark(
                keypoints, heatmaps, blur_kernel_size=self.blur_kernel_size)
        else:
            keypoints = refine_keypoints(keypoints, heatmaps)
        return keypoints * self.scale_factor, scores

    def decode_clor(self, center_heatmap: np.ndarray,
                    offset_map: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """CLOR result ``p_C``: centre peak + offsets read at the peak.

        The peak is the argmax of the centre map (logits or probabilities
        give the same peak).

        Args:
            center_heatmap (np.ndarray): ``[1, h, w]`` (or ``[1, 1, h, w]``).
            offset_map (np.ndarray): ``[2N, h, w]`` (or ``[1, 2N, h, w]``).

        Returns:
            tuple: ``p_C`` ``[1, N, 2]`` in input-image pixels and the peak
            value of the centre map repeated ``[1, N]``.
        """
        center_heatmap = self._squeeze(center_heatmap, 3)
        offset_map = self._squeeze(offset_map, 3)
        h, w = center_heatmap.shape[-2:]
        flat = center_heatmap.reshape(-1)
        idx = int(np.argmax(flat))
        cy, cx = divmod(idx, w)
        num = offset_map.shape[0] // 2
        off = offset_map[:, cy, cx].reshape(num, 2).astype(np.float32)
        keypoints = off + np.array([cx, cy], dtype=np.float32)
        scores = np.full((1, num), flat[idx], dtype=np.float32)
        return keypoints[None] * self.scale_factor, scores

    def fuse(self, p_m: ArrayOrTensor, p_c: ArrayOrTensor) -> ArrayOrTensor:
        """Test-time fusion ``p = gamma p_M + (1 - gamma) p_C`` (Sec. 3.2).

        Args:
            p_m (np.ndarray | Tensor): ``[..., N, 2]``.
            p_c (np.ndarray | Tensor): ``[..., N, 2]`` (same unit and type
                as ``p_m``).

        Returns:
            np.ndarray | Tensor: ``[..., N, 2]``.
        """
        return self.gamma * p_m + (1.0 - self.gamma) * p_c

    def decode(self,
               encoded: Union[Sequence[np.ndarray], np.ndarray],
               center_heatmap: Optional[np.ndarray] = None,
               offset_map: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Decode the fused keypoints of one face.

        Accepts ``decode((heatmaps, center_heatmap, offset_map))`` and the
        unpacked call ``decode(heatmaps, center_heatmap, offset_map)`` made
        by mmpose's ``BaseHead.decode``. With heatmaps only, ``p_M`` is
        returned.

        Args:
            encoded: heatmaps ``[N, h, w]`` or the triple described in the
                class docstring.
            center_heatmap (np.ndarray, optional): ``[1, h, w]``.
            offset_map (np.ndarray, optional): ``[2N, h, w]``.

        Returns:
            tuple: keypoints ``[1, N, 2]`` (input-image pixels) and scores
            ``[1, N]``.
        """
        if isinstance(encoded, (tuple, list)):
            heatmaps, center_heatmap, offset_map = encoded
        else:
            heatmaps = encoded
        p_m, scores = self.decode_heatmap(heatmaps)
        if center_heatmap is None or offset_map is None:
            return p_m, scores
        p_c, _ = self.decode_clor(center_heatmap, offset_map)
        return self.fuse(p_m, p_c), scores
