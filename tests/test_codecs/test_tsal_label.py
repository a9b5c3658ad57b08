"""Tests of the TSALLabel codec on real 300W landmarks."""
import json
import math

import numpy as np
import pytest
from mmpose.codecs import MSRAHeatmap
from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
from mmpose.registry import KEYPOINT_CODECS

from tsal_mmpose.codecs import TSALLabel, centernet_gaussian_radius


@pytest.fixture(scope='module')
def faces_300w(faces_dir):
    """Landmarks of the two 300W faces in their 256 x 256 top-down crop.

    The crop is the annotated box enlarged by 1.25, as mmpose's
    ``GetBBoxCenterScale`` + ``TopdownAffine`` (no rotation) give it.
    """
    with open(faces_dir / '300w' / 'test_300w.json') as f:
        anns = json.load(f)['annotations']
    faces = []
    for ann in anns:
        kpts = np.array(ann['keypoints'], np.float32).reshape(-1, 3)[:, :2]
        size = ann['scale'] * 200.0 * 1.25
        corner = np.array(ann['center'], np.float32) - size / 2
        faces.append(((kpts - corner) / size * 256.0)[None])
    return faces


def _dense_offset_map(offsets: np.ndarray, center_index: int,
                      size=(64, 64)) -> np.ndarray:
    w, h = size
    n = offsets.shape[1]
    omap = np.zeros((2 * n, h, w), np.float32)
    cy, cx = divmod(int(center_index), w)
    omap[:, cy, cx] = offsets[0].reshape(-1)
    return omap


def test_centernet_radius_by_hand():
    # w = h = 10, IoU 0.7: the three roots are
    # (20 + sqrt(400 - 4 * 30 / 1.7)) / 2 = 19.07,
    # (40 + sqrt(1600 - 16 * 30)) / 2 = 36.73 and
    # (-28 + sqrt(784 + 4 * 2.8 * 30)) / 2 = 2.733, the minimum
    expected = (-28.0 + math.sqrt(784.0 + 336.0)) / 2
    assert centernet_gaussian_radius(10, 10, 0.7) == pytest.approx(expected)
    assert expected == pytest.approx(2.73320, abs=1e-5)
    assert centernet_gaussian_radius(0, 0) == 0.0


@pytest.mark.parametrize('sigma', [1.0, 1.5, 2.0, 2.3])
def test_heatmaps_equal_msra_inside(faces_300w, sigma):
    """Same target as mmpose's MSRAHeatmap away from the top/left border."""
    codec = TSALLabel(sigma=sigma)
    msra = MSRAHeatmap(input_size=(256, 256), heatmap_size=(64, 64),
                       sigma=sigma)
    for kpts in faces_300w:
        kpts = kpts * 0.7 + 40  # all windows start inside the map
        vis = np.ones((1, 68), np.float32)
        enc, ref = codec.encode(kpts, vis), msra.encode(kpts, vis)
        np.testing.assert_allclose(enc['heatmaps'], ref['heatmaps'],
                                   rtol=0, atol=1e-7)
        np.testing.assert_array_equal(enc['keypoint_weights'],
                                      ref['keypoint_weights'])


@pytest.mark.parametrize('sigma', [1.4, 1.5, 2.0])
def test_heatmap_peaks_at_rounded_point_near_border(sigma):
    codec = TSALLabel(sigma=sigma)
    kp_hm = np.array([[2.28, 30.0], [0.6, 1.4], [40.2, 0.49], [63.3, 62.8],
                      [-1.2, 20.0], [20.0, 71.0]], np.float32)
    enc = codec.encode(kp_hm[None] * 4, np.ones((1, 6), np.float32))
    hms = enc['heatmaps']
    mu = np.floor(kp_hm + 0.5)
    for n in range(4):
        assert hms[n].reshape(-1).argmax() == mu[n, 1] * 64 + mu[n, 0]
        assert hms[n, int(mu[n, 1]), int(mu[n, 0])] == 1.0
    # peak one column left of the map: first column holds exp(-1/(2s^2))
    assert hms[4, 20, 0] == pytest.approx(np.exp(-1 / (2 * sigma**2)))
    # too far below the map: empty and weight 0
    assert hms[5].max() == 0
    np.testing.assert_array_equal(enc['keypoint_weights'],
                                  [[1, 1, 1, 1, 1, 0]])


def test_encode_fields_and_center(faces_300w):
    codec = TSALLabel()
    kpts = faces_300w[0]
    enc = codec.encode(kpts, np.ones((1, 68), np.float32))
    assert enc['heatmaps'].shape == (68, 64, 64)
    assert enc['center_heatmap'].shape == (1, 64, 64)
    assert enc['offsets'].shape == (1, 68, 2)
    assert enc['offset_weights'].shape == (1, 68)
    assert enc['center_index'].shape == (1, )
    kp_hm = kpts[0] / 4.0
    box = kp_hm.max(0) - kp_hm.min(0)
    np.testing.assert_allclose(enc['face_box_wh'][0], box, rtol=1e-6)
    center = np.floor((kp_hm.max(0) + kp_hm.min(0)) / 2 + 0.5)
    assert enc['center_index'][0] == center[1] * 64 + center[0]
    # unique peak of value 1 at the integer centre
    cmap = enc['center_heatmap'][0]
    assert cmap.reshape(-1).argmax() == enc['center_index'][0]
    assert (cmap == 1).sum() == 1
    # sigma from the CenterNet radius of the landmark box
    r = int(centernet_gaussian_radius(box[0], box[1], 0.7))
    sigma = (2 * r + 1) / 6
    cy, cx = int(center[1]), int(center[0])
    assert cmap[cy, cx + 1] == pytest.approx(
        math.exp(-1 / (2 * sigma**2)), rel=1e-5)
    np.testing.assert_allclose(enc['offsets'][0], kp_hm - center, atol=1e-5)


