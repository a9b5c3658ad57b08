"""Facial landmark metrics: NME, CED curve, AUC and failure rate.

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

NME, AUC and FR are reported in percent.

The pure functions (:func:`default_norm_indices`, :func:`norm_factors`,
:func:`face_nme`, :func:`ced_curve`, :func:`ced_auc`, :func:`failure_rate`,
:func:`save_ced`) can be used without mmengine's evaluation loop.

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
    'ced_curve', 'ced_auc', 'failure_rate', 'save_ced', 'FaceLandmarkMetric'
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


@METRICS.register_module()
class FaceLandmarkMetric(BaseMetric):
    """NME, AUC@T and FR@T of facial landmarks, overall and per category.

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
      dataset counts clips.

    See the module docstring for the definitions. Reported keys, for each
    norm mode ``<m>`` and threshold ``<T>`` (formatted with ``:g``)::

        NME_<m>, AUC@<T>_<m>, FR@<T>_<m>              # overall
        <category>/NME_<m>, <category>/AUC@<T>_<m>, ...  # per category

    all in percent. Faces whose normaliser is undefined (0) or that have no
    visible landmark are left out of that mode's numbers and counted in the
    log. With ``sources``, the overall NME of other predictions of the same
    faces is reported too (e.g. TSAL's LHR and CLOR landmarks ``p_M`` and
    ``p_C`` beside the fused ``p``)::

        NME_<m>_<name>                                # overall, per source

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
        """Per-face NMEs of one data sample (a frame)."""
        category = sample.get('category', None)
        record: Dict[str, Any] = dict(
            img_path=sample.get('img_path', ''),
            category=None if category in (None, '') else str(category),
            evaluate=bool(sample.get('evaluate', True)),
            nme={})
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
        for mode, idx in self._indices_for(num_kpts).items():
            if mode == 'bbox' and bboxes is None:
                raise ValueError(
                    f"{record['img_path']}: norm mode 'bbox' needs "
                    'gt_instances.bboxes')
            norm = norm_factors(gt, mode, idx, mask=mask, bboxes=bboxes)
            for name, pred in preds.items():
                nme = face_nme(pred, gt, mask, norm).tolist()
                if name:
                    record['source_nme'][name][mode] = nme
                else:
                    record['nme'][mode] = nme
        return record

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
                curves[mode][name] = valid
            for source in self.sources:
                errors = np.asarray([
                    e for r in used for e in r['source_nme'][source][mode]
                ], dtype=float)
                valid = errors[np.isfinite(errors)]
                metrics[f'NME_{mode}_{source}'] = (
                    float(100.0 * valid.mean())
                    if valid.size else float('nan'))

        if self.outfile_prefix:
            self._save(curves, used)
        return dict(metrics)

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
