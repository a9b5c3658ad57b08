"""Facial landmark metrics: NME, CED curve, AUC, failure rate and flicker.

The paper (Sec. "Experiments", paragraph *Metric*) evaluates 300W with the
normalised mean error (NME) normalised by the inter-pupil distance, AFLW with
the NME normalised by the face size, and 300VW with the area under the
cumulative error distribution (CED) curve up to an NME of 0.08 (AUC@0.08,
following Khan et al. 2017). The paper has no numbered equation for these;
the definitions used here are written out below so that every reported
number is reproducible.

Definitions (for one face with ground truth ``g`` [N, 2], prediction ``p``
[N, 2], visibility mask ``v`` [N] and normaliser ``d``):

* per-image NME ``e = 1/|v| * sum_{n in v} ||p_n - g_n||_2 / d``, i.e. the
  mean over the *visible* landmarks of the point-to-point error divided by
  ``d``; the dataset NME is the mean of the per-image NMEs (for fully
  visible faces this equals the mean over all landmarks of all images).
* normalisers ``d`` (all computed on the ground truth):

  - ``'inter_ocular'``: distance between the outer eye corners (iBUG-68:
    points 36 and 45, 0-based; WFLW-98: 60 and 72);
  - ``'inter_pupil'``: distance between the eye centroids (iBUG-68: mean of
    points 36-41 and mean of 42-47; WFLW-98: mean of 60-67 and of 68-75.
    WFLW also annotates the pupils as points 96 and 97; pass
    ``norm_indices={'inter_pupil': ([96], [97])}`` to use them);
  - ``'face_size'``: ``sqrt(w * h)`` of the tight box around the visible
    ground-truth landmarks (the AFLW protocol's face size; mmpose's own AFLW
    metric instead divides by the annotation's ``box_size``);
  - ``'bbox'``: ``sqrt(w * h)`` of the annotated face box
    ``gt_instances.bboxes`` (x1, y1, x2, y2), the "NME_box" convention; the
    box must be in the same image space as the keypoints.

  The two eye modes take the ground-truth eye points as given (their
  visibility flags are not consulted); ``face_size`` only uses visible
  points, as invisible AFLW points carry no coordinates.
* CED: ``F(x) = #{i : e_i <= x} / M`` over the ``M`` evaluated faces.
* ``AUC@T = 100 / T * integral_0^T F(x) dx``. ``F`` is a step function, so
  the integral is exact: ``integral_0^T F = 1/M * sum_i max(0, T - e_i)``.
  (Implementations that sample ``F`` on a grid and use the trapezoidal rule
  differ from this by up to one grid step.)
* ``FR@T = 100 * #{i : e_i > T} / M`` (failure: NME strictly above ``T``).
* NMF, the normalised mean flicker of video test sets (Micaelli et al.,
  "Recurrence without Recurrence: Stable Video Landmark Detection with Deep
  Equilibrium Models", CVPR 2023). With the error vectors
  ``e_t,n = p_t,n - g_t,n`` of one face in frames ``t - 1`` and ``t``, the
  flicker of the pair is

  ``f_t = sqrt(1/|V_t| * sum_{n in V_t} ||e_t,n - e_{t-1},n||_2^2) / d_t``,

  the root mean square over the landmarks ``V_t`` visible in both frames of
  the change of the error vector, divided by frame ``t``'s normaliser
  ``d_t`` (the later frame's, as LDEQ does; the same ``d`` as the NME of
  that frame). A prediction that follows the face with a constant error has
  ``f_t = 0``: only the error's change, i.e. jitter, costs. A video's NMF
  is ``100 * sqrt(mean_t f_t^2)``, the root mean square over its pairs (as
  LDEQ, large jumps weigh more than in a plain mean); the dataset's (and a
  category's) NMF is the mean over its videos of the video NMFs, so that
  every video counts once, as in LDEQ. Pairs are consecutive frames of one
  video only: both frames have the same ``video_id`` and their frame
  numbers differ by exactly 1 (a frame left out, e.g. a broken 300VW frame,
  breaks the pair), and, for a category, both frames belong to it. A pair
  whose ``d_t`` is undefined (0) or without a landmark visible in both
  frames is left out. LDEQ normalises by the landmark box ``sqrt(w * h)``
  of frame ``t`` only, and its public evaluation code divides by that box
  in units of 256 px, so its numbers are 256 times ``NMF_face_size``; here
  every normalisation mode of the NME gives its own NMF, in percent.

NME, AUC, FR and NMF are reported in percent.

The pure functions (:func:`default_norm_indices`, :func:`norm_factors`,
:func:`face_nme`, :func:`ced_curve`, :func:`ced_auc`, :func:`failure_rate`,
:func:`save_ced`, :func:`pair_flicker`, :func:`normalized_mean_flicker`) can
be used without mmengine's evaluation loop.

mmpose's ``NME`` metric and ``mmpose.evaluation.functional.keypoint_nme`` are
not reused: they accept a single pair of keypoint indices as normaliser, pool
the error over all keypoints of all images instead of giving per-image
errors (needed for the CED), and compute distances in float32; mmpose's
``keypoint_auc`` integrates a PCK curve in pixels.
"""
import csv
import logging
import math
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from mmpose.registry import METRICS

__all__ = [
    'NORM_MODES', 'default_norm_indices', 'norm_factors', 'face_nme',
    'ced_curve', 'ced_auc', 'failure_rate', 'save_ced', 'pair_flicker',
    'normalized_mean_flicker', 'FaceLandmarkMetric'
]

