"""ClipApply (one random augmentation per clip) and PackClipInputs."""
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmcv.transforms import BaseTransform
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.structures.bbox import get_warp_matrix

from tsal_mmpose.datasets import Face300VWClipDataset
from tsal_mmpose.datasets.transforms import ClipApply, PackClipInputs

INPUT_SIZE = (256, 256)
IMG_W = 1280  # width of the 300VW frames of video 001


def _codec() -> Dict:
    """TSAL's codec when it is available, else mmpose's MSRAHeatmap."""
    try:
        from tsal_mmpose.codecs.tsal_label import TSALLabel  # noqa: F401
        return dict(type='TSALLabel', input_size=INPUT_SIZE,
                    heatmap_size=(64, 64), sigma=1.5)
    except Exception:  # not written yet
        return dict(type='MSRAHeatmap', input_size=INPUT_SIZE,
                    heatmap_size=(64, 64), sigma=1.5)


def _clip_dataset(faces_dir: Path, **kwargs) -> Face300VWClipDataset:
    """Clip [001/6 (labelled), 001/9 (unlabelled)] of the real frames."""
    root = faces_dir / '300vw'
    kwargs = dict(dict(clip_len=2, label_stride=5, max_frame_gap=3), **kwargs)
    return Face300VWClipDataset(
        ann_file=str(root / 'anno_300vw.json'),
        data_prefix=dict(img=str(root) + '/'), **kwargs)


def _aug(flip_prob: float = 0.5, photometric: bool = True) -> List[Dict]:
    transforms = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', prob=flip_prob, direction='horizontal'),
        dict(type='RandomBBoxTransform', shift_factor=0.1, shift_prob=1.0,
             scale_factor=(0.7, 1.3), scale_prob=1.0, rotate_factor=40,
             rotate_prob=1.0),
        dict(type='TopdownAffine', input_size=INPUT_SIZE),
    ]
    if photometric:
        transforms.append(dict(type='PhotometricDistortion'))
    return transforms


def _mirror(keypoints: np.ndarray, flip_indices: List[int]) -> np.ndarray:
    """Horizontal flip of [1, N, 2] image keypoints (mmpose convention)."""
    out = keypoints[:, flip_indices].copy()
    out[..., 0] = IMG_W - 1 - out[..., 0]
    return out


def test_one_flip_and_affine_per_clip(faces_dir):
    ds = _clip_dataset(faces_dir)
    aug = ClipApply(transforms=_aug())
    flips = set()
    for seed in range(8):
        np.random.seed(seed)
        raw = ds.get_data_info(0)['frames']
        frames = aug(ds.get_data_info(0))['frames']
        f0, f1 = frames
        flips.add(bool(f0['flip']))
        assert f0['flip'] == f1['flip']
        for key in ('input_center', 'input_scale', 'bbox_rotation'):
            np.testing.assert_array_equal(f0[key], f1[key])
        assert abs(float(f0['bbox_rotation'][0])) > 0  # rotate_prob=1
        warp = get_warp_matrix(f0['input_center'], f0['input_scale'],
                               float(f0['bbox_rotation'][0]),
                               output_size=INPUT_SIZE)
        for frame, original in zip(frames, raw):
            expected = original['keypoints']
            if frame['flip']:
                expected = _mirror(expected, original['flip_indices'])
            np.testing.assert_allclose(frame['keypoints'], expected,
                                       atol=1e-4)
            # frame 0's warp matrix maps the keypoints of every frame
            warped = expected[0] @ warp[:, :2].T + warp[:, 2]
            np.testing.assert_allclose(frame['transformed_keypoints'][0],
                                       warped, atol=1e-3)
            assert frame['img'].shape == (256, 256, 3)
    assert flips == {True, False}


def test_identical_frames_give_identical_outputs(faces_dir):
    # a clip made of one frame repeated: every random draw (flip, bbox
    # shift / scale / rotation, photometric flags) must be shared
    ds = _clip_dataset(faces_dir, clip_len=1, label_stride=1)
    aug = ClipApply(transforms=_aug())
    for seed in range(4):
        np.random.seed(seed)
        clip = ds.get_data_info(0)
        clip['frames'] = [dict(clip['frames'][0]) for _ in range(3)]
        frames = aug(clip)['frames']
        for frame in frames[1:]:
            np.testing.assert_array_equal(frame['img'], frames[0]['img'])
            np.testing.assert_array_equal(frame['transformed_keypoints'],
                                          frames[0]['transformed_keypoints'])


def test_random_face_transforms_draw_in_cached_methods():
    # all randomness of these mmpose transforms is drawn in methods that
    # mmcv's cache_random_params can freeze (checked behaviourally above)
    from mmpose.datasets.transforms import (GetBBoxCenterScale, LoadImage,
                                            PhotometricDistortion,
                                            RandomBBoxTransform, RandomFlip,
                                            TopdownAffine)
    assert RandomFlip()._methods_with_randomness == ['_choose_direction']
    assert RandomBBoxTransform()._methods_with_randomness == [
        '_get_transform_params']
    assert PhotometricDistortion()._methods_with_randomness == [
        '_random_flags']
    for deterministic in (LoadImage(), GetBBoxCenterScale(),
                          TopdownAffine(input_size=INPUT_SIZE)):
        assert not hasattr(deterministic, '_methods_with_randomness')


