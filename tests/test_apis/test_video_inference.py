"""Image and video inference with TSAL models through mmpose's API."""
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmpose.apis import init_model

from tsal_mmpose.apis import (HaarFaceDetector, LandmarkDrawer,
                              VideoReadError, box_iou, face_lost,
                              infer_video, landmark_box, predict_frames,
                              source_disagreement, video_nme)
from tsal_mmpose.utils import allow_mmengine_checkpoints

from tests.test_apis.video_fixtures import (FRAME_SIZE, NO_FLIP, SHIFT,
                                            TINY_CONFIG,
                                            save_random_checkpoint,
                                            write_face_video)

PLAIN_PIPELINE = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(96, 96)),
    dict(type='PackPoseInputs'),
]


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    state = save_random_checkpoint(path)
    return path, state


@pytest.fixture(scope='module')
def face_video(tmp_path_factory, faces_dir):
    return write_face_video(faces_dir,
                            tmp_path_factory.mktemp('video') / 'face.avi')


@pytest.fixture(scope='module')
def fast_model(checkpoint):
    allow_mmengine_checkpoints()
    return init_model(str(TINY_CONFIG), str(checkpoint[0]), 'cpu', NO_FLIP)


@pytest.fixture(scope='module')
def face_image(face_300w):
    """The 300W face and its landmarks [68, 2] (conftest's ``face_300w``)."""
    return face_300w


@pytest.fixture(scope='module')
def haar():
    """The fallback detector: the same on every installation."""
    return HaarFaceDetector()


def test_clip_test_pipeline_serves_single_images(face_image):
    """inference_topdown runs the config's clip pipeline on one image: the
    result equals mmpose's plain top-down pipeline."""
    cfg = Config.fromfile(str(TINY_CONFIG))
    assert cfg.test_dataloader.dataset.pipeline[-1]['type'] == \
        'PackClipInputs'
    img, points = face_image
    info = dict(img=img, bbox=landmark_box(points)[None],
                bbox_score=np.ones(1, np.float32))
    with DefaultScope.overwrite_default_scope('mmpose'):
        clip = Compose(cfg.test_dataloader.dataset.pipeline)(dict(info))
        plain = Compose(PLAIN_PIPELINE)(dict(info))
    assert clip['inputs'].shape == (3, 96, 96)
    assert torch.equal(clip['inputs'], plain['inputs'])
    for key in ('input_center', 'input_scale', 'input_size', 'ori_shape'):
        np.testing.assert_array_equal(clip['data_samples'].metainfo[key],
                                      plain['data_samples'].metainfo[key])


def test_mmpose_api_compat(checkpoint, face_image):
    """mmpose's init_model + inference_topdown + PoseLocalVisualizer."""
    from mmpose.apis import inference_topdown
    from mmpose.visualization import PoseLocalVisualizer

    path, state = checkpoint
    torch.manual_seed(123)  # the weights must come from the checkpoint
    allow_mmengine_checkpoints()
    model = init_model(str(TINY_CONFIG), str(path), device='cpu')
    assert type(model).__name__ == 'TSALEstimator'
    assert not model.training
    assert model.dataset_meta['num_keypoints'] == 68
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())

    img, points = face_image
    tight = landmark_box(points)
    bboxes = np.stack([tight, tight + np.float32([40, -30, 40, -30])])
    results = inference_topdown(model, img, bboxes)
    assert len(results) == 2
    for sample, box in zip(results, bboxes):
        pred = sample.pred_instances
        assert pred.keypoints.shape == (1, 68, 2)
        assert pred.keypoint_scores.shape == (1, 68)
        np.testing.assert_allclose(pred.bboxes[0], box)
        assert np.isfinite(pred.keypoints).all()
        # the crop: the box squared and padded 1.25x (input 96x96)
        np.testing.assert_allclose(sample.metainfo['input_center'],
                                   (box[:2] + box[2:]) / 2,
                                   rtol=1e-6)
        side = (box[2:] - box[:2]).max() * 1.25
        np.testing.assert_allclose(sample.metainfo['input_scale'],
                                   [side, side],
                                   rtol=1e-6)
        assert sample.metainfo['input_size'] == (96, 96)

    visualizer = PoseLocalVisualizer(name='tsal_api_compat',
                                     backend='matplotlib',
                                     radius=4)
    visualizer.set_dataset_meta(model.dataset_meta)
    rgb = np.ascontiguousarray(img[..., ::-1])
    drawn = visualizer.add_datasample('face',
                                      rgb,
                                      results[0],
                                      draw_gt=False,
                                      draw_bbox=True,
                                      kpt_thr=-1)
    assert drawn.shape == rgb.shape
    changed = (drawn != rgb).any(axis=2)
    assert changed.any()
    # the points are drawn where the landmarks are
    for x, y in np.round(results[0].pred_instances.keypoints[0]).astype(int):
        assert changed[y, x]