#: Normalisation modes understood by :func:`norm_factors`.
NORM_MODES: Tuple[str, ...] = ('inter_ocular', 'inter_pupil', 'face_size',
                               'bbox')

# Modes whose indices are a pair of point groups (distance of their means).
_PAIR_MODES = ('inter_ocular', 'inter_pupil')

_DEFAULT_NORM_INDICES: Dict[int, Dict[str, Any]] = {
    # iBUG 300W / 300VW markup, 0-based.
    68: {
        'inter_ocular': ((36, ), (45, )),
        'inter_pupil': (tuple(range(36, 42)), tuple(range(42, 48))),
    },
    # WFLW markup: outer eye corners 60 and 72, eye contours 60-67, 68-75.
    98: {
        'inter_ocular': ((60, ), (72, )),
        'inter_pupil': (tuple(range(60, 68)), tuple(range(68, 76))),
    },
    # AFLW-19 has no eye contours: only the face-size normalisation.
    19: {},
}

ArrayLike = Union[np.ndarray, Sequence, float]
NormIndices = Union[None, Sequence[int], Sequence[Union[int, Sequence[int]]]]


def _to_numpy(x: Any) -> np.ndarray:
    """Convert a tensor / array / sequence to a float64 numpy array."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def default_norm_indices(num_keypoints: int) -> Dict[str, Any]:
    """Default normalisation indices for a landmark markup.

    Args:
        num_keypoints (int): Number of landmarks N (68 iBUG, 98 WFLW,
            19 AFLW).

    Returns:
        dict: Mode name -> indices. The eye modes map to a pair of index
        groups ``(group_a, group_b)``; ``'face_size'`` maps to ``None`` (all
        visible points) and ``'bbox'`` to ``None`` (no indices). The
        ``'face_size'`` and ``'bbox'`` modes are defined for every N.
    """
    indices: Dict[str, Any] = {'face_size': None, 'bbox': None}
    indices.update(_DEFAULT_NORM_INDICES.get(int(num_keypoints), {}))
    return indices


def _pair_groups(indices: Any, mode: str) -> Tuple[List[int], List[int]]:
    """Parse ``(a, b)`` or ``([a...], [b...])`` into two index lists."""
    if indices is None or len(indices) != 2:
        raise ValueError(
            f'norm_indices for {mode!r} must be a pair (a, b) of keypoint '
            f'indices or of index groups, got {indices!r}')
    groups = []
    for group in indices:
        group = [int(group)] if np.isscalar(group) else [int(i) for i in group]
        if not group:
            raise ValueError(f'empty index group in norm_indices for {mode!r}')
        groups.append(group)
    return groups[0], groups[1]


def _resolve_indices(mode: str, num_keypoints: int,
                     norm_indices: Optional[Mapping[str, Any]]) -> Any:
    """Indices of ``mode`` for ``num_keypoints`` points, checked."""
    if mode not in NORM_MODES:
        raise ValueError(
            f'unknown norm mode {mode!r}; expected one of {NORM_MODES}')
    if norm_indices is not None and mode in norm_indices:
        indices = norm_indices[mode]
    else:
        defaults = default_norm_indices(num_keypoints)
        if mode not in defaults:
            raise ValueError(
                f'norm mode {mode!r} has no default keypoint indices for '
                f'{num_keypoints} keypoints (defaults exist for 68 iBUG and '
                f'98 WFLW points); pass norm_indices={{{mode!r}: ...}} or '
                'use a mode defined for this markup, e.g. \'face_size\'')
        indices = defaults[mode]
    if mode in _PAIR_MODES:
        indices = _pair_groups(indices, mode)
        flat = indices[0] + indices[1]
    elif mode == 'face_size' and indices is not None:
        indices = [int(i) for i in indices]
        flat = indices
    else:
        flat = []
    bad = [i for i in flat if not -num_keypoints <= i < num_keypoints]
    if bad:
        raise ValueError(
            f'norm_indices for {mode!r} refer to keypoints {bad}, out of '
            f'range for {num_keypoints} keypoints')
    return indices


def norm_factors(gt: ArrayLike,
                 mode: str,
                 indices: NormIndices = None,
                 mask: Optional[ArrayLike] = None,
                 bboxes: Optional[ArrayLike] = None) -> np.ndarray:
    """Per-face normalisation distance ``d`` of the NME.

    Args:
        gt (array [M, N, 2]): Ground-truth landmarks in pixels.
        mode (str): One of :data:`NORM_MODES`.
        indices: Mode-specific indices; ``None`` takes
            :func:`default_norm_indices` for N. Eye modes: a pair ``(a, b)``
            of indices or of index groups (distance between the group means);
            ``'face_size'``: the points spanning the box (default: all).
        mask (array [M, N], optional): Visibility; used by ``'face_size'``
            only (invisible points do not span the box). Default: all
            visible.
        bboxes (array [M, 4], optional): Face boxes (x1, y1, x2, y2),
            required by ``'bbox'``.

    Returns:
        np.ndarray [M]: The normalisers (0 where undefined, e.g. no visible
        point for ``'face_size'``).

    Raises:
        ValueError: Unknown mode, mode undefined for N, bad indices or
            missing boxes.
    """
    gt = _to_numpy(gt)
    if gt.ndim != 3 or gt.shape[-1] != 2:
        raise ValueError(f'gt must have shape [M, N, 2], got {gt.shape}')
    num_faces, num_kpts = gt.shape[:2]
    norm_indices = None if indices is None else {mode: indices}
    idx = _resolve_indices(mode, num_kpts, norm_indices)
    if mode in _PAIR_MODES:
        centre_a = gt[:, idx[0]].mean(axis=1)
        centre_b = gt[:, idx[1]].mean(axis=1)
        return np.linalg.norm(centre_a - centre_b, axis=-1)
    if mode == 'face_size':
        vis = (np.ones((num_faces, num_kpts), dtype=bool) if mask is None
               else _to_numpy(mask).reshape(num_faces, num_kpts) > 0)
        if idx is not None:
            sel = np.zeros(num_kpts, dtype=bool)
            sel[idx] = True
            vis = vis & sel[None]
        out = np.zeros(num_faces)
        for m in range(num_faces):
            pts = gt[m, vis[m]]
            if len(pts):
                w, h = pts.max(axis=0) - pts.min(axis=0)
                out[m] = math.sqrt(max(w, 0.0) * max(h, 0.0))
        return out
    # mode == 'bbox'
    if bboxes is None:
        raise ValueError("norm mode 'bbox' needs the face boxes "
                         '(gt_instances.bboxes, x1 y1 x2 y2)')
    boxes = _to_numpy(bboxes).reshape(num_faces, 4)
    wh = np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None)
    return np.sqrt(wh[:, 0] * wh[:, 1])


def face_nme(pred: ArrayLike,
             gt: ArrayLike,
             mask: Optional[ArrayLike] = None,
             norm: ArrayLike = 1.0) -> Union[np.ndarray, float]:
    """Per-face normalised mean error (ratio, not percent).

    ``e = mean_{n visible} ||pred_n - gt_n||_2 / norm``.

    Args:
        pred (array [M, N, 2] or [N, 2]): Predicted landmarks.
        gt (array, same shape as ``pred``): Ground-truth landmarks.
        mask (array [M, N] or [N], optional): Visibility (> 0 is visible).
            Default: all visible.
        norm (float or array [M]): Normalisation distance per face, e.g.
            from :func:`norm_factors`.

    Returns:
        np.ndarray [M] (float for [N, 2] input): The NME of each face; NaN
        where no landmark is visible or ``norm`` is not a positive finite
        number.
    """
    pred, gt = _to_numpy(pred), _to_numpy(gt)
    if pred.shape != gt.shape or pred.shape[-1] != 2:
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} must both be '
                         '[M, N, 2] or [N, 2]')
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    num_faces, num_kpts = pred.shape[:2]
    vis = (np.ones((num_faces, num_kpts), dtype=bool) if mask is None else
           _to_numpy(mask).reshape(num_faces, num_kpts) > 0)
    norm = np.broadcast_to(_to_numpy(norm).reshape(-1), (num_faces, ))
    dist = np.linalg.norm(pred - gt, axis=-1)  # [M, N]
    count = vis.sum(axis=1)
    valid = (count > 0) & np.isfinite(norm) & (norm > 0)
    out = np.full(num_faces, np.nan)
    out[valid] = ((dist * vis).sum(axis=1)[valid] / count[valid] /
                  norm[valid])
    return float(out[0]) if single else out


def _check_errors(errors: ArrayLike) -> np.ndarray:
    errors = _to_numpy(errors).reshape(-1)
    if not np.all(np.isfinite(errors)):
        raise ValueError('errors must be finite (drop invalid faces first)')
    return errors


def ced_curve(errors: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Breakpoints of the cumulative error distribution.

    Args:
        errors (array [M]): Per-face NMEs (ratios).

    Returns:
        tuple: ``(x [U], y [U])``, the distinct sorted errors and the fraction
        of faces with an error <= x. ``F(t) = y[k]`` for
        ``x[k] <= t < x[k+1]`` and 0 for ``t < x[0]``.
    """
    errors = _check_errors(errors)
    if errors.size == 0:
        return np.zeros(0), np.zeros(0)
    x, counts = np.unique(errors, return_counts=True)
    return x, np.cumsum(counts) / errors.size


