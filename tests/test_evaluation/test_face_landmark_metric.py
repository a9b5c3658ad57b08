"""FaceLandmarkMetric and its pure functions, against hand-computed values."""
import csv
import json
import logging
import math

import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

from mmpose.registry import METRICS
from mmpose.structures import PoseDataSample
from tsal_mmpose.evaluation.metrics import (FaceLandmarkMetric, ced_auc,
                                            ced_curve, default_norm_indices,
                                            face_nme, failure_rate,
                                            norm_factors,
                                            normalized_mean_flicker,
                                            pair_flicker, save_ced)


def make_face68() -> np.ndarray:
    """A 68-point iBUG face with hand-checkable geometry, [68, 2].

    Right eye 36-41: centroid (30, 40); left eye 42-47: centroid (90, 40);
    outer corners 36 = (20, 40), 45 = (100, 40). Inter-pupil 60, inter-ocular
    80. Landmark box x 0..125, y 0..180 -> face size sqrt(125 * 180) = 150.
    """
    pts = np.tile([60.0, 75.0], (68, 1))
    right = [(20, 40), (25, 35), (35, 35), (40, 40), (35, 45), (25, 45)]
    pts[36:42] = right
    pts[42:48] = [(x + 60, y) for x, y in right]
    pts[0] = (0, 30)
    pts[16] = (125, 30)
    pts[8] = (60, 180)
    pts[19] = (40, 0)
    return pts


GT = make_face68()
# Errors: point 30 by (3, 4) -> 5 px, point 8 by (0, -6) -> 6 px.
PRED = GT.copy()
PRED[30] += (3, 4)
PRED[8] += (0, -6)
BBOX = np.array([[-10.0, -20.0, 150.0, 230.0]])  # 160 x 250 -> sqrt = 200


def make_sample(pred, gt, visible=None, bbox=BBOX, **metainfo) -> dict:
    """An mmpose PoseDataSample as the evaluator passes it (to_dict)."""
    sample = PoseDataSample(metainfo=dict(img_path='x.png', **metainfo))
    gt_inst = InstanceData()
    gt_inst.keypoints = np.asarray(gt, dtype=np.float32)[None]
    gt_inst.keypoints_visible = (np.ones((1, len(gt)), dtype=np.float32)
                                 if visible is None else
                                 np.asarray(visible, np.float32)[None])
    gt_inst.bboxes = np.asarray(bbox, dtype=np.float32).reshape(1, 4)
    sample.gt_instances = gt_inst
    pred_inst = InstanceData()
    pred_inst.keypoints = np.asarray(pred, dtype=np.float32)[None]
    sample.pred_instances = pred_inst
    return sample.to_dict()


# ----------------------------------------------------------------- pure API
def test_norm_factors_68_by_hand():
    gt = GT[None]
    assert norm_factors(gt, 'inter_pupil')[0] == pytest.approx(60.0)
    assert norm_factors(gt, 'inter_ocular')[0] == pytest.approx(80.0)
    assert norm_factors(gt, 'face_size')[0] == pytest.approx(150.0)
    assert norm_factors(gt, 'bbox', bboxes=BBOX)[0] == pytest.approx(200.0)
    # Invisible chin (8): box y 0..75 -> sqrt(125 * 75).
    mask = np.ones((1, 68))
    mask[0, 8] = 0
    assert norm_factors(gt, 'face_size', mask=mask)[0] == pytest.approx(
        math.sqrt(125 * 75))
    # Explicit indices: a pair of points, or of groups.
    assert norm_factors(gt, 'inter_ocular', (39, 42))[0] == pytest.approx(40)
    assert norm_factors(gt, 'inter_pupil', ([36, 39], [42, 45]))[0] == \
        pytest.approx(60.0)