def test_predict_frames_matches_inference_topdown(fast_model, face_image):
    from mmpose.apis import inference_topdown

    img, points = face_image
    box = landmark_box(points)
    shifted = np.roll(img, (5, 9), axis=(0, 1))
    boxes = np.stack([box, box + np.float32([9, 5, 9, 5])])
    batched = predict_frames(fast_model, [img, shifted], boxes)
    assert len(batched) == 2
    for frame, one_box, sample in zip([img, shifted], boxes, batched):
        single = inference_topdown(fast_model, frame, one_box[None])[0]
        np.testing.assert_allclose(sample.pred_instances.keypoints,
                                   single.pred_instances.keypoints,
                                   atol=1e-3)
        np.testing.assert_allclose(sample.pred_instances.keypoint_scores,
                                   single.pred_instances.keypoint_scores,
                                   atol=1e-5)
    assert predict_frames(fast_model, [], np.zeros((0, 4))) == []
    with pytest.raises(ValueError, match='2 frames but 1 boxes'):
        predict_frames(fast_model, [img, img], box)


def test_landmark_box():
    points = np.array([[0.0, 0.0], [10.0, 20.0], [4.0, 3.0]])
    np.testing.assert_allclose(landmark_box(points), [0, 0, 10, 20])
    # centre (5, 10), half sizes (5, 10) * 1.2 = (6, 12)
    np.testing.assert_allclose(landmark_box(points, 1.2), [-1, -2, 11, 22])
    assert landmark_box(points).dtype == np.float32


def test_box_iou():
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert box_iou(a, a) == 1.0
    # overlap 5 x 10 = 50, union 100 + 100 - 50
    assert box_iou(a, a + [5, 0, 5, 0]) == pytest.approx(50 / 150)
    assert box_iou(a, a + 20) == 0.0


def test_face_lost():
    shape = (100, 200, 3)  # H = 100, W = 200
    crop = np.array([50.0, 20.0, 90.0, 80.0])  # longer side 60
    grid = np.stack(
        np.meshgrid(np.linspace(55, 85, 4), np.linspace(30, 70, 17)),
        -1).reshape(-1, 2)  # landmark box 30 x 40
    scores = np.full(68, 0.5)
    assert face_lost(grid, scores, crop, shape) is None
    assert face_lost(grid, np.full(68, 0.19), crop, shape) == 'low_score'
    assert face_lost(grid, np.full(68, 0.19), crop, shape,
                     min_score=None) is None
    bad = grid.copy()
    bad[3, 1] = np.nan
    assert face_lost(bad, scores, crop, shape) == 'invalid'
    # confidence against the last detected crop: 0.5 < 0.7 * 0.75
    assert face_lost(grid, scores, crop, shape,
                     reference_score=0.75) == 'score_drop'
    assert face_lost(grid, scores, crop, shape, reference_score=0.7) is None
    assert face_lost(grid, scores, crop, shape, reference_score=0.75,
                     min_score_ratio=0.6) is None
    # the two landmark sources: 0.2 > 1.5 * 0.1, 0.14 < 0.15; below the
    # floor of 0.05 a disagreement never counts
    assert face_lost(grid, scores, crop, shape, disagreement=0.2,
                     reference_disagreement=0.1) == 'disagreement'
    assert face_lost(grid, scores, crop, shape, disagreement=0.14,
                     reference_disagreement=0.1) is None
    assert face_lost(grid, scores, crop, shape, disagreement=0.045,
                     reference_disagreement=0.01) is None
    assert face_lost(grid, scores, crop, shape, disagreement=0.06,
                     reference_disagreement=0.01) == 'disagreement'
    assert face_lost(grid, scores, crop, shape, disagreement=0.2) is None
    # size against the last detection (longer side 40 here): 40 * 1.3 = 52
    detection = np.array([0.0, 0.0, 52.5, 10.0])
    assert face_lost(grid, scores, crop, shape,
                     reference_box=detection) == 'size_drift'
    assert face_lost(grid, scores, crop, shape, reference_box=detection,
                     size_scale=1.1) is None
    # 40 / 31 = 1.29 is within 1.3, 40 / 30 and 40 * 1.02 / 31 are not
    assert face_lost(grid, scores, crop, shape,
                     reference_box=np.array([0.0, 0.0, 31.0, 5.0])) is None
    assert face_lost(grid, scores, crop, shape,
                     reference_box=np.array([0.0, 0.0, 30.0, 5.0])) == \
        'size_drift'
    assert face_lost(grid, scores, crop, shape,
                     reference_box=np.array([0.0, 0.0, 31.0, 5.0]),
                     size_scale=1.02) == 'size_drift'
    # unit box [0, 1] x [0, 1] of the landmarks, scaled and moved below
    unit = (grid - grid.min(0)) / (grid.max(0) - grid.min(0))
    # crop longer side 100: the relative limit 0.2 * 100 = 20 applies
    big_crop = np.array([10.0, 0.0, 90.0, 100.0])
    assert face_lost(unit * [5, 19] + 40, scores, big_crop,
                     shape) == 'collapsed'
    assert face_lost(unit * [5, 21] + 40, scores, big_crop, shape) is None
    # crop longer side 40 (0.2 * 40 = 8): the absolute 16 pixels apply
    small_crop = np.array([40.0, 30.0, 70.0, 70.0])
    assert face_lost(unit * [9, 15] + 40, scores, small_crop,
                     shape) == 'collapsed'
    assert face_lost(unit * [9, 15] + 40,
                     scores,
                     small_crop,
                     shape,
                     min_face_size=15) is None
    # 34 of 68 points (exactly half) inside the frame is enough, 33 not
    out = grid.copy()
    out[:34, 0] += 200.0
    assert face_lost(out, scores, crop, shape) is None
    out[34, 0] = -0.5
    assert face_lost(out, scores, crop, shape) == 'outside'