def ced_auc(errors: ArrayLike, threshold: float = 0.08) -> float:
    """Area under the CED curve up to ``threshold``, in percent.

    ``AUC = 100 / T * integral_0^T F(x) dx = 100 / (M T) * sum_i max(0,
    T - e_i)`` (exact integral of the step function).

    Args:
        errors (array [M]): Per-face NMEs (ratios).
        threshold (float): Upper integration limit T (ratio), e.g. 0.08.

    Returns:
        float: AUC in [0, 100]; NaN for no errors.
    """
    if threshold <= 0:
        raise ValueError(f'threshold must be positive, got {threshold}')
    errors = _check_errors(errors)
    if errors.size == 0:
        return float('nan')
    area = np.clip(threshold - errors, 0.0, None).sum() / errors.size
    return float(100.0 * area / threshold)


def failure_rate(errors: ArrayLike, threshold: float = 0.08) -> float:
    """Percentage of faces whose NME is strictly above ``threshold``.

    Args:
        errors (array [M]): Per-face NMEs (ratios).
        threshold (float): Failure threshold (ratio).

    Returns:
        float: Failure rate in [0, 100]; NaN for no errors.
    """
    errors = _check_errors(errors)
    if errors.size == 0:
        return float('nan')
    return float(100.0 * np.count_nonzero(errors > threshold) / errors.size)


