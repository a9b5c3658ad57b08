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
* :func:`infer_video` tracks one face through a video: the crop box of a
  frame is the previous frame's landmark box (enlarged by a padding factor),
  and OpenCV's bundled Haar face detector supplies the box on the first
  frame and whenever the face is lost (see :func:`face_lost`).

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
from typing import (Any, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import cv2
import numpy as np

__all__ = [
    'predict_frames',
    'FaceDetector', 'landmark_box', 'face_lost', 'LandmarkDrawer',
    'infer_video', 'BOX_SOURCES'
]

#: Where the crop box of a frame came from: the face detector, the previous
#: frame's landmarks, an earlier box (the detector was needed but found
#: nothing: the lost frame's crop box when tracking, the last detection in
#: ``'detect'`` mode), or the whole frame (no face found yet).
BOX_SOURCES = ('detector', 'landmarks', 'previous', 'frame')

# The Haar detector's square box starts higher (forehead) and is slightly
# larger than the tight box of the 68 landmarks. On the real 300W / 300VW
# fixture faces, the landmark box centre lies 0.10-0.17 box heights below
# the detection's centre and its longer side is 0.83-0.93 of the
# detection's side; these constants map a detection to the box convention
# the models were trained with (the tight landmark box).
_HAAR_CENTER_SHIFT = 0.14
_HAAR_SIZE_RATIO = 0.9

PathLike = Union[str, Path]


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


def face_lost(keypoints: np.ndarray,
              scores: np.ndarray,
              crop_box: np.ndarray,
              frame_shape: Tuple[int, ...],
              min_score: Optional[float] = 0.2,
              min_size_ratio: float = 0.2,
              min_face_size: float = 16.0,
              min_inside: float = 0.5) -> Optional[str]:
    """Whether a frame's landmarks can no longer carry the face box.

    The face counts as lost, and the next frame's box comes from the face
    detector, when any of these holds:

    * ``'invalid'``: a coordinate is not finite;
    * ``'low_score'``: the mean keypoint score is below ``min_score``
      (the decoder's heatmap maxima, so the model sees no face);
    * ``'collapsed'``: the landmark box's longer side is below
      ``min_size_ratio`` times the crop box's longer side (all points
      gathered in a corner of the crop: no face structure left) or below
      ``min_face_size`` pixels (a box shrinking frame after frame);
    * ``'outside'``: less than ``min_inside`` of the landmarks lie inside
      the frame (the face left the picture).

    Args:
        keypoints: [N, 2] landmarks in frame pixels.
        scores: [N] keypoint scores.
        crop_box: [4] the box the landmarks were predicted in.
        frame_shape: ``(H, W, ...)`` of the frame.
        min_score: Score threshold; ``None`` disables the score test.
        min_size_ratio: Collapse threshold relative to the crop.
        min_face_size: Collapse threshold in pixels.
        min_inside: Fraction of landmarks that must lie in the frame.

    Returns:
        str | None: The reason (see above), or ``None`` if the face is kept.
    """
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not (np.isfinite(points).all() and np.isfinite(scores).all()):
        return 'invalid'
    if min_score is not None and scores.mean() < min_score:
        return 'low_score'
    box = landmark_box(points)
    crop_size = float(
        np.max(np.asarray(crop_box[2:]) - np.asarray(crop_box[:2])))
    if float(np.max(box[2:] - box[:2])) < max(min_size_ratio * crop_size,
                                              min_face_size):
        return 'collapsed'
    height, width = frame_shape[:2]
    inside = ((points[:, 0] >= 0) & (points[:, 0] <= width - 1) &
              (points[:, 1] >= 0) & (points[:, 1] <= height - 1))
    if inside.mean() < min_inside:
        return 'outside'
    return None


class FaceDetector:
    """OpenCV's bundled frontal-face Haar cascade, in landmark-box units.

    Detections are converted to the box convention of the landmark models
    (the tight box of the 68 landmarks: the detection moved down by
    ``0.14`` of its height and shrunk to ``0.9`` of its side, measured on
    real 300W / 300VW faces).

    Args:
        cascade: Cascade XML file; defaults to
            ``cv2.data.haarcascades + 'haarcascade_frontalface_default.xml'``.
        scale_factor: ``detectMultiScale`` image pyramid step.
        min_neighbors: ``detectMultiScale`` detection confidence.
        min_size_ratio: Smallest face side as a fraction of the frame's
            shorter side.
    """

    def __init__(self,
                 cascade: Optional[PathLike] = None,
                 scale_factor: float = 1.1,
                 min_neighbors: int = 5,
                 min_size_ratio: float = 0.08) -> None:
        if cascade is None:
            cascade = osp.join(cv2.data.haarcascades,
                               'haarcascade_frontalface_default.xml')
        if not osp.isfile(str(cascade)):
            raise FileNotFoundError(f'no face cascade at {cascade}')
        self.classifier = cv2.CascadeClassifier(str(cascade))
        if self.classifier.empty():
            raise ValueError(f'could not load the face cascade {cascade}')
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_ratio = min_size_ratio

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """All faces of a BGR frame.

        Args:
            frame: [H, W, 3] BGR (or [H, W] grey) uint8 image.

        Returns:
            np.ndarray: [M, 4] float32 boxes ``x1, y1, x2, y2`` (landmark-box
            convention), largest first.
        """
        grey = frame if frame.ndim == 2 else cv2.cvtColor(
            frame, cv2.COLOR_BGR2GRAY)
        grey = cv2.equalizeHist(grey)
        side = max(16, int(min(grey.shape[:2]) * self.min_size_ratio))
        found = self.classifier.detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side))
        if len(found) == 0:
            return np.zeros((0, 4), dtype=np.float32)
        found = np.asarray(found, dtype=np.float64).reshape(-1, 4)
        x, y, w, h = found.T
        cx = x + w / 2
        cy = y + h / 2 + _HAAR_CENTER_SHIFT * h
        half_w, half_h = w * _HAAR_SIZE_RATIO / 2, h * _HAAR_SIZE_RATIO / 2
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h],
                         axis=1)
        order = np.argsort(-(w * h), kind='stable')
        return boxes[order].astype(np.float32)

    def __call__(
            self,
            frame: np.ndarray,
            previous: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """The face to follow: nearest to ``previous``, else the largest.

        Args:
            frame: BGR image [H, W, 3].
            previous: [4] the last crop box, if any.

        Returns:
            np.ndarray | None: [4] box, or None if no face was found.
        """
        boxes = self.detect(frame)
        if not len(boxes):
            return None
        if previous is None:
            return boxes[0]
        prev = np.asarray(previous, dtype=np.float32)
        dist = np.linalg.norm(
            (boxes[:, :2] + boxes[:, 2:]) / 2 - (prev[:2] + prev[2:]) / 2,
            axis=1)
        return boxes[int(np.argmin(dist))]


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


def _frame_record(index: int, sample: Any, box: np.ndarray, source: str,
                  lost: Optional[str]) -> Dict[str, Any]:
    """The JSON record of one frame."""
    pred = sample.pred_instances
    keypoints = np.asarray(pred.keypoints, dtype=np.float64)[0]
    scores = np.asarray(pred.keypoint_scores, dtype=np.float64)[0]
    return dict(frame=index,
                bbox=[round(float(v), 2) for v in box],
                keypoints=[[round(float(x), 2),
                            round(float(y), 2)] for x, y in keypoints],
                scores=[round(float(s), 4) for s in scores],
                detected=source == 'detector',
                box_source=source,
                lost=lost)


def infer_video(model: Any,
                video: PathLike,
                out_video: Optional[PathLike] = None,
                out_json: Optional[PathLike] = None,
                box_mode: str = 'track',
                batch_size: int = 1,
                detector: Optional[FaceDetector] = None,
                box_padding: float = 1.0,
                min_score: Optional[float] = 0.2,
                redetect_interval: int = 0,
                max_frames: Optional[int] = None,
                radius: Optional[int] = None,
                kpt_thr: Optional[float] = None,
                progress: bool = True) -> Dict[str, Any]:
    """Landmarks of one face on every frame of a video.

    Box modes:

    * ``'track'`` (default): the detector gives the box of frame 1; the box
      of each later frame is the previous frame's landmark box times
      ``box_padding``, unless the face was lost there (:func:`face_lost`)
      or ``redetect_interval`` frames have passed, in which case the
      detector is run again. If it finds nothing, the lost frame's crop box
      is reused (the whole frame until a face was first found) and
      detection is retried on the next frame while the face stays lost.
      A frame's box
      depends on the previous frame's result, so frames go through the
      model one at a time (``mmpose.apis.inference_topdown``) and
      ``batch_size`` is not used.
    * ``'detect'``: every frame gets its own detection (the previous
      detection if none); frames are independent and go through the model
      ``batch_size`` at a time (:func:`predict_frames`), which pays off on
      a GPU.

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
        detector: Face detector; defaults to :class:`FaceDetector`.
        box_padding: Scale of the carried landmark box.
        min_score: Mean keypoint score below which the face is lost;
            ``None`` disables the score test.
        redetect_interval: Also re-detect every this many frames (``0``:
            only when lost).
        max_frames: Stop after this many frames.
        radius: Drawn keypoint radius (default: scales with the frame).
        kpt_thr: Keypoints below this score are not drawn (default: all).
        progress: Show a progress bar on stderr.

    Returns:
        dict: ``video``, ``width``, ``height``, ``fps`` (of the video),
        ``box_mode``, ``num_frames``, ``processing_fps`` (frames per second
        of the whole loop: decoding, detection, model, drawing, writing)
        and ``frames``: one record per frame with ``frame`` (1-based),
        ``bbox`` [x1, y1, x2, y2] (the crop box), ``keypoints`` [N][2],
        ``scores`` [N], ``detected`` (box from the detector),
        ``box_source`` (one of :data:`BOX_SOURCES`) and ``lost`` (the
        :func:`face_lost` reason of this frame's landmarks, or None).
        The JSON file holds the same dict.
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
    if not osp.isfile(video):
        raise FileNotFoundError(f'no video file {video}')
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        raise ValueError(f'OpenCV cannot open the video {video}')
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if max_frames is not None:
        total = min(total, max_frames) if total > 0 else max_frames
    detector = detector or FaceDetector()
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

    def emit(frame: np.ndarray, sample: Any, box: np.ndarray, source: str,
             lost: Optional[str]) -> None:
        records.append(
            _frame_record(len(records) + 1, sample, box, source, lost))
        if writer is not None:
            writer.write(drawer(frame, sample, source == 'detector'))
        if bar is not None:
            bar.update()

    def lost_reason(frame: np.ndarray, sample: Any,
                    box: np.ndarray) -> Optional[str]:
        pred = sample.pred_instances
        return face_lost(pred.keypoints[0],
                         pred.keypoint_scores[0],
                         box,
                         frame.shape,
                         min_score=min_score)

    frames = _read_frames(capture)
    start = time.perf_counter()
    try:
        if box_mode == 'track':
            from mmpose.apis import inference_topdown

            # the box for the next frame and where it comes from
            box = np.array([0, 0, width, height], np.float32)
            carried, need_detection, since_detection = 'frame', True, 0
            for index, frame in enumerate(frames):
                if max_frames is not None and index >= max_frames:
                    break
                source = carried
                due = 0 < redetect_interval <= since_detection
                if need_detection or due:
                    found = detector(frame,
                                     None if carried == 'frame' else box)
                    if found is not None:
                        box, source, since_detection = found, 'detector', 0
                sample = inference_topdown(model, frame, box[None])[0]
                lost = lost_reason(frame, sample, box)
                emit(frame, sample, box, source, lost)
                since_detection += 1
                need_detection = lost is not None
                if lost is None:
                    box = landmark_box(sample.pred_instances.keypoints[0],
                                       box_padding)
                    carried = 'landmarks'
                elif source != 'frame':
                    carried = 'previous'  # keep this frame's crop box
        else:
            last_detection: Optional[np.ndarray] = None
            chunk: List[Tuple[np.ndarray, np.ndarray, str]] = []
            index = 0
            for frame in frames:
                if max_frames is not None and index >= max_frames:
                    break
                index += 1
                found = detector(frame, last_detection)
                if found is not None:
                    last_detection, source = found, 'detector'
                    box = found
                elif last_detection is not None:
                    box, source = last_detection, 'previous'
                else:
                    box = np.array([0, 0, width, height], np.float32)
                    source = 'frame'
                chunk.append((frame, box, source))
                if len(chunk) == batch_size:
                    _flush(model, chunk, emit, lost_reason)
                    chunk = []
            _flush(model, chunk, emit, lost_reason)
    finally:
        elapsed = time.perf_counter() - start
        capture.release()
        if writer is not None:
            writer.release()
        if bar is not None:
            sys.stderr.write('\n')
    result = dict(video=video,
                  width=width,
                  height=height,
                  fps=fps,
                  box_mode=box_mode,
                  num_frames=len(records),
                  processing_fps=len(records) /
                  elapsed if elapsed > 0 else 0.0,
                  frames=records)
    if out_json is not None:
        os.makedirs(osp.dirname(osp.abspath(str(out_json))), exist_ok=True)
        with open(out_json, 'w') as f:
            json.dump(result, f)
    return result


def _flush(model: Any, chunk: List[Tuple[np.ndarray, np.ndarray, str]],
           emit: Any, lost_reason: Any) -> None:
    """Run one batch of ``(frame, box, source)`` and emit its records."""
    if not chunk:
        return
    frames = [frame for frame, _, _ in chunk]
    boxes = np.stack([box for _, box, _ in chunk])
    for (frame, box,
         source), sample in zip(chunk, predict_frames(model, frames, boxes)):
        emit(frame, sample, box, source, lost_reason(frame, sample, box))