def test_source_disagreement():
    from mmengine.structures import InstanceData

    # fused landmarks spanning 40 px; p_M and p_C 2 px apart on half the
    # points, 6 px on the other half: mean 4 px = 0.1 box sides
    fused = np.zeros((1, 68, 2))
    fused[0, 1] = [40.0, 20.0]
    lhr = fused.copy()
    clor = fused.copy()
    clor[0, :34, 0] += 2.0
    clor[0, 34:, 1] -= 6.0
    pred = InstanceData(keypoints=fused, keypoints_lhr=lhr,
                        keypoints_clor=clor)
    assert source_disagreement(pred) == pytest.approx(0.1)
    assert source_disagreement(InstanceData(keypoints=fused)) is None


def test_video_nme():
    # eye corners 36 and 45 are 10 px apart: every 1 px error is 0.1
    gt = np.zeros((3, 68, 2))
    gt[:, 45, 0] = 10.0
    pred = gt[:2].copy()
    pred[0, :, 1] += 1.0  # every point 1 px off
    pred[1, :34, 0] += 2.0  # half the points 2 px off
    frames = [dict(keypoints=pred[0].tolist()),
              dict(keypoints=pred[1].tolist()),
              dict(keypoints=[])]
    nme = video_nme(frames, gt)
    np.testing.assert_allclose(nme[:2], [0.1, 0.1])
    assert np.isnan(nme[2])
    with pytest.raises(ValueError, match='3 frames but ground truth'):
        video_nme(frames, gt[:2])