def save_ced(curves: Mapping[str, ArrayLike],
             csv_path: Optional[str] = None,
             png_path: Optional[str] = None,
             threshold: float = 0.08,
             title: str = 'CED') -> None:
    """Write CED curves as CSV and/or PNG.

    The CSV has the header ``group,nme,fraction`` and one row per CED
    breakpoint of each group (see :func:`ced_curve`), in the order of
    ``curves``. The PNG plots the curves from 0 to ``threshold`` with their
    AUC in the legend (matplotlib's Agg canvas; pyplot and the global
    backend are left untouched).

    Args:
        curves (Mapping[str, array [M]]): Group name -> per-face NMEs.
        csv_path (str, optional): CSV file to write.
        png_path (str, optional): PNG file to write.
        threshold (float): Right end of the plotted range (ratio).
        title (str): Plot title.
    """
    for path in (csv_path, png_path):
        if path and osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
    if csv_path:
        with open(csv_path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['group', 'nme', 'fraction'])
            for name, errors in curves.items():
                for x, y in zip(*ced_curve(errors)):
                    writer.writerow([name, f'{x:.10g}', f'{y:.10g}'])
    if png_path:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        # many curves or long names: the legend goes below the axes
        below = len(curves) > 4 or max(map(len, curves), default=0) > 24
        fig = Figure(figsize=(6, 4.5 + (0.2 * len(curves) if below else 0)),
                     dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        if len(curves) > 10:  # the default cycle repeats after 10
            from matplotlib import colormaps
            ax.set_prop_cycle(color=colormaps['tab20'].colors)
        for name, errors in curves.items():
            x, y = ced_curve(errors)
            if x.size == 0:
                continue
            keep = x <= threshold
            xs = np.concatenate([[0.0], x[keep], [threshold]])
            last = y[keep][-1] if keep.any() else 0.0
            ys = np.concatenate([[0.0], y[keep], [last]])
            label = (f'{name} (AUC@{threshold:g} '
                     f'{ced_auc(errors, threshold):.2f}%)')
            ax.step(xs, ys, where='post', label=label)
        ax.set_xlim(0.0, threshold)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel('NME')
        ax.set_ylabel('fraction of images')
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            if below:
                ax.legend(loc='upper left', bbox_to_anchor=(0.0, -0.13),
                          fontsize=8, frameon=False)
            else:
                ax.legend(loc='lower right')
        fig.savefig(png_path, bbox_inches='tight')


def pair_flicker(errors: ArrayLike,
                 norm: ArrayLike,
                 mask: Optional[ArrayLike] = None,
                 frame_ids: Optional[ArrayLike] = None) -> np.ndarray:
    """Flicker of each pair of neighbouring frames of one face track (ratio).

    ``f_t = sqrt(1/|V_t| * sum_{n in V_t} ||e_t,n - e_{t-1},n||_2^2) / d_t``
    with ``V_t`` the landmarks visible in both frames and ``d_t`` the later
    frame's normaliser (see the module docstring, NMF).

    Args:
        errors (array [T, N, 2]): Error vectors ``pred - gt`` of one face in
            ``T`` frames of one video, in frame order.
        norm (array [T]): Normaliser ``d`` of each frame, e.g. from
            :func:`norm_factors`.
        mask (array [T, N], optional): Visibility (> 0 is visible). Default:
            all visible.
        frame_ids (array [T], optional): Frame numbers, strictly increasing;
            neighbours whose numbers differ by more than 1 are no pair.
            Default: ``0 .. T-1`` (all neighbours are pairs).

    Returns:
        np.ndarray [T - 1]: ``f_t`` of the pair (frame ``t - 1``, frame
        ``t``) at index ``t - 1``; NaN where the frames are not consecutive,
        no landmark is visible in both or ``d_t`` is not a positive finite
        number.

    Raises:
        ValueError: Bad shapes or frame numbers that do not increase.
    """
    errors = _to_numpy(errors)
    if errors.ndim != 3 or errors.shape[-1] != 2:
        raise ValueError(f'errors must have shape [T, N, 2], got '
                         f'{errors.shape}')
    num_frames, num_kpts = errors.shape[:2]
    norm = _to_numpy(norm).reshape(-1)
    if norm.shape != (num_frames, ):
        raise ValueError(f'norm must have shape [{num_frames}], got '
                         f'{norm.shape}')
    vis = (np.ones((num_frames, num_kpts), dtype=bool) if mask is None else
           _to_numpy(mask).reshape(num_frames, num_kpts) > 0)
    if num_frames < 2:
        return np.zeros(0)
    consecutive = np.ones(num_frames - 1, dtype=bool)
    if frame_ids is not None:
        steps = np.diff(np.asarray(frame_ids, dtype=np.int64).reshape(-1))
        if steps.shape != consecutive.shape:
            raise ValueError(f'frame_ids must have shape [{num_frames}]')
        if np.any(steps <= 0):
            raise ValueError('frame_ids must be strictly increasing, got '
                             f'{list(np.asarray(frame_ids).reshape(-1))}')
        consecutive = steps == 1
    both = vis[1:] & vis[:-1]  # [T-1, N]
    sq_jump = np.sum((errors[1:] - errors[:-1])**2, axis=-1)  # [T-1, N]
    count = both.sum(axis=1)
    d_t = norm[1:]
    valid = consecutive & (count > 0) & np.isfinite(d_t) & (d_t > 0)
    out = np.full(num_frames - 1, np.nan)
    out[valid] = (np.sqrt((sq_jump * both).sum(axis=1)[valid] /
                          count[valid]) / d_t[valid])
    return out


def normalized_mean_flicker(pred: ArrayLike,
                            gt: ArrayLike,
                            norm: ArrayLike,
                            mask: Optional[ArrayLike] = None,
                            frame_ids: Optional[ArrayLike] = None) -> float:
    """Normalised mean flicker (NMF) of one face track, in percent.

    ``NMF = 100 * sqrt(mean_t f_t^2)`` over the valid pairs of
    :func:`pair_flicker`, with ``e_t = pred_t - gt_t``.

    Args:
        pred (array [T, N, 2]): Predicted landmarks of one face in ``T``
            frames of one video, in frame order.
        gt (array [T, N, 2]): Ground-truth landmarks.
        norm (array [T]): Normaliser ``d`` of each frame.
        mask (array [T, N], optional): Visibility. Default: all visible.
        frame_ids (array [T], optional): Frame numbers, strictly increasing;
            a gap breaks the pair. Default: all frames consecutive.

    Returns:
        float: The NMF in percent; NaN when no pair is valid (e.g. one frame).
    """
    pred, gt = _to_numpy(pred), _to_numpy(gt)
    if pred.shape != gt.shape:
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} differ in '
                         'shape')
    flicker = pair_flicker(pred - gt, norm, mask, frame_ids)
    flicker = flicker[np.isfinite(flicker)]
    if flicker.size == 0:
        return float('nan')
    return float(100.0 * np.sqrt(np.mean(flicker**2)))


