"""tools/benchmark/face_detector.py: the sets, the scoring and the fitted
calibrations behind the package's constants."""
import numpy as np
import pytest

from tsal_mmpose.apis import (BoxCalibration, FaceDetector,
                              HaarFaceDetector, mtcnn_available)
from tsal_mmpose.apis.face_detectors import (HAAR_CALIBRATION,
                                             MTCNN_CALIBRATION)
from tests.test_tools.tool_loader import load_script


@pytest.fixture(scope='module')
def bench():
    return load_script('tools/benchmark/face_detector.py')


class _Boxes(FaceDetector):
    """Returns fixed raw boxes (x, y, w, h) on every frame."""

    name = 'fixed'

    def __init__(self, raw, calibration=BoxCalibration()):
        self.raw = np.asarray(raw, np.float64).reshape(-1, 4)
        self.calibration = calibration

    def detect_raw(self, frame):
        return self.raw


def test_views_move_the_landmarks_exactly(bench, faces_dir):
    samples = bench.view_samples(faces_dir)
    # 10 faces x 3 sides x 5 rolls x 2 contrasts
    assert len(samples) == 300
    frame, gt, tags = samples[4]  # first face, side 40, roll 0, normal
    assert frame.shape == (240, 320, 3)
    assert tags == ('side 40', 'roll +0', 'contrast normal')
    # unrolled: the landmark box is centred and 40 px on its longer side
    np.testing.assert_allclose((gt[0, :2] + gt[0, 2:]) / 2, [160, 120],
                               atol=1e-3)
    assert np.max(gt[0, 2:] - gt[0, :2]) == pytest.approx(40, abs=1e-3)
    dim, dim_gt, dim_tags = samples[5]
    np.testing.assert_array_equal(dim_gt, gt)
    assert dim_tags[-1] == 'contrast low' and dim.mean() < frame.mean()


def test_evaluate_counts_found_faces_and_false_detections(bench):
    gt = np.array([[100.0, 50.0, 200.0, 150.0]])
    frame = np.zeros((240, 320, 3), np.uint8)
    samples = [(frame, gt, ('a', )), (frame, gt + 100, ('b', )),
               (frame, np.zeros((0, 4)), ())]
    # a detection equal to the first face only; IoU with the second 0
    result = bench.evaluate(_Boxes([[100, 50, 100, 100]]), samples)
    assert result['faces'] == 2 and result['rate'] == 0.5
    assert result['iou'] == pytest.approx(1.0)
    assert result['rate_by'] == {'a': 1.0, 'b': 0.0}
    assert result['false_per_frame'] == pytest.approx(1 / 3)
    nothing = bench.evaluate(_Boxes(np.zeros((0, 4))), samples)
    assert nothing['rate'] == 0.0 and np.isnan(nothing['iou'])


def test_fit_calibration_recovers_the_mapping(bench):
    truth = BoxCalibration(shift_x=0.05, shift_y=0.1, width_ratio=0.8,
                           height_ratio=0.9)
    raw = np.array([[40.0, 30.0, 100.0, 120.0], [200.0, 20.0, 50.0, 60.0]])
    samples = [(np.zeros((240, 320, 3), np.uint8), truth.apply(raw), ())]
    fitted, used = bench.fit_calibration(_Boxes(raw), samples)
    assert used == 2
    for name in ('shift_x', 'shift_y', 'width_ratio', 'height_ratio'):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name),
                                                      abs=1e-3)


def test_package_calibrations_are_the_fits_on_the_photos(bench, faces_dir):
    photos = bench.photo_samples(faces_dir)
    assert sum(len(gts) for _, gts, _ in photos) == 10
    detectors = [(HaarFaceDetector(), HAAR_CALIBRATION)]
    if mtcnn_available():
        from tsal_mmpose.apis import MTCNNFaceDetector
        detectors.append((MTCNNFaceDetector(), MTCNN_CALIBRATION))
    for detector, constant in detectors:
        fitted, used = bench.fit_calibration(detector, photos)
        assert used >= 7
        assert fitted == constant, detector.describe()
    # the mapped Haar boxes of the photographs it finds overlap their faces
    result = bench.evaluate(HaarFaceDetector(), photos)
    assert result['rate'] == pytest.approx(0.7)
    assert result['iou'] > 0.8