def _count_frames(path):
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_infer_video_tracks(fast_model, face_video, haar, tmp_path):
    out_video, out_json = tmp_path / 'out.mp4', tmp_path / 'out.json'
    result = infer_video(fast_model,
                         face_video,
                         out_video,
                         out_json,
                         detector=haar,
                         min_score=None,
                         min_score_ratio=0.0,
                         max_size_change=1e9,
                         redetect_interval=4,
                         progress=False)
    assert json.loads(out_json.read_text()) == json.loads(json.dumps(result))
    assert (result['width'], result['height']) == FRAME_SIZE
    assert result['num_frames'] == 6 and result['box_mode'] == 'track'
    assert result['num_faces'] == 6
    assert result['detector'] == haar.describe()
    assert result['processing_fps'] > 0
    assert _count_frames(out_video) == 6
    frames = result['frames']
    assert [f['frame'] for f in frames] == [1, 2, 3, 4, 5, 6]
    for record in frames:
        assert np.array(record['keypoints']).shape == (68, 2)
        assert len(record['scores']) == 68 and len(record['bbox']) == 4
        assert record['detected'] == (record['box_source'] == 'detector')
        assert record['lost'] is None
    # the detector on frames 1 and 5 (every 4 frames), else carried
    assert [f['box_source'] for f in frames] == [
        'detector', 'landmarks', 'landmarks', 'landmarks', 'detector',
        'landmarks'
    ]
    # a carried box: the last detection, moved by as much as the
    # landmark box centre moved since the detected frame
    def centre(box):
        return (np.asarray(box[:2]) + np.asarray(box[2:])) / 2

    detection = np.array(frames[0]['bbox'])
    at_detection = centre(landmark_box(np.array(frames[0]['keypoints'])))
    for prev, record in zip(frames[:3], frames[1:4]):
        box = np.array(record['bbox'])
        np.testing.assert_allclose(box[2:] - box[:2],
                                   detection[2:] - detection[:2],
                                   atol=0.02)
        moved = centre(landmark_box(np.array(prev['keypoints']))) - \
            at_detection
        np.testing.assert_allclose(centre(box), centre(detection) + moved,
                                   atol=0.02)
    # the detector boxes cover the face, which moves by SHIFT per frame:
    # the 300W annotation, halved, has the landmark box
    # [134, 132.5, 355.5, 370.5]
    face = np.array([134, 132.5, 355.5, 370.5])
    for index in (0, 4):
        assert box_iou(np.array(frames[index]['bbox']),
                       face + np.tile(SHIFT, 2) * index) > 0.75

    # the annotated video shows the drawing
    capture = cv2.VideoCapture(str(face_video))
    raw = capture.read()[1]
    capture.release()
    capture = cv2.VideoCapture(str(out_video))
    drawn = capture.read()[1]
    capture.release()
    assert drawn.shape == raw.shape
    assert np.abs(drawn.astype(int) - raw).max() > 100


def test_infer_video_redetects_when_lost(fast_model, face_video, haar):
    # every prediction counts as lost: the detector runs on every frame
    result = infer_video(fast_model,
                         face_video,
                         detector=haar,
                         min_score=np.inf,
                         max_frames=4,
                         progress=False)
    frames = result['frames']
    assert len(frames) == 4
    assert all(f['detected'] and f['lost'] == 'low_score' for f in frames)
    # each detection covers the face, which moves by SHIFT per frame
    # (annotated landmark box at half size: [134, 132.5, 355.5, 370.5])
    for index, record in enumerate(frames):
        face = np.array([134, 132.5, 355.5, 370.5]) + np.tile(SHIFT, 2) * index
        assert box_iou(np.array(record['bbox']), face) > 0.75


class _Recorder:
    """A detector that finds the given box on chosen calls, and records
    every call."""

    def __init__(self, box, found_on):
        self.box = np.asarray(box, np.float32)
        self.found_on = set(found_on)
        self.calls = 0

    def __call__(self, frame, previous=None):
        self.calls += 1
        return self.box.copy() if self.calls in self.found_on else None

    def describe(self):
        return 'recorder'


def test_infer_video_redetects_a_drifting_box_on_the_same_frame(
        fast_model, face_video):
    """A carried box that fails a check is detected again at once, and
    the frame predicted again in the detected box."""
    face = np.array([134, 132.5, 355.5, 370.5], np.float32)
    # the detector finds the face on its 1st and 3rd calls only
    detector = _Recorder(face, found_on=(1, 3))
    # any box counts as drifting: frame 2's carried box fails the size
    # check, the detector runs on frame 2 (2nd call: nothing) and on
    # frame 3 (need_detection, 3rd call: found)
    result = infer_video(fast_model,
                         face_video,
                         detector=detector,
                         min_score=None,
                         max_size_change=1.0 + 1e-9,
                         redetect_interval=0,
                         max_frames=3,
                         progress=False)
    frames = result['frames']
    sources = [f['box_source'] for f in frames]
    lost = [f['lost'] for f in frames]
    assert sources[0] == 'detector' and lost[0] is None  # scale measured
    assert sources[1] == 'landmarks' and lost[1] == 'size_drift'
    assert sources[2] == 'detector'
    np.testing.assert_allclose(frames[2]['bbox'], face, atol=0.01)
    assert detector.calls == 3