@METRICS.register_module()
class FaceLandmarkMetric(BaseMetric):
    """NME, AUC@T, FR@T and NMF of landmarks, overall and per category.

    Works on mmpose data samples: ``pred_instances.keypoints`` [M, N, 2],
    ``gt_instances.keypoints`` [M, N, 2], ``gt_instances.keypoints_visible``
    [M, N] (or [M, N, 1]; default all visible), ``gt_instances.bboxes``
    [M, 4] for the ``'bbox'`` mode. Optional metainfo:

    * ``category`` (str): faces are also evaluated per category (e.g. 300VW
      test categories, or ``'easy'`` / ``'hard'``);
    * ``evaluate`` (bool): samples with ``evaluate=False`` (padding frames)
      are excluded; their number is logged;
    * ``clip_len``: samples of one clip (``clip_len`` consecutive samples,
      clip-major order) are stored as one result, so that mmengine's
      truncation of the results to the dataset length counts clips when the
      dataset counts clips;
    * ``video_id`` and ``frame_id`` (1-based frame number), as
      :class:`Face300VWClipDataset` and ``PackClipInputs`` provide them:
      they place a frame in its video for the flicker (NMF). A test set
      whose samples have no ``video_id`` (e.g. 300W images) reports no NMF
      (logged once); one that has it for some evaluated frames only is an
      error. Faces of two frames are paired by their index in the frame.

    See the module docstring for the definitions. Reported keys, for each
    norm mode ``<m>`` and threshold ``<T>`` (formatted with ``:g``)::

        NME_<m>, AUC@<T>_<m>, FR@<T>_<m>[, NMF_<m>]   # overall
        <category>/NME_<m>, <category>/AUC@<T>_<m>, ...  # per category

    all in percent; ``NMF_<m>`` (and ``<category>/NMF_<m>``) only for video
    test sets. Faces whose normaliser is undefined (0) or that have no
    visible landmark are left out of that mode's numbers and counted in the
    log. With ``sources``, the overall NME (and for videos the NMF) of other
    predictions of the same faces is reported too (e.g. TSAL's LHR and CLOR
    landmarks ``p_M`` and ``p_C`` beside the fused ``p``)::

        NME_<m>_<name>[, NMF_<m>_<name>]              # overall, per source

    Args:
        norm_mode (str | Sequence[str], optional): Normalisation mode(s), see
            :data:`NORM_MODES`.
        norm_modes (Sequence[str], optional): Same as ``norm_mode``; give
            only one of the two. Default (neither): ``['inter_ocular']``.
        norm_indices (dict, optional): Per-mode indices overriding
            :func:`default_norm_indices`, e.g.
            ``{'inter_pupil': ([96], [97])}`` or ``{'inter_ocular': (8, 9)}``.
        thresholds (float | Sequence[float]): AUC / failure thresholds
            (ratios). Default: 0.08.
        sources (dict, optional): ``{name: field}`` of further predictions
            to evaluate, each a ``pred_instances`` field shaped like
            ``keypoints``, in the same image space; e.g. ``dict(
            lhr='keypoints_lhr', clor='keypoints_clor')`` for a
            ``TSALHead``. Defaults to None (only ``keypoints``).
        outfile_prefix (str, optional): Where to write the CED curves and the
            per-image errors. ``None`` (default) writes nothing. A directory
            (an existing one, or a path ending in ``/``) receives
            ``ced_<m>.csv``, ``ced_<m>.png`` and ``per_image_nme.csv``;
            otherwise the names are ``<prefix>.ced_<m>.csv`` etc.
        collect_device (str): ``'cpu'`` or ``'gpu'``, as in mmengine.
        prefix (str, optional): Metric-name prefix, as in mmengine.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 norm_mode: Union[str, Sequence[str], None] = None,
                 norm_modes: Optional[Sequence[str]] = None,
                 norm_indices: Optional[Dict[str, Any]] = None,
                 thresholds: Union[float, Sequence[float]] = 0.08,
                 sources: Optional[Mapping[str, str]] = None,
                 outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if norm_mode is not None and norm_modes is not None:
            raise ValueError('give norm_mode or norm_modes, not both')
        modes = norm_modes if norm_modes is not None else norm_mode
        if modes is None:
            modes = ['inter_ocular']
        elif isinstance(modes, str):
            modes = [modes]
        modes = list(modes)
        if not modes or len(set(modes)) != len(modes):
            raise ValueError(f'norm modes must be non-empty and unique, got '
                             f'{modes}')
        for mode in modes:
            if mode not in NORM_MODES:
                raise ValueError(f'unknown norm mode {mode!r}; expected one '
                                 f'of {NORM_MODES}')
        self.norm_modes: List[str] = modes
        self.norm_indices: Dict[str, Any] = dict(norm_indices or {})
        for mode in self.norm_indices:
            if mode not in NORM_MODES:
                raise ValueError(f'norm_indices has unknown mode {mode!r}')
        if np.isscalar(thresholds):
            thresholds = [thresholds]
        self.thresholds: List[float] = [float(t) for t in thresholds]
        if not self.thresholds or min(self.thresholds) <= 0:
            raise ValueError(f'thresholds must be positive, got {thresholds}')
        self.sources: Dict[str, str] = dict(sources or {})
        for name, field in self.sources.items():
            if not (isinstance(name, str) and name.isidentifier()
                    and isinstance(field, str) and field):
                raise ValueError('sources must map identifiers to '
                                 f'pred_instances fields, got {sources!r}')
        self.outfile_prefix = outfile_prefix
        # num_keypoints -> {mode: resolved indices}; filled lazily so that a
        # mode undefined for the markup fails on the first batch.
        self._indices_cache: Dict[int, Dict[str, Any]] = {}

    # ------------------------------------------------------------------
    def _indices_for(self, num_keypoints: int) -> Dict[str, Any]:
        if num_keypoints not in self._indices_cache:
            self._indices_cache[num_keypoints] = {
                mode: _resolve_indices(mode, num_keypoints, self.norm_indices)
                for mode in self.norm_modes
            }
        return self._indices_cache[num_keypoints]

    def _frame_record(self, sample: Mapping[str, Any]) -> Dict[str, Any]:
        """Per-face NMEs of one data sample (a frame), and for a video frame
        what its flicker needs: error vectors, visibility and normalisers."""
        category = sample.get('category', None)
        record: Dict[str, Any] = dict(
            img_path=sample.get('img_path', ''),
            category=None if category in (None, '') else str(category),
            evaluate=bool(sample.get('evaluate', True)),
            nme={},
            video=self._video_position(sample))
        if not record['evaluate']:
            return record
        gt_inst = sample['gt_instances']
        gt = _to_numpy(gt_inst['keypoints'])
        if gt.ndim == 2:
            gt = gt[None]
        preds = {'': self._prediction(sample, 'keypoints', gt.shape)}
        for name, field in self.sources.items():
            preds[name] = self._prediction(sample, field, gt.shape)
        num_faces, num_kpts = gt.shape[:2]
        if 'keypoints_visible' in gt_inst:
            mask = _to_numpy(gt_inst['keypoints_visible'])
            mask = mask.reshape(num_faces, num_kpts) > 0
        else:
            mask = np.ones((num_faces, num_kpts), dtype=bool)
        bboxes = gt_inst['bboxes'] if 'bboxes' in gt_inst else None
        record['source_nme'] = {name: {} for name in self.sources}
        in_video = record['video'] is not None
        if in_video:
            # float32 halves what is gathered for long test videos; the
            # flicker's precision does not need more
            record['error'] = {
                name: (pred - gt).astype(np.float32)
                for name, pred in preds.items()
            }
            record['mask'] = mask
            record['norm'] = {}
        for mode, idx in self._indices_for(num_kpts).items():
            if mode == 'bbox' and bboxes is None:
                raise ValueError(
                    f"{record['img_path']}: norm mode 'bbox' needs "
                    'gt_instances.bboxes')
            norm = norm_factors(gt, mode, idx, mask=mask, bboxes=bboxes)
            if in_video:
                record['norm'][mode] = norm
            for name, pred in preds.items():
                nme = face_nme(pred, gt, mask, norm).tolist()
                if name:
                    record['source_nme'][name][mode] = nme
                else:
                    record['nme'][mode] = nme
        return record

    @staticmethod
    def _video_position(
            sample: Mapping[str, Any]) -> Optional[Tuple[str, int]]:
        """``(video_id, frame_id)`` of a video frame, None for an image."""
        video_id = sample.get('video_id', None)
        if video_id is None:
            return None
        frame_id = sample.get('frame_id', None)
        img_path = sample.get('img_path', '')
        if frame_id is None:
            raise ValueError(
                f'{img_path}: metainfo has video_id {video_id!r} but no '
                'frame_id; the flicker needs both (Face300VWClipDataset and '
                'PackClipInputs provide them)')
        try:
            number = int(frame_id)
        except (TypeError, ValueError):
            number = None
        if number is None or number != frame_id:
            raise ValueError(f'{img_path}: frame_id must be an integer frame '
                             f'number, got {frame_id!r}')
        return str(video_id), number

    @staticmethod
    def _prediction(sample: Mapping[str, Any], field: str,
                    shape: Tuple[int, ...]) -> np.ndarray:
        """``pred_instances[field]`` as ``[M, N, 2]``, checked against the
        ground truth's shape."""
        img_path = sample.get('img_path', '')
        pred_inst = sample['pred_instances']
        if field not in pred_inst:
            raise KeyError(f'{img_path}: pred_instances has no `{field}` '
                           f'(fields: {sorted(pred_inst)})')
        pred = _to_numpy(pred_inst[field])
        if pred.ndim == 2:
            pred = pred[None]
        if pred.shape != tuple(shape):
            raise ValueError(
                f'{img_path}: predicted {field} {pred.shape} and ground '
                f'truth {tuple(shape)} differ in shape')
        return pred

    def process(self, data_batch: Any,
                data_samples: Sequence[Mapping[str, Any]]) -> None:
        """Compute and store the per-face NMEs of a batch.

        Args:
            data_batch (Any): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts (mmengine's
                ``BaseDataElement.to_dict``: metainfo keys at top level).
        """
        i = 0
        while i < len(data_samples):
            clip_len = int(data_samples[i].get('clip_len', 1) or 1)
            group = data_samples[i:i + clip_len]
            if len(group) != clip_len:
                raise ValueError(
                    f'a clip of {clip_len} frames is split across batches '
                    f'(only {len(group)} frames left in this batch); samples '
                    'with clip_len must come in whole clips, clip-major')
            self.results.append([self._frame_record(s) for s in group])
            i += clip_len

    def _output_path(self, name: str) -> str:
        prefix = self.outfile_prefix
        if prefix.endswith(('/', os.sep)) or osp.isdir(prefix):
            return osp.join(prefix, name)
        return f'{prefix}.{name}'

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Aggregate the stored per-face NMEs.

        Args:
            results (list): One list of frame records per stored result.

        Returns:
            Dict[str, float]: Metric name -> value (percent); see the class
            docstring for the names.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        frames = [rec for group in results for rec in group]
        used = [rec for rec in frames if rec['evaluate']]
        num_excluded = len(frames) - len(used)
        categories = sorted({r['category'] for r in used} - {None})
        groups: 'OrderedDict[str, List[dict]]' = OrderedDict(all=used)
        for cat in categories:
            groups[cat] = [r for r in used if r['category'] == cat]

        num_faces = sum(len(next(iter(r['nme'].values()), [])) for r in used)
        logger.info(
            f'{self.__class__.__name__}: {len(used)} frames ({num_faces} '
            f'faces) evaluated, {num_excluded} frames excluded '
            '(metainfo evaluate=False)' +
            (f'; categories: {categories}' if categories else ''))

        flicker = self._flicker_tables(used)
        metrics: Dict[str, float] = OrderedDict()
        curves: Dict[str, Dict[str, np.ndarray]] = {}
        for mode in self.norm_modes:
            curves[mode] = OrderedDict()
            for name, recs in groups.items():
                errors = np.asarray(
                    [e for r in recs for e in r['nme'][mode]], dtype=float)
                valid = errors[np.isfinite(errors)]
                num_invalid = errors.size - valid.size
                if name == 'all' and num_invalid:
                    logger.info(
                        f'{self.__class__.__name__}: {num_invalid} of '
                        f'{errors.size} faces left out of NME_{mode} '
                        '(no visible landmark or zero normaliser)')
                if valid.size == 0:
                    print_log(
                        f'{self.__class__.__name__}: no face to evaluate for '
                        f'{mode!r} in group {name!r}',
                        logger='current', level=logging.WARNING)
                key = '' if name == 'all' else f'{name}/'
                metrics[f'{key}NME_{mode}'] = (
                    float(100.0 * valid.mean())
                    if valid.size else float('nan'))
                for thr in self.thresholds:
                    metrics[f'{key}AUC@{thr:g}_{mode}'] = ced_auc(valid, thr)
                    metrics[f'{key}FR@{thr:g}_{mode}'] = failure_rate(
                        valid, thr)
                if flicker is not None:
                    metrics[f'{key}NMF_{mode}'] = self._group_nmf(
                        flicker, mode, '', name)
                curves[mode][name] = valid
            for source in self.sources:
                errors = np.asarray([
                    e for r in used for e in r['source_nme'][source][mode]
                ], dtype=float)
                valid = errors[np.isfinite(errors)]
                metrics[f'NME_{mode}_{source}'] = (
                    float(100.0 * valid.mean())
                    if valid.size else float('nan'))
                if flicker is not None:
                    metrics[f'NMF_{mode}_{source}'] = self._group_nmf(
                        flicker, mode, source, 'all')

        if self.outfile_prefix:
            self._save(curves, used)
        return dict(metrics)

    def _flicker_tables(self, records: List[dict]) -> Optional[List[dict]]:
        """Pair flickers of every video, or None for a set of images.

        Args:
            records (list[dict]): The evaluated frame records.

        Returns:
            list[dict] | None: One dict per video of T frames:
            ``consecutive`` (bool array [T - 1], the neighbours' frame
            numbers differ by 1), ``pair_category`` (list [T - 1], the
            category of both frames of a pair, None when they differ or have
            none) and ``flicker`` (``(mode, source)`` -> array [T - 1, M] of
            :func:`pair_flicker` per face, NaN for no pair).
            None when no record has a video position (e.g. 300W images):
            no NMF is reported, which is logged.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        name = self.__class__.__name__
        in_video = [r for r in records if r['video'] is not None]
        if not in_video:
            if records:
                logger.info(
                    f'{name}: the test set has no video structure (no '
                    'video_id / frame_id metainfo): NMF (flicker) is not '
                    'reported')
            return None
        if len(in_video) != len(records):
            first = next(r for r in records if r['video'] is None)
            raise ValueError(
                f'{first["img_path"]} has no video_id / frame_id metainfo '
                f'while {len(in_video)} of the {len(records)} evaluated '
                'frames have one: the flicker needs every frame placed in '
                'its video')

        videos: Dict[str, List[dict]] = OrderedDict()
        for rec in sorted(in_video, key=lambda r: r['video']):
            videos.setdefault(rec['video'][0], []).append(rec)
        sources = [''] + list(self.sources)
        tables: List[dict] = []
        num_pairs = num_gaps = 0
        for video_id, recs in videos.items():
            frame_ids = np.array([r['video'][1] for r in recs])
            repeated = np.flatnonzero(np.diff(frame_ids) == 0)
            if repeated.size:
                a, b = recs[repeated[0]], recs[repeated[0] + 1]
                raise ValueError(
                    f'frame {frame_ids[repeated[0]]} of video {video_id!r} '
                    f'is evaluated twice ({a["img_path"]} and '
                    f'{b["img_path"]})')
            shapes = {r['mask'].shape for r in recs}
            if len(shapes) != 1:
                raise ValueError(
                    f'video {video_id!r} has frames with different numbers '
                    f'of faces or landmarks {sorted(shapes)} (faces x '
                    'landmarks); the flicker pairs faces by their index in '
                    'the frame')
            steps = np.diff(frame_ids)
            num_pairs += int(np.sum(steps == 1))
            num_gaps += int(np.sum(steps > 1))
            mask = np.stack([r['mask'] for r in recs], axis=1)  # [M, T, N]
            flicker = {}
            for mode in self.norm_modes:
                norm = np.stack([r['norm'][mode] for r in recs], axis=1)
                for source in sources:
                    errors = np.stack([r['error'][source] for r in recs],
                                      axis=1)  # [M, T, N, 2]
                    flicker[(mode, source)] = np.stack([
                        pair_flicker(errors[k], norm[k], mask[k], frame_ids)
                        for k in range(errors.shape[0])
                    ], axis=1) if errors.shape[0] else np.zeros(
                        (len(recs) - 1, 0))  # [T-1, M]
            cats = [r['category'] for r in recs]
            tables.append(
                dict(
                    consecutive=steps == 1,
                    pair_category=[
                        a if a == b else None
                        for a, b in zip(cats[:-1], cats[1:])
                    ],
                    flicker=flicker))
        logger.info(
            f'{name}: flicker over {len(videos)} videos, {num_pairs} pairs '
            f'of consecutive frames; {num_gaps} neighbouring frames not '
            'paired (a gap in the frame numbers)')
        for mode in self.norm_modes:
            dropped = sum(
                int(np.sum(~np.isfinite(t['flicker'][(mode, '')]) &
                           t['consecutive'][:, None])) for t in tables)
            if dropped:
                logger.info(
                    f'{name}: {dropped} face pairs of consecutive frames left '
                    f'out of NMF_{mode} (zero normaliser or no landmark '
                    'visible in both frames)')
        return tables

    def _group_nmf(self, tables: List[dict], mode: str, source: str,
                   group: str) -> float:
        """NMF (percent) of a group: the mean over its videos of each
        video's RMS pair flicker (module docstring, NMF).

        Args:
            tables (list[dict]): From :meth:`_flicker_tables`.
            mode (str): Normalisation mode.
            source (str): ``''`` for ``keypoints``, else a ``sources`` name.
            group (str): ``'all'`` or a category; a category only counts the
                pairs whose two frames both belong to it.

        Returns:
            float: The NMF, NaN (with a warning) when the group has no pair.
        """
        per_video = []
        for table in tables:
            flicker = table['flicker'][(mode, source)]
            if group != 'all':
                keep = np.array([c == group for c in table['pair_category']],
                                dtype=bool)
                flicker = flicker[keep]
            flicker = flicker[np.isfinite(flicker)]
            if flicker.size:
                per_video.append(np.sqrt(np.mean(flicker**2)))
        if not per_video:
            print_log(
                f'{self.__class__.__name__}: no pair of consecutive frames '
                f'for NMF_{mode} in group {group!r}',
                logger='current', level=logging.WARNING)
            return float('nan')
        return float(100.0 * np.mean(per_video))

    def _save(self, curves: Dict[str, Dict[str, np.ndarray]],
              records: List[dict]) -> None:
        """Write the CED curves (CSV, PNG) and the per-image NMEs (CSV)."""
        thr = max(self.thresholds)
        for mode, mode_curves in curves.items():
            save_ced(
                mode_curves,
                csv_path=self._output_path(f'ced_{mode}.csv'),
                png_path=self._output_path(f'ced_{mode}.png'),
                threshold=thr,
                title=f'CED, NME normalised by {mode}')
        path = self._output_path('per_image_nme.csv')
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['img_path', 'face', 'category'] +
                            [f'nme_{m}' for m in self.norm_modes])
            for rec in records:
                num = len(rec['nme'][self.norm_modes[0]])
                for k in range(num):
                    writer.writerow(
                        [rec['img_path'], k, rec['category'] or ''] +
                        [f'{rec["nme"][m][k]:.10g}' for m in self.norm_modes])
        MMLogger.get_current_instance().info(
            f'{self.__class__.__name__}: CED curves and per-image NMEs '
            f'written next to {self.outfile_prefix}')