def test_without_clip_apply_frames_would_differ(faces_dir):
    # control: the same transforms applied frame by frame draw new values
    ds = _clip_dataset(faces_dir)
    aug = ClipApply(transforms=_aug())
    np.random.seed(0)
    frames = [aug.transforms(f) for f in ds.get_data_info(0)['frames']]
    assert not np.array_equal(frames[0]['bbox_rotation'],
                              frames[1]['bbox_rotation'])


def test_flip_swaps_ibug_pairs(faces_dir):
    ds = _clip_dataset(faces_dir, clip_len=1, label_stride=1)
    raw = ds.get_data_info(0)['frames'][0]  # 001/6
    flipped = ClipApply(transforms=[
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', prob=1.0),
        dict(type='TopdownAffine', input_size=INPUT_SIZE)
    ])(ds.get_data_info(0))['frames'][0]
    plain = ClipApply(transforms=[
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=INPUT_SIZE)
    ])(ds.get_data_info(0))['frames'][0]
    # right outer eye corner (45) at (836.647, 187.198) becomes the left
    # one (36) of the mirrored image
    np.testing.assert_array_equal(raw['keypoints'][0, 45],
                                  np.float32([836.647, 187.198]))
    np.testing.assert_allclose(flipped['keypoints'][0, 36],
                               [IMG_W - 1 - 836.647, 187.198], atol=1e-4)
    np.testing.assert_allclose(flipped['keypoints'][0, 45],
                               [IMG_W - 1 - 755.736, 189.198], atol=1e-4)
    # jaw 0 <-> 16, nose tip 30 stays, mouth corners 48 <-> 54
    for a, b in ((0, 16), (16, 0), (30, 30), (48, 54), (39, 42)):
        x, y = raw['keypoints'][0, b]
        np.testing.assert_allclose(flipped['keypoints'][0, a],
                                   [IMG_W - 1 - x, y], atol=1e-4)
    # in the 256 x 256 input the crop is mirrored too: x' = 256 - x
    tk_f = flipped['transformed_keypoints'][0]
    tk = plain['transformed_keypoints'][0]
    np.testing.assert_allclose(tk_f[36], [256 - tk[45, 0], tk[45, 1]],
                               atol=1e-3)
    # and the image: input column u of the flipped crop is column 256 - u
    # of the plain one (up to OpenCV's fixed-point interpolation rounding)
    diff = np.abs(flipped['img'][:, 1:].astype(int) - plain['img'][:, :0:-1])
    assert diff.max() <= 2 and diff.mean() < 0.01


def _full_pipeline(generate_on: str = 'labelled') -> List:
    return [
        ClipApply(transforms=_aug()),
        ClipApply(frames=generate_on,
                  transforms=[dict(type='GenerateTarget', encoder=_codec())]),
        PackClipInputs(),
    ]


def _run(pipeline: List, clip: Dict) -> Dict:
    for transform in pipeline:
        clip = transform(clip)
    return clip


def test_targets_only_for_labelled_frames(faces_dir):
    ds = _clip_dataset(faces_dir)
    np.random.seed(3)
    clip = _run(_full_pipeline()[:2], ds.get_data_info(0))
    f0, f1 = clip['frames']
    assert 'heatmaps' in f0 and 'keypoint_weights' in f0
    assert 'heatmaps' not in f1 and 'keypoint_weights' not in f1