def test_infer_video_without_face(fast_model, tmp_path, haar):
    path = tmp_path / 'blank.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 5.0,
                             (160, 120))
    for _ in range(3):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    writer.release()
    for mode in ('track', 'detect'):
        out_json = tmp_path / f'{mode}.json'
        result = infer_video(fast_model, path, tmp_path / f'{mode}.mp4',
                             out_json, box_mode=mode, detector=haar,
                             batch_size=2 if mode == 'detect' else 1,
                             progress=False)
        # no face ever found: no crop, no landmarks, the frames unchanged
        assert result['num_frames'] == 3 and result['num_faces'] == 0
        assert json.loads(out_json.read_text())['frames'] == [
            dict(frame=i, bbox=None, keypoints=[], scores=[], detected=False,
                 box_source='none', lost=None) for i in (1, 2, 3)
        ]
        capture = cv2.VideoCapture(str(tmp_path / f'{mode}.mp4'))
        ok, frame = capture.read()
        capture.release()
        assert ok and np.abs(frame.astype(int) - 90).max() < 8


def test_infer_video_bad_input(fast_model, tmp_path, haar):
    with pytest.raises(VideoReadError, match='no such video file'):
        infer_video(fast_model, tmp_path / 'missing.avi', detector=haar)
    empty = tmp_path / 'empty.avi'
    empty.write_bytes(b'')
    with pytest.raises(VideoReadError, match=r'empty \(0 bytes\)'):
        infer_video(fast_model, empty, detector=haar)
    text = tmp_path / 'notes.avi'
    text.write_text('not a video\n' * 100)
    with pytest.raises(VideoReadError, match='OpenCV cannot read'):
        infer_video(fast_model, text, detector=haar)
    # a valid container without a frame; its empty MP4 is not left behind
    zero = tmp_path / 'zero.avi'
    cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*'MJPG'), 5.0,
                    (160, 120)).release()
    assert zero.stat().st_size > 0
    out = tmp_path / 'zero.mp4'
    with pytest.raises(VideoReadError, match='no frame'):
        infer_video(fast_model, zero, out, detector=haar, progress=False)
    assert not out.exists()


def test_infer_video_detect_mode_batches(fast_model, face_video, haar,
                                        tmp_path):
    track = infer_video(fast_model,
                        face_video,
                        detector=haar,
                        min_score=None,
                        max_frames=1,
                        progress=False)
    # batches of 3 and 1 frames
    detect = infer_video(fast_model,
                         face_video,
                         tmp_path / 'd.mp4',
                         box_mode='detect',
                         detector=haar,
                         batch_size=3,
                         max_frames=4,
                         progress=False)
    assert _count_frames(tmp_path / 'd.mp4') == 4
    assert detect['num_frames'] == 4
    assert all(f['detected'] for f in detect['frames'])
    # frame 1 has the same box in both modes: same landmarks
    first, batched = track['frames'][0], detect['frames'][0]
    assert first['bbox'] == batched['bbox']
    np.testing.assert_allclose(first['keypoints'],
                               batched['keypoints'],
                               atol=0.02)
    with pytest.raises(ValueError, match='box_mode'):
        infer_video(fast_model, face_video, box_mode='every')


def test_landmark_drawer_draws(fast_model, face_image):
    img, points = face_image
    box = landmark_box(points)
    sample = predict_frames(fast_model, [img], box[None])[0]
    drawer = LandmarkDrawer(fast_model.dataset_meta, radius=3)
    drawn = drawer(img, sample, detected=True)
    assert drawn.shape == img.shape and drawn.dtype == np.uint8
    # the landmark nearest to the box centre, away from the drawn box
    keypoints = sample.pred_instances.keypoints[0]
    nearest = np.argmin(
        np.linalg.norm(keypoints - (box[:2] + box[2:]) / 2, axis=1))
    x, y = np.round(keypoints[nearest]).astype(int)
    # keypoint colour of the 300VW meta: RGB (255, 0, 0), BGR in the frame
    np.testing.assert_array_equal(drawn[y, x], [0, 0, 255])
    # a threshold above every score leaves only the box
    bare = LandmarkDrawer(fast_model.dataset_meta, radius=3,
                          kpt_thr=2.0)(img, sample)
    np.testing.assert_array_equal(bare[y, x], img[y, x])
    assert 0 < (bare != img).any(axis=2).sum() < \
        (drawn != img).any(axis=2).sum()