def test_face_nme_by_hand():
    # Mean over 68 points of (5 + 6) px, divided by the normaliser.
    assert face_nme(PRED, GT, None, 60.0) == pytest.approx(11 / 68 / 60)
    out = face_nme(PRED[None], GT[None], np.ones((1, 68)), [80.0])
    assert out.shape == (1, )
    assert out[0] == pytest.approx(11 / 68 / 80)
    # Invisible point 8: its 6 px error is ignored, 67 points averaged.
    mask = np.ones(68)
    mask[8] = 0
    assert face_nme(PRED, GT, mask, 150.0) == pytest.approx(5 / 67 / 150)
    # Undefined cases give NaN.
    assert math.isnan(face_nme(PRED, GT, np.zeros(68), 1.0))
    assert math.isnan(face_nme(PRED, GT, None, 0.0))


def test_default_indices_and_errors():
    d68 = default_norm_indices(68)
    assert d68['inter_ocular'] == ((36, ), (45, ))
    assert d68['inter_pupil'] == ((36, 37, 38, 39, 40, 41),
                                  (42, 43, 44, 45, 46, 47))
    d98 = default_norm_indices(98)
    assert d98['inter_ocular'] == ((60, ), (72, ))
    assert d98['inter_pupil'] == (tuple(range(60, 68)), tuple(range(68, 76)))
    d19 = default_norm_indices(19)
    assert 'inter_ocular' not in d19 and 'face_size' in d19
    gt19 = np.random.default_rng(0).uniform(0, 100, (1, 19, 2))
    with pytest.raises(ValueError, match='no default keypoint indices for 19'):
        norm_factors(gt19, 'inter_ocular')
    with pytest.raises(ValueError, match='out of range'):
        norm_factors(gt19, 'inter_ocular', (0, 45))
    with pytest.raises(ValueError, match='unknown norm mode'):
        norm_factors(gt19, 'eyes')
    with pytest.raises(ValueError, match='bbox'):
        norm_factors(gt19, 'bbox')
    # A configured pair works for 19 points.
    d = norm_factors(gt19, 'inter_ocular', (6, 11))[0]
    assert d == pytest.approx(np.linalg.norm(gt19[0, 6] - gt19[0, 11]))


def test_wflw98_eye_defaults():
    gt = np.zeros((1, 98, 2))
    gt[0, 60:68] = (10.0, 20.0)
    gt[0, 60] = (2.0, 20.0)  # outer corner; contour centroid x = 9
    gt[0, 68:76] = (50.0, 20.0)
    gt[0, 72] = (58.0, 20.0)  # outer corner; centroid x = 51
    assert norm_factors(gt, 'inter_ocular')[0] == pytest.approx(56.0)
    assert norm_factors(gt, 'inter_pupil')[0] == pytest.approx(42.0)


def test_ced_auc_fr_by_hand():
    errors = [0.04, 0.1, 0.02]
    # CED: 0 on [0, .02), 1/3 on [.02, .04), 2/3 on [.04, .08]:
    # area = .02/3 + .04*2/3 = 0.1/3; / 0.08 -> 41.666...%.
    assert ced_auc(errors, 0.08) == pytest.approx(100 * (0.1 / 3) / 0.08)
    assert ced_auc(errors, 0.08) == pytest.approx(41.6666667)
    assert failure_rate(errors, 0.08) == pytest.approx(100 / 3)
    # T = 0.03: area = .01/3 -> 100/9 %; two of three above.
    assert ced_auc(errors, 0.03) == pytest.approx(100 / 9)
    assert failure_rate(errors, 0.03) == pytest.approx(200 / 3)
    # Above T everywhere -> 0; an error exactly at T is not a failure.
    assert ced_auc([0.08], 0.08) == 0.0
    assert failure_rate([0.08], 0.08) == 0.0
    assert ced_auc([0.0, 0.0], 0.08) == pytest.approx(100.0)
    x, y = ced_curve(errors)
    np.testing.assert_allclose(x, [0.02, 0.04, 0.1])
    np.testing.assert_allclose(y, [1 / 3, 2 / 3, 1.0])
    x, y = ced_curve([0.05, 0.01, 0.05])
    np.testing.assert_allclose(x, [0.01, 0.05])
    np.testing.assert_allclose(y, [1 / 3, 1.0])
    assert math.isnan(ced_auc([], 0.08))
    with pytest.raises(ValueError):
        ced_auc([np.nan], 0.08)


