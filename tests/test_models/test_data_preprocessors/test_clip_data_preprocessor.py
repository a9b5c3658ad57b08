"""ClipDataPreprocessor: clip batches -> clip-major frame batches."""
from typing import List

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.structures import InstanceData, PixelData
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.structures import PoseDataSample

from tsal_mmpose.datasets import clip_collate
from tsal_mmpose.models.data_preprocessors import ClipDataPreprocessor

H = W = 4
MEAN = [10.0, 20.0, 30.0]  # R, G, B
STD = [2.0, 4.0, 5.0]


def _clip(b: int, clip_len: int) -> dict:
    """Packed clip b: frame k has B, G, R channels = 100b + 10k + (0, 1, 2)."""
    frames = []
    samples = []
    for k in range(clip_len):
        value = 100 * b + 10 * k
        frames.append(
            torch.stack([torch.full((H, W), value + c, dtype=torch.uint8)
                         for c in range(3)]))
        sample = PoseDataSample()
        sample.set_metainfo(dict(clip_len=clip_len, frame_index=k,
                                 tag=(b, k)))
        samples.append(sample)
    return dict(inputs=torch.stack(frames), data_samples=samples)


def _preprocessor() -> ClipDataPreprocessor:
    return ClipDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True)


def _expected(b: int, k: int) -> torch.Tensor:
    """Normalised RGB values of frame (b, k): (BGR reversed - mean) / std."""
    value = 100 * b + 10 * k
    rgb = [value + 2, value + 1, value + 0]
    return torch.tensor([(v - m) / s for v, m, s in zip(rgb, MEAN, STD)])


def _check(out: dict, order: List[tuple]) -> None:
    inputs, samples = out['inputs'], out['data_samples']
    assert inputs.shape == (len(order), 3, H, W)
    assert inputs.dtype == torch.float32
    assert [s.metainfo['tag'] for s in samples] == order
    for i, (b, k) in enumerate(order):
        torch.testing.assert_close(inputs[i, :, 0, 0], _expected(b, k))
        assert torch.all(inputs[i] == inputs[i, :, :1, :1])
        assert samples[i].metainfo['batch_input_shape'] == (H, W)
        assert samples[i].metainfo['pad_shape'] == (H, W)


def test_clip_batch_is_flattened_clip_major():
    batch = clip_collate([_clip(0, 3), _clip(1, 3)])
    assert len(batch['inputs']) == 2 and len(batch['data_samples']) == 2
    out = _preprocessor()(batch)
    # sample b, frame k at index b * K + k
    _check(out, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
    # hand check of one value: frame (1, 2) R channel = 122 -> (122-10)/2
    assert out['inputs'][5, 0, 0, 0].item() == pytest.approx(56.0)


def test_pseudo_collate_layout_is_reordered():
    # mmengine's default collate transposes the clips' sample lists
    for num_clips, clip_len in ((2, 3), (3, 3), (1, 2)):
        batch = pseudo_collate([_clip(b, clip_len) for b in range(num_clips)])
        assert len(batch['data_samples']) == clip_len
        out = _preprocessor()(batch)
        _check(out, [(b, k) for b in range(num_clips)
                     for k in range(clip_len)])


def test_square_clip_major_batch():
    batch = clip_collate([_clip(b, 3) for b in range(3)])
    _check(_preprocessor()(batch), [(b, k) for b in range(3)
                                    for k in range(3)])


def test_clips_of_different_lengths():
    # the last clip of a test video may be shorter
    batch = clip_collate([_clip(0, 3), _clip(1, 1)])
    _check(_preprocessor()(batch), [(0, 0), (0, 1), (0, 2), (1, 0)])


def test_stacked_clip_tensor():
    clips = [_clip(0, 2), _clip(1, 2)]
    batch = dict(inputs=torch.stack([c['inputs'] for c in clips]),
                 data_samples=[c['data_samples'] for c in clips])
    _check(_preprocessor()(batch), [(0, 0), (0, 1), (1, 0), (1, 1)])


def test_plain_mmpose_batch_unchanged():
    images = [_clip(b, 1) for b in range(3)]
    batch = dict(inputs=[c['inputs'][0] for c in images],
                 data_samples=[c['data_samples'][0] for c in images])
    ours = _preprocessor()(dict(batch), training=True)
    ref = PoseDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True)(
        dict(batch), training=True)
    torch.testing.assert_close(ours['inputs'], ref['inputs'])
    assert [s.metainfo['tag'] for s in ours['data_samples']] == [
        (0, 0), (1, 0), (2, 0)]
    for a, b in zip(ours['data_samples'], ref['data_samples']):
        assert a.metainfo['pad_shape'] == b.metainfo['pad_shape']


def test_mismatched_samples_raise():
    batch = clip_collate([_clip(0, 3), _clip(1, 3)])
    batch['data_samples'][1] = batch['data_samples'][1][:2]
    with pytest.raises(ValueError, match='clip lengths'):
        _preprocessor()(batch)
    batch = clip_collate([_clip(0, 2)])
    batch['data_samples'] = batch['data_samples'][0][:1]
    with pytest.raises(ValueError, match='1 data samples for 2 frames'):
        _preprocessor()(batch)


def test_clip_collate_keeps_clips_whole():
    clips = [_clip(0, 3), _clip(1, 1)]
    batch = clip_collate(clips)
    assert [tuple(x.shape) for x in batch['inputs']] == [
        (3, 3, H, W), (1, 3, H, W)]
    assert [[s.metainfo['tag'] for s in clip]
            for clip in batch['data_samples']] == [[(0, 0), (0, 1), (0, 2)],
                                                   [(1, 0)]]
    with pytest.raises(ValueError, match='empty'):
        clip_collate([])


def test_cast_data_moves_samples_sharing_metainfo():
    sample = PoseDataSample()
    flip_indices = [1, 0, 2]
    center = np.array([48.0, 48.0], np.float32)
    sample.set_metainfo(dict(flip_indices=flip_indices, input_center=center))
    keypoints = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    sample.gt_instances = InstanceData(
        keypoints=keypoints, bboxes=torch.tensor([[0.0, 0.0, 4.0, 4.0]]))
    sample.gt_fields = PixelData(heatmaps=torch.ones(3, H, W))
    pre = _preprocessor().to('meta')

    moved = pre.cast_data(dict(data_samples=[sample]))['data_samples'][0]
    reference = sample.to('meta')  # mmengine's, metainfo deep-copied

    assert type(moved) is PoseDataSample
    assert sorted(moved.keys()) == sorted(reference.keys())
    assert sorted(moved.metainfo_keys()) == sorted(reference.metainfo_keys())
    assert moved.gt_fields.heatmaps.device.type == 'meta'
    assert moved.gt_fields.heatmaps.shape == (3, H, W)
    assert moved.gt_instances.bboxes.device.type == 'meta'
    # numpy values are kept, metainfo values shared instead of copied
    assert moved.gt_instances.keypoints is keypoints
    assert moved.flip_indices is sample.flip_indices
    assert moved.input_center is sample.input_center
    assert reference.flip_indices is not sample.flip_indices
    assert moved.flip_indices == flip_indices
    np.testing.assert_array_equal(moved.input_center, center)
    # the dataloader's sample is left as it was
    moved.set_metainfo(dict(pad_shape=(H, W)))
    assert 'pad_shape' not in sample.metainfo
    assert sample.gt_fields.heatmaps.device.type == 'cpu'
    assert sample.gt_instances.bboxes.device.type == 'cpu'