def test_center_mode_landmark_and_fixed_sigma(faces_300w):
    codec = TSALLabel(center_mode=30, center_sigma=2.0)
    kpts = faces_300w[1]
    enc = codec.encode(kpts, np.ones((1, 68), np.float32))
    c = np.floor(kpts[0, 30] / 4.0 + 0.5)
    assert enc['center_index'][0] == c[1] * 64 + c[0]
    cmap = enc['center_heatmap'][0]
    assert cmap[int(c[1]) + 2, int(c[0])] == pytest.approx(
        math.exp(-4 / 8.0), rel=1e-6)
    np.testing.assert_allclose(enc['offsets'][0, 30], kpts[0, 30] / 4 - c,
                               atol=1e-6)


def test_round_trip(faces_300w):
    codec = TSALLabel()
    for kpts in faces_300w:
        enc = codec.encode(kpts, np.ones((1, 68), np.float32))
        omap = _dense_offset_map(enc['offsets'], enc['center_index'][0])
        p_m, scores = codec.decode_heatmap(enc['heatmaps'])
        p_c, _ = codec.decode_clor(enc['center_heatmap'], omap)
        # heatmap branch: within 0.5 heatmap pixel (= 2 input pixels)
        assert np.abs(p_m - kpts).max() <= 0.5 * 4 + 1e-4
        np.testing.assert_allclose(scores, 1.0)
        # centre + offsets: exact up to float32 rounding
        np.testing.assert_allclose(p_c, kpts, atol=1e-4)
        fused, _ = codec.decode(
            (enc['heatmaps'], enc['center_heatmap'], omap))
        np.testing.assert_allclose(fused, 0.8 * p_m + 0.2 * p_c, atol=1e-5)
        # unpacked call with a leading batch axis, as BaseHead.decode does
        fused2, _ = codec.decode(enc['heatmaps'][None],
                                 enc['center_heatmap'][None], omap[None])
        np.testing.assert_allclose(fused2, fused)


def test_invisible_landmarks(faces_300w):
    codec = TSALLabel()
    vis = np.ones((1, 68), np.float32)
    vis[0, :17] = 0  # jaw line hidden
    enc = codec.encode(faces_300w[0], vis)
    assert (enc['offset_weights'][0, :17] == 0).all()
    assert (enc['offsets'][0, :17] == 0).all()
    assert (enc['keypoint_weights'][0, :17] == 0).all()
    pts = faces_300w[0][0, 17:] / 4
    np.testing.assert_allclose(enc['face_box_wh'][0],
                               pts.max(0) - pts.min(0), rtol=1e-6)


def test_center_clipped_into_map():
    codec = TSALLabel(center_mode=0, center_sigma=1.0)
    kpts = np.array([[[-20.0, 300.0], [10.0, 10.0]]], np.float32)
    enc = codec.encode(kpts, np.ones((1, 2), np.float32))
    assert enc['center_index'][0] == 63 * 64 + 0
    np.testing.assert_allclose(enc['offsets'][0, 0], [-5.0, 75.0 - 63])


def test_generate_target_and_pack(faces_300w):
    cfg = dict(type='TSALLabel', input_size=(256, 256),
               heatmap_size=(64, 64), sigma=1.5)
    assert isinstance(KEYPOINT_CODECS.build(cfg), TSALLabel)
    results = dict(
        img=np.zeros((256, 256, 3), np.uint8),
        keypoints=faces_300w[0].copy(),
        keypoints_visible=np.ones((1, 68), np.float32),
        bbox=np.array([[0, 0, 256, 256]], np.float32),
        bbox_score=np.ones(1, np.float32),
        input_size=(256, 256))
    results = GenerateTarget(encoder=cfg).transform(results)
    packed = PackPoseInputs().transform(results)
    sample = packed['data_samples']
    assert sample.gt_fields.heatmaps.shape == (68, 64, 64)
    assert sample.gt_fields.center_heatmap.shape == (1, 64, 64)
    labels = sample.gt_instance_labels
    assert labels.offsets.shape == (1, 68, 2)
    assert labels.offset_weights.shape == (1, 68)
    assert labels.keypoint_weights.shape == (1, 68)
    assert labels.face_box_wh.shape == (1, 2)
    assert labels.center_index.dtype.is_floating_point is False
    # PackPoseInputs' own instance table is kept
    assert sample.gt_instances.keypoints.shape == (1, 68, 2)
    assert sample.gt_instances.bboxes.shape == (1, 4)