@pytest.mark.parametrize('generate_on', ['labelled', 'all'])
def test_pack_clip_hides_unlabelled_gt(faces_dir, generate_on):
    ds = _clip_dataset(faces_dir)
    np.random.seed(5)
    raw = ds.get_data_info(0)['frames']
    pipeline = _full_pipeline(generate_on)
    clip = _run(pipeline[:2], ds.get_data_info(0))
    images = [f['img'].copy() for f in clip['frames']]
    packed = pipeline[2](clip)
    inputs, samples = packed['inputs'], packed['data_samples']
    assert isinstance(inputs, torch.Tensor)
    assert inputs.shape == (2, 3, 256, 256) and inputs.dtype == torch.uint8
    for k, img in enumerate(images):  # BGR as loaded, channels first
        np.testing.assert_array_equal(inputs[k].permute(1, 2, 0).numpy(),
                                      img)
    assert isinstance(samples, list) and len(samples) == 2
    s0, s1 = samples
    for k, (s, frame_id) in enumerate(zip(samples, (6, 9))):
        assert s.metainfo['clip_len'] == 2
        assert s.metainfo['frame_index'] == k
        assert s.metainfo['video_id'] == '001'
        assert s.metainfo['frame_id'] == frame_id
        assert s.metainfo['evaluate'] is True
        assert 'category' not in s.metainfo  # unknown category
        assert s.metainfo['input_size'] == INPUT_SIZE
        assert s.metainfo['flip_indices'][36] == 45
        assert s.metainfo['img_path'].endswith(f'001/imgs/{frame_id:06d}.jpg')
        np.testing.assert_array_equal(s.metainfo['input_center'],
                                      samples[0].metainfo['input_center'])
    assert s0.metainfo['labelled'] is True
    assert s1.metainfo['labelled'] is False
    # labelled frame: mmpose's usual top-down sample
    flip = s0.metainfo['flip']
    expected = raw[0]['keypoints']
    if flip:
        expected = _mirror(expected, raw[0]['flip_indices'])
    np.testing.assert_allclose(s0.gt_instances.keypoints, expected,
                               atol=1e-4)
    np.testing.assert_array_equal(s0.gt_instances.keypoints_visible,
                                  np.ones((1, 68), np.float32))
    assert s0.gt_fields.heatmaps.shape == (68, 64, 64)
    assert s0.gt_instance_labels.keypoint_weights.shape == (1, 68)
    assert 'hidden_keypoints' not in s0.gt_instances
    # unlabelled frame: nothing a loss could read
    np.testing.assert_array_equal(s1.gt_instances.keypoints,
                                  np.zeros((1, 68, 2), np.float32))
    np.testing.assert_array_equal(s1.gt_instances.keypoints_visible,
                                  np.zeros((1, 68), np.float32))
    assert len(s1.gt_instance_labels.keys()) == 0
    assert not hasattr(s1, 'gt_fields')
    # ... but its true (augmented) annotation is kept for analysis
    expected = raw[1]['keypoints']
    if flip:
        expected = _mirror(expected, raw[1]['flip_indices'])
    np.testing.assert_allclose(s1.gt_instances.hidden_keypoints, expected,
                               atol=1e-4)
    assert s1.gt_instances.hidden_transformed_keypoints.shape == (1, 68, 2)
    # the unlabelled frame is cropped with the labelled frame's box
    np.testing.assert_array_equal(s1.gt_instances.bboxes,
                                  s0.gt_instances.bboxes)


def test_pack_test_clip_keeps_every_gt(faces_dir):
    ds = _clip_dataset(faces_dir, test_mode=True, categories={'001': 'A'})
    packed = _run([
        ClipApply(transforms=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=INPUT_SIZE)
        ]),
        PackClipInputs()
    ], ds.get_data_info(0))
    s0, s1 = packed['data_samples']
    # test mode: labelled follows the stride, GT everywhere, own keypoints
    assert (s0.metainfo['labelled'], s1.metainfo['labelled']) == (True, False)
    assert s0.metainfo['category'] == 'A' == s1.metainfo['category']
    np.testing.assert_array_equal(s1.gt_instances.keypoints[0, 36],
                                  np.float32([751.554, 195.364]))
    np.testing.assert_array_equal(s1.gt_instances.keypoints_visible,
                                  np.ones((1, 68), np.float32))
    assert 'hidden_keypoints' not in s1.gt_instances
    # crop of the first frame's box, own box kept for box-normalised NME
    np.testing.assert_array_equal(s0.metainfo['input_center'],
                                  s1.metainfo['input_center'])
    assert not np.array_equal(s0.gt_instances.bboxes, s1.gt_instances.bboxes)


class _Reject(BaseTransform):

    def transform(self, results):
        return None if results['frame_index'] == 1 else results


def test_clip_apply_rejects_and_validates(faces_dir):
    ds = _clip_dataset(faces_dir)
    assert ClipApply(transforms=[_Reject()])(ds.get_data_info(0)) is None
    with pytest.raises(ValueError, match='frames'):
        ClipApply(transforms=[], frames='some')
    assert ClipApply(transforms=[_Reject()])(dict(frame_index=1)) is None


def test_clip_transforms_take_single_images():
    """One frame dict is a clip of one frame: transformed and packed like
    mmpose's PackPoseInputs, with 'labelled' still selecting frames."""
    img = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    kpts = np.array([[[1.0, 2.0], [3.0, 4.0]]], np.float32)

    def add_one(results):
        return dict(results, img=results['img'] + 1)

    frame = dict(img=img, keypoints=kpts, keypoints_visible=np.ones((1, 2)))
    out = ClipApply(transforms=[add_one])(dict(frame))
    assert 'frames' not in out
    np.testing.assert_array_equal(out['img'], img + 1)
    # frames='labelled' leaves an unlabelled single frame alone
    same = ClipApply(transforms=[add_one], frames='labelled')(dict(frame))
    np.testing.assert_array_equal(same['img'], img)
    labelled = ClipApply(transforms=[add_one], frames='labelled')(
        dict(frame, labelled=True))
    np.testing.assert_array_equal(labelled['img'], img + 1)

    packed = PackClipInputs()(dict(out, img_shape=(8, 6)))
    plain = PackPoseInputs()(dict(out, img_shape=(8, 6)))
    assert packed['inputs'].shape == (3, 8, 6)
    assert torch.equal(packed['inputs'], plain['inputs'])
    assert packed['data_samples'].metainfo['img_shape'] == (8, 6)
    np.testing.assert_array_equal(
        packed['data_samples'].gt_instances.keypoints, kpts)
