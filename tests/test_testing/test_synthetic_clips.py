"""Synthetic moving-texture clips: known motion, landmarks and labels."""
import numpy as np
import pytest

from tsal_mmpose.testing import (face_template, moving_texture_clips,
                                 pack_clips)


def test_face_template_is_a_68_point_face():
    face = face_template()
    assert face.shape == (68, 2)
    # width 1 (the jaw ends), jaw tip (8) below the nose tip (30)
    np.testing.assert_allclose(face[:, 0].max() - face[:, 0].min(), 1.0,
                               atol=1e-6)
    assert face[8, 1] > face[30, 1] > face[27, 1]


def test_clips_move_texture_and_landmarks_together():
    points = face_template() * 20 + 24
    clips = moving_texture_clips(2, 3, (48, 40), seed=3, shift=(2, 1),
                                 face_points=points)
    assert len(clips) == 2 and [len(c) for c in clips] == [3, 3]
    first, last = clips[0][0], clips[0][2]
    assert first['img'].shape == (40, 48, 3)
    # frame t is frame 0 moved by t * (2, 1): pixels and landmarks
    np.testing.assert_array_equal(last['img'][2:, 4:], first['img'][:-2, :-4])
    np.testing.assert_allclose(last['keypoints'][0], points + [4, 2])
    assert [f['labelled'] for f in clips[1]] == [True, False, False]
    assert [f['gt_hidden'] for f in clips[1]] == [False, True, True]
    # different clips have different textures
    assert not np.array_equal(clips[0][0]['img'], clips[1][0]['img'])
    with pytest.raises(ValueError, match='shift'):
        moving_texture_clips(1, 3, (48, 40), shift=(9, 0))


def test_pack_clips_encodes_labelled_frames_only():
    codec = dict(type='TSALLabel', input_size=(48, 40),
                 heatmap_size=(12, 10), sigma=1.0)
    clips = moving_texture_clips(2, 3, (48, 40), seed=0)
    batch = pack_clips(clips, codec)
    assert [tuple(x.shape) for x in batch['inputs']] == [(3, 3, 40, 48)] * 2
    samples = batch['data_samples'][0]
    assert samples[0].gt_fields.heatmaps.shape == (68, 10, 12)
    assert 'gt_fields' not in samples[1]
    assert not samples[1].gt_instances.keypoints.any()


def test_fewer_clips_are_a_prefix_of_more():
    """The first N clips do not depend on how many follow (the speed
    benchmark fits its models on a few and times many)."""
    few = moving_texture_clips(2, 3, (32, 32), seed=5)
    many = moving_texture_clips(4, 3, (32, 32), seed=5)
    for clip_few, clip_many in zip(few, many[:2]):
        for a, b in zip(clip_few, clip_many):
            assert np.array_equal(a['img'], b['img'])
            assert np.array_equal(a['keypoints'], b['keypoints'])