def test_save_ced_files(tmp_path):
    csv_path, png_path = tmp_path / 'c' / 'ced.csv', tmp_path / 'c' / 'ced.png'
    save_ced({'all': [0.04, 0.1, 0.02], 'hard': [0.1]}, str(csv_path),
             str(png_path), threshold=0.08)
    with open(csv_path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['group', 'nme', 'fraction']
    body = [(g, float(x), float(y)) for g, x, y in rows[1:]]
    expected = [('all', 0.02, 1 / 3), ('all', 0.04, 2 / 3), ('all', 0.1, 1.0),
                ('hard', 0.1, 1.0)]
    assert [r[0] for r in body] == [e[0] for e in expected]
    np.testing.assert_allclose([r[1:] for r in body],
                               [e[1:] for e in expected])
    assert png_path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


# ------------------------------------------------------------------- metric
def test_metric_single_face_all_modes():
    metric = METRICS.build(
        dict(type='FaceLandmarkMetric',
             norm_modes=['inter_ocular', 'inter_pupil', 'face_size', 'bbox']))
    assert isinstance(metric, FaceLandmarkMetric)
    metric.process({}, [make_sample(PRED, GT)])
    res = metric.evaluate(1)
    assert res['NME_inter_ocular'] == pytest.approx(100 * 11 / 68 / 80)
    assert res['NME_inter_pupil'] == pytest.approx(100 * 11 / 68 / 60)
    assert res['NME_face_size'] == pytest.approx(100 * 11 / 68 / 150)
    assert res['NME_bbox'] == pytest.approx(100 * 11 / 68 / 200)
    e = 11 / 68 / 80
    assert res['AUC@0.08_inter_ocular'] == pytest.approx(100 * (0.08 - e) /
                                                         0.08)
    assert res['FR@0.08_inter_ocular'] == 0.0
    assert set(res) == {
        f'{k}_{m}'
        for k in ('NME', 'AUC@0.08', 'FR@0.08')
        for m in ('inter_ocular', 'inter_pupil', 'face_size', 'bbox')
    }


def test_metric_sources_by_hand():
    """Other predictions of the same faces (e.g. p_M and p_C) are scored
    with the ground truth's normalisers."""
    metric = METRICS.build(
        dict(type='FaceLandmarkMetric',
             norm_modes=['inter_ocular', 'inter_pupil'],
             sources=dict(lhr='keypoints_lhr', clor='keypoints_clor')))
    samples = []
    for dx_lhr, dx_clor in ((8.0, 0.0), (0.0, 16.0)):
        sample = make_sample(PRED, GT)
        sample['pred_instances']['keypoints_lhr'] = (GT + (dx_lhr, 0))[None]
        sample['pred_instances']['keypoints_clor'] = (GT + (dx_clor, 0))[None]
        samples.append(sample)
    metric.process({}, samples)
    res = metric.evaluate(2)
    # every landmark of a face moved by dx: per-face NME dx / d
    assert res['NME_inter_ocular_lhr'] == pytest.approx(100 * 4 / 80)
    assert res['NME_inter_ocular_clor'] == pytest.approx(100 * 8 / 80)
    assert res['NME_inter_pupil_lhr'] == pytest.approx(100 * 4 / 60)
    assert res['NME_inter_pupil_clor'] == pytest.approx(100 * 8 / 60)
    assert res['NME_inter_ocular'] == pytest.approx(100 * 11 / 68 / 80)
    assert 'easy/NME_inter_ocular_lhr' not in res

    missing = METRICS.build(
        dict(type='FaceLandmarkMetric', sources=dict(lhr='keypoints_lhr')))
    with pytest.raises(KeyError, match='no `keypoints_lhr`'):
        missing.process({}, [make_sample(PRED, GT)])
    with pytest.raises(ValueError, match='sources'):
        FaceLandmarkMetric(sources={'p M': 'keypoints_lhr'})


def approx32(value):
    """Tolerance for values computed from float32 sample coordinates."""
    return pytest.approx(value, rel=1e-5)


def shifted(dx: float) -> np.ndarray:
    """Prediction = GT shifted by dx: per-image inter-ocular NME dx / 80."""
    return GT + (dx, 0.0)


def test_metric_categories_excluded_and_files(tmp_path):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        metric = FaceLandmarkMetric(
            norm_mode='inter_ocular', thresholds=[0.08, 0.03],
            outfile_prefix=str(tmp_path / 'work') + '/')
        samples = [
            make_sample(shifted(1.6), GT, category='easy'),  # 0.02
            make_sample(shifted(3.2), GT, category='hard'),  # 0.04
            make_sample(shifted(8.0), GT, category='hard'),  # 0.10
            make_sample(shifted(50.), GT, category='hard', evaluate=False),
        ]
        metric.process({}, samples[:2])
        metric.process({}, samples[2:])
        res = metric.evaluate(4)
    finally:
        logger.removeHandler(handler)
    assert res['NME_inter_ocular'] == approx32(100 * 0.16 / 3)
    assert res['AUC@0.08_inter_ocular'] == approx32(125 / 3)
    assert res['FR@0.08_inter_ocular'] == approx32(100 / 3)
    assert res['AUC@0.03_inter_ocular'] == approx32(100 / 9)
    assert res['FR@0.03_inter_ocular'] == approx32(200 / 3)
    assert res['easy/NME_inter_ocular'] == approx32(2.0)
    assert res['easy/AUC@0.08_inter_ocular'] == approx32(75.0)
    assert res['easy/FR@0.08_inter_ocular'] == 0.0
    assert res['hard/NME_inter_ocular'] == approx32(7.0)
    # hard: (0.08 - 0.04) / (2 * 0.08) -> 25 %.
    assert res['hard/AUC@0.08_inter_ocular'] == approx32(25.0)
    assert res['hard/FR@0.08_inter_ocular'] == approx32(50.0)
    assert len(res) == 3 * 5
    msgs = [r.getMessage() for r in records]
    assert any('3 frames (3 faces) evaluated, 1 frames excluded' in m
               for m in msgs), msgs

    with open(tmp_path / 'work' / 'ced_inter_ocular.csv') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['group', 'nme', 'fraction']
    assert [r[0] for r in rows[1:]] == ['all'] * 3 + ['easy'] + ['hard'] * 2
    np.testing.assert_allclose([[float(x), float(y)] for _, x, y in rows[1:]],
                               [[0.02, 1 / 3], [0.04, 2 / 3], [0.1, 1],
                                [0.02, 1], [0.04, 0.5], [0.1, 1]],
                               rtol=1e-6)
    png = tmp_path / 'work' / 'ced_inter_ocular.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with open(tmp_path / 'work' / 'per_image_nme.csv') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['img_path', 'face', 'category', 'nme_inter_ocular']
    assert [r[2] for r in rows[1:]] == ['easy', 'hard', 'hard']
    np.testing.assert_allclose([float(r[3]) for r in rows[1:]],
                               [0.02, 0.04, 0.1], rtol=1e-6)


def test_metric_no_files_without_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metric = FaceLandmarkMetric(norm_modes=['inter_pupil'])
    metric.process({}, [make_sample(PRED, GT)])
    metric.evaluate(1)
    assert list(tmp_path.iterdir()) == []


def test_metric_file_prefix(tmp_path):
    metric = FaceLandmarkMetric(outfile_prefix=str(tmp_path / 'run'))
    metric.process({}, [make_sample(PRED, GT)])
    metric.evaluate(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'run.ced_inter_ocular.csv', 'run.ced_inter_ocular.png',
        'run.per_image_nme.csv'
    ]


def test_metric_visibility_and_clips():
    mask = np.ones(68)
    mask[8] = 0
    metric = FaceLandmarkMetric(norm_modes=['face_size'])
    clip = [
        make_sample(PRED, GT, visible=mask, clip_len=2, frame_index=0),
        make_sample(GT, GT, clip_len=2, frame_index=1),
    ]
    metric.process({}, clip + clip)
    assert len(metric.results) == 2  # one stored result per clip
    res = metric.evaluate(2)
    # Frame 0: 5 px over 67 visible points / sqrt(125 * 75); frame 1: 0.
    e0 = 5 / 67 / math.sqrt(125 * 75)
    assert res['NME_face_size'] == pytest.approx(100 * e0 / 2)
    with pytest.raises(ValueError, match='split across batches'):
        metric.process({}, clip[:1])


def test_metric_face_without_visible_points_is_left_out():
    metric = FaceLandmarkMetric(norm_modes=['inter_ocular'])
    metric.process({}, [
        make_sample(PRED, GT),
        make_sample(GT + 100.0, GT, visible=np.zeros(68)),
    ])
    res = metric.evaluate(2)
    assert res['NME_inter_ocular'] == pytest.approx(100 * 11 / 68 / 80)
    assert res['FR@0.08_inter_ocular'] == 0.0


def test_metric_bbox_mode_needs_boxes():
    sample = make_sample(PRED, GT)
    del sample['gt_instances']['bboxes']
    with pytest.raises(ValueError, match='bboxes'):
        FaceLandmarkMetric(norm_mode='bbox').process({}, [sample])


def test_metric_mode_undefined_for_19_points():
    gt = np.random.default_rng(0).uniform(0, 100, (19, 2))
    metric = FaceLandmarkMetric(norm_modes=['face_size', 'inter_ocular'])
    with pytest.raises(ValueError, match='19 keypoints'):
        metric.process({}, [make_sample(gt, gt)])
    metric = FaceLandmarkMetric(norm_mode='face_size')
    metric.process({}, [make_sample(gt + (1.0, 0.0), gt)])
    w, h = gt.max(0) - gt.min(0)
    assert metric.evaluate(1)['NME_face_size'] == pytest.approx(
        100 / math.sqrt(w * h), rel=1e-5)
    with pytest.raises(ValueError):
        FaceLandmarkMetric(norm_mode='face_size', norm_modes=['bbox'])
    with pytest.raises(ValueError, match='unknown norm mode'):
        FaceLandmarkMetric(norm_mode='inter_eye')


def test_real_300w_eye_normalisers(faces_dir):
    """On real 300W faces the eye-centroid distance is shorter than the
    outer-corner distance (the two conventions differ by roughly 0.7-0.8)."""
    with open(faces_dir / '300w' / 'test_300w.json') as f:
        anns = json.load(f)['annotations']
    gt = np.array([np.reshape(a['keypoints'], (68, 3))[:, :2] for a in anns])
    ratio = norm_factors(gt, 'inter_pupil') / norm_factors(gt, 'inter_ocular')
    assert np.all((ratio > 0.6) & (ratio < 0.9)), ratio


# ------------------------------------------------------------------ flicker
def moving_track(num_frames: int = 4) -> np.ndarray:
    """GT of a face that moves and grows over time, [T, 68, 2]."""
    return np.stack([
        GT * (1.0 + 0.25 * t) + (7.0 * t, -3.0 * t)
        for t in range(num_frames)
    ])


def test_flicker_constant_error_is_zero():
    """A prediction that follows the face with a fixed error has no flicker,
    however large the error and the motion."""
    gt = moving_track()
    # quarter pixels: pred - gt is exact in floating point
    offset = np.random.default_rng(0).integers(-40, 40, (68, 2)) / 4
    pred = gt + offset
    norm = norm_factors(gt, 'inter_ocular')  # 80, 100, 120, 140
    np.testing.assert_allclose(norm, [80, 100, 120, 140])
    assert normalized_mean_flicker(pred, gt, norm) == 0.0
    np.testing.assert_array_equal(pair_flicker(pred - gt, norm), [0, 0, 0])
    # ... while the NME of the same prediction is not small
    assert face_nme(pred, gt, None, norm).min() > 0.03


def test_flicker_alternating_noise_by_hand():
    gt = moving_track()
    d = 2.0
    signs = np.array([1.0, -1.0, 1.0, -1.0])
    pred = gt + signs[:, None, None] * np.array([d, 0.0])
    # every landmark's error jumps by 2d in x: RMS over landmarks 2d
    assert normalized_mean_flicker(pred, gt, np.full(4, 80.0)) == \
        pytest.approx(100 * 2 * d / 80)
    # each pair is divided by its later frame's normaliser; the pairs are
    # pooled by their RMS: sqrt((0.1^2 + 0.05^2 + 0.1^2) / 3) = sqrt(0.0075)
    norm = np.array([80.0, 40.0, 80.0, 40.0])
    np.testing.assert_allclose(
        pair_flicker(pred - gt, norm), [4 / 40, 4 / 80, 4 / 40])
    assert normalized_mean_flicker(pred, gt, norm) == pytest.approx(
        100 * math.sqrt(0.0075))


def test_flicker_rms_over_visible_landmarks():
    # Landmark 0 jumps by (3, 4) -> 5 px; the other three do not move:
    # RMS over the four landmarks sqrt(25 / 4) = 2.5 px.
    errors = np.zeros((2, 4, 2))
    errors[1, 0] = (3.0, 4.0)
    np.testing.assert_allclose(pair_flicker(errors, [50.0, 50.0]),
                               [2.5 / 50])
    # Landmark 3 hidden in frame 0: only 0..2 count, sqrt(25 / 3).
    mask = np.ones((2, 4))
    mask[0, 3] = 0
    np.testing.assert_allclose(pair_flicker(errors, [50.0, 50.0], mask),
                               [math.sqrt(25 / 3) / 50])
    # No landmark visible in both frames, or a zero normaliser: no pair.
    mask = np.array([[1, 1, 0, 0], [0, 0, 1, 1]])
    assert np.isnan(pair_flicker(errors, [50.0, 50.0], mask)).all()
    assert np.isnan(pair_flicker(errors, [50.0, 0.0])).all()
    assert math.isnan(normalized_mean_flicker(errors, 0 * errors,
                                              [50.0, 0.0]))
    assert math.isnan(normalized_mean_flicker(errors[:1], 0 * errors[:1],
                                              [50.0]))


def test_flicker_frame_gap_breaks_the_pair():
    gt = moving_track()
    pred = gt.copy()
    pred[2:] += (30.0, 0.0)  # the error jumps between frames 2 and 4
    norm = np.full(4, 80.0)
    # frames 1, 2, 4, 5: the jump falls in the gap, no pair sees it
    flicker = pair_flicker(pred - gt, norm, frame_ids=[1, 2, 4, 5])
    assert flicker[0] == 0.0 and np.isnan(flicker[1]) and flicker[2] == 0.0
    assert normalized_mean_flicker(pred, gt, norm,
                                   frame_ids=[1, 2, 4, 5]) == 0.0
    # without the gap the jump counts: 30 px in one of three pairs
    assert normalized_mean_flicker(pred, gt, norm) == pytest.approx(
        100 * math.sqrt((30 / 80)**2 / 3))
    with pytest.raises(ValueError, match='strictly increasing'):
        pair_flicker(pred - gt, norm, frame_ids=[1, 2, 2, 3])
    with pytest.raises(ValueError, match=r'\[T, N, 2\]'):
        pair_flicker(pred[0], norm)


def video_sample(video_id, frame_id, gt, error, category=None, **metainfo):
    """A frame of a video: prediction = gt + error."""
    if category is not None:
        metainfo['category'] = category
    sample = make_sample(gt + error, gt, video_id=video_id,
                         frame_id=frame_id, **metainfo)
    sample['img_path'] = f'{video_id}/imgs/{frame_id:06d}.jpg'
    return sample


def test_metric_flicker_two_videos_by_hand():
    """Pairs never cross a video boundary nor a gap in the frame numbers;
    padding frames do not count; the NMF is the mean of the video NMFs."""
    d = 2.0
    alt = [(d, 0.0), (-d, 0.0), (d, 0.0), (50.0, 0.0)]
    jump30 = np.zeros((68, 2))
    jump30[30] = (3.0, 4.0)
    samples = [  # video 001, category A: frames 1, 2, 3, then 5 (4 broken)
        video_sample('001', f, GT + (3.0 * f, 2.0 * f), np.array(e), 'A')
        for f, e in zip((1, 2, 3, 5), alt)
    ] + [  # video 002, category B: frames 6, 7, 8 (as if 001 went on)
        video_sample('002', 6, GT + (1.0, 0.0), np.array([-40.0, 0.0]), 'B'),
        video_sample('002', 7, GT + (2.0, 0.0), np.array([-40.0, 0.0]), 'B'),
        video_sample('002', 8, GT + (3.0, 0.0), jump30 - (40.0, 0.0), 'B'),
    ]
    # a padding repeat of frame 3 with a wild prediction: not evaluated
    samples.append(
        video_sample('001', 3, GT, np.array([90.0, 0.0]), 'A',
                     evaluate=False))
    for sample in samples:  # p_M flickers twice as much on video 001 only
        video, frame = sample['video_id'], sample['frame_id']
        gt = sample['gt_instances']['keypoints']
        err = ((2 * d if frame % 2 else -2 * d) if video == '001' else 0.0)
        sample['pred_instances']['keypoints_lhr'] = gt + (err, 0.0)
    order = [6, 2, 0, 4, 7, 1, 3, 5]  # results come in any order
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        metric = FaceLandmarkMetric(sources=dict(lhr='keypoints_lhr'))
        metric.process({}, [samples[i] for i in order[:3]])
        metric.process({}, [samples[i] for i in order[3:]])
        res = metric.evaluate(8)
    finally:
        logger.removeHandler(handler)
    # 001: pairs (1, 2), (2, 3), each 2d / 80; (3, 5) is no pair.
    nmf_001 = 100 * 2 * d / 80
    # 002: (6, 7) 0; (7, 8) point 30 jumps 5 px: RMS 5 / sqrt(68), / 80.
    nmf_002 = 100 * math.sqrt(((5 / math.sqrt(68) / 80)**2 + 0) / 2)
    assert res['NMF_inter_ocular'] == approx32((nmf_001 + nmf_002) / 2)
    assert res['A/NMF_inter_ocular'] == approx32(nmf_001)
    assert res['B/NMF_inter_ocular'] == approx32(nmf_002)
    # p_M: 4d / 80 on 001, 0 on 002
    assert res['NMF_inter_ocular_lhr'] == approx32((100 * 4 * d / 80) / 2)
    assert [k for k in res if 'NMF' in k] == [
        'NMF_inter_ocular', 'A/NMF_inter_ocular', 'B/NMF_inter_ocular',
        'NMF_inter_ocular_lhr'
    ]
    msgs = [r.getMessage() for r in records]
    assert any('flicker over 2 videos, 4 pairs of consecutive frames; 1 '
               'neighbouring frames not paired' in m for m in msgs), msgs


def test_metric_images_report_no_flicker():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        metric = FaceLandmarkMetric()
        metric.process({}, [make_sample(PRED, GT), make_sample(GT, GT)])
        res = metric.evaluate(2)
    finally:
        logger.removeHandler(handler)
    assert not [k for k in res if 'NMF' in k]
    msgs = [r.getMessage() for r in records if 'no video structure' in
            r.getMessage()]
    assert len(msgs) == 1, msgs


def test_metric_flicker_errors_name_the_frame():
    metric = FaceLandmarkMetric()
    metric.process({}, [
        video_sample('001', 1, GT, np.zeros(2)),
        make_sample(GT, GT),  # an image among video frames
    ])
    with pytest.raises(ValueError, match='x.png has no video_id'):
        metric.evaluate(2)
    metric = FaceLandmarkMetric()
    metric.process({}, [
        video_sample('001', 1, GT, np.zeros(2)),
        video_sample('001', 1, GT, np.zeros(2)),
    ])
    with pytest.raises(ValueError, match="frame 1 of video '001' is "
                       'evaluated twice'):
        metric.evaluate(2)
    sample = make_sample(GT, GT, video_id='001')
    with pytest.raises(ValueError, match='x.png: metainfo has video_id'):
        FaceLandmarkMetric().process({}, [sample])
    sample = make_sample(GT, GT, video_id='001', frame_id=1.5)
    with pytest.raises(ValueError, match='integer frame number'):
        FaceLandmarkMetric().process({}, [sample])


def test_metric_flicker_from_clip_dataset(tmp_path):
    """The 300VW clip dataset and PackClipInputs give the metric each frame's
    video and frame number: a broken frame breaks the pair, the padding of
    the last clip is not evaluated."""
    from tsal_mmpose.datasets import Face300VWClipDataset
    from tsal_mmpose.datasets.transforms import PackClipInputs

    frame_ids = [1, 2, 3, 4, 5, 6]
    images, anns = [], []
    for i, f in enumerate(frame_ids):
        gt = GT + (3.0 * f, 2.0 * f)
        kpts = np.concatenate([gt, np.ones((68, 1))], axis=1)
        images.append(dict(file_name=f'009/imgs/{f:06d}.jpg', id=i,
                           height=300, width=300))
        anns.append(dict(image_id=i, id=i, keypoints=kpts.ravel().tolist(),
                         num_keypoints=68, center=[60.0 + f, 90.0],
                         scale=1.0, iscrowd=0, category_id=1))
    ann_file = tmp_path / 'test.json'
    ann_file.write_text(json.dumps(dict(
        images=images, annotations=anns,
        categories=[dict(id=1, name='person')])))
    broken = tmp_path / 'broken.npy'
    np.save(broken, {'9': [4]}, allow_pickle=True)
    dataset = Face300VWClipDataset(
        ann_file=str(ann_file), data_prefix=dict(img=''), check_images=False,
        broken_frames_file=str(broken), clip_len=2, test_mode=True,
        pad_last_clip=True, categories={'9': 'C'})
    pack = PackClipInputs()
    d = 2.0
    metric = FaceLandmarkMetric()
    for i in range(len(dataset)):
        clip = dataset.get_data_info(i)
        for frame in clip['frames']:
            frame['img'] = np.zeros((8, 8, 3), np.uint8)
        samples = []
        for ds in pack.transform(clip)['data_samples']:
            # frame f: error (-1)^f d, so frames 3 and 5 share their error;
            # the padding repeat of frame 3 gets a wild one
            sign = -1.0 if ds.frame_id % 2 else 1.0
            err = sign * d if ds.evaluate else 90.0
            pred = InstanceData()
            pred.keypoints = ds.gt_instances.keypoints + np.float32([err, 0])
            ds.pred_instances = pred
            samples.append(ds.to_dict())
        metric.process({}, samples)
    assert [[r['video'] for r in group] for group in metric.results] == [
        [('009', 1), ('009', 2)], [('009', 3), ('009', 3)],
        [('009', 5), ('009', 6)]
    ]
    res = metric.evaluate(len(dataset))
    # pairs (1, 2), (2, 3), (5, 6): 2d / 80 each; (3, 5) would add a 0
    assert res['NMF_inter_ocular'] == approx32(100 * 2 * d / 80)
    assert res['C/NMF_inter_ocular'] == approx32(100 * 2 * d / 80)
