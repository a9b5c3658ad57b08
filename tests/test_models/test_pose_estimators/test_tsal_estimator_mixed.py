"""TSALEstimator on batches mixing images with clips, and on landmarks that
are invisible on the labelled frame."""
import copy
import json

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpose.registry import DATASETS
from mmpose.structures import PoseDataSample

from tests.test_models.test_pose_estimators import \
    test_tsal_estimator as single
from tsal_mmpose.datasets import clip_collate
from tsal_mmpose.models.pose_estimators import ClipLayout, ClipOutputs
from tsal_mmpose.testing import moving_texture_clips, pack_clips

CODEC, NETWORK, SIZE, W50 = single.CODEC, single.NETWORK, single.SIZE, \
    single.W50
build, set_iter, _hand_sample = single.build, single.set_iter, \
    single._hand_sample
face_points = single.face_points  # the fixture: real 300W landmarks

VIDEO_TERMS = ('loss_photometric', 'loss_smooth', 'loss_sic', 'loss_mfds',
               'loss_pseudo')
SUPERVISED_TERMS = ('loss_heatmap', 'loss_center', 'loss_offset')


def _samples(*lengths):
    out = []
    for length in lengths:
        out += [PoseDataSample(metainfo=dict(clip_len=length))] * length
    return out


def test_clip_layout_by_hand():
    layout = build().clip_layout
    assert layout(_samples(3, 3)) == ClipLayout(3)
    assert layout(_samples(1, 1, 1)) == ClipLayout(1)
    # images first, as ExactMultiSourceSampler orders them, or in between
    assert layout(_samples(1, 1, 3, 3)) == ClipLayout(3, [2, 3, 4, 5, 6, 7])
    assert layout(_samples(2, 1, 2)) == ClipLayout(2, [0, 1, 3, 4])
    assert layout([PoseDataSample()] * 2) == ClipLayout(1)  # plain images
    with pytest.raises(ValueError, match=r'clips of \[1, 2, 3\] frames'):
        layout(_samples(1, 2, 3))
    with pytest.raises(ValueError, match='frame 3 starts a clip of 3'):
        layout(_samples(3)[:3] + _samples(3)[:2])


def _mixed_batch(face_points, visible=None):
    """2 labelled images (clips of one frame) then 2 clips of 3 frames.

    ``visible`` ([N]) is the visibility of the clips' labelled frames."""
    # the images show template faces of their own size and place
    images = moving_texture_clips(2, 1, (SIZE, SIZE), seed=1)
    clips = moving_texture_clips(2, 3, (SIZE, SIZE), seed=0, shift=(1, 1),
                                 face_points=face_points)
    if visible is not None:
        for clip in clips:
            clip[0]['keypoints_visible'] = visible[None].astype(np.float32)
    image_batch = pack_clips(images, CODEC)
    clip_batch = pack_clips(clips, CODEC)
    mixed = {key: image_batch[key] + clip_batch[key]
             for key in ('inputs', 'data_samples')}
    return mixed, clip_batch


def test_images_get_the_supervised_terms_and_clips_all(face_points):
    """In a mixed batch l_M and l_C are the head's supervised losses over
    every labelled frame (the 2 images and the clips' frames 0), and every
    other term is the clips' alone: the same values as on the clips
    without the images. (Eval mode: per-frame outputs then do not depend
    on the other frames of the batch.)"""
    model = build(
        mu=0.25,
        sic_loss=dict(type='SICLoss', loss_weight=0.3),
        mfds_loss=dict(type='MFDSLoss', loss_weight=0.7),
        pseudo_loss=dict(type='PseudoHeatmapLoss', loss_weight=2.0))
    model.eval()
    set_iter(50)
    mixed, clips = _mixed_batch(face_points)
    mixed = model.data_preprocessor(mixed, training=True)
    clips = model.data_preprocessor(clips, training=True)
    assert [s.metainfo['clip_len'] for s in mixed['data_samples']] == \
        [1, 1, 3, 3, 3, 3, 3, 3]
    with torch.no_grad():
        both = model.loss(**mixed)
        alone = model.loss(**clips)
    labelled = [0, 1, 2, 5]
    for role in ('teacher', 'student'):
        for term in VIDEO_TERMS:
            value = both[f'{role}/{term}'].item()
            assert value > 0, (role, term)
            assert value == pytest.approx(
                alone[f'{role}/{term}'].item(), rel=1e-5), (role, term)
        net = getattr(model, role)
        inputs = mixed['inputs'][labelled]
        samples = [mixed['data_samples'][i] for i in labelled]
        with torch.no_grad():
            expected = net.head.loss_by_outputs(
                net.head.forward(net.extract_feat(inputs)), samples)
        for term in SUPERVISED_TERMS:
            assert both[f'{role}/{term}'].item() == pytest.approx(
                expected[term].item(), rel=1e-5), (role, term)
        # the images count: their offsets are other targets
        assert both[f'{role}/loss_offset'].item() != pytest.approx(
            alone[f'{role}/loss_offset'].item(), rel=1e-2), role


def test_one_forward_pass_over_images_and_clips(face_points):
    """Training mode: the normalisation statistics of a mixed batch are
    those of one pass over all 8 frames."""
    model = build()
    set_iter(50)
    mixed, _ = _mixed_batch(face_points)
    mixed = model.data_preprocessor(mixed, training=True)
    reference = copy.deepcopy(model.teacher)
    model.loss(**mixed)
    reference.train()
    reference.extract_feat(mixed['inputs'])
    bn = 'backbone.bn1.running_mean'
    assert torch.equal(model.teacher.state_dict()[bn],
                       reference.state_dict()[bn])


def test_invisible_landmarks_leave_no_target_by_hand():
    """Two clips of 3 frames; on clip 0's labelled frame landmark 1 is
    invisible (offset weight 0, offset zeroed by the codec: p_l would be
    the centre). L_d (teacher and student) leaves it out of every frame of
    the clip; L_D averages over the landmarks visible on frame 0."""
    mu, k, n, size = 0.25, 3, 2, 8
    model = build(mu=mu, sic_loss=None,
                  mfds_loss=dict(type='MFDSLoss', loss_weight=1.0),
                  pseudo_loss=dict(type='PseudoHeatmapLoss',
                                   loss_weight=1.0))
    labels = {0: ((3, 4), [[1.0, -0.5], [0.0, 0.0]]),
              1: ((2, 3), [[0.5, 0.5], [1.0, 1.0]])}
    visible = {0: [True, False], 1: [True, True]}
    samples = []
    for clip, (center, offsets) in labels.items():
        first = _hand_sample(k, True, center, offsets)
        first.gt_instance_labels.offset_weights = torch.tensor(
            [visible[clip]], dtype=torch.float32)
        samples.append(first)
        samples += [_hand_sample(k, False) for _ in range(k - 1)]
    assert model.labelled_visibility(samples, k, n, torch.zeros(
        1)).tolist() == [[1.0, 0.0], [1.0, 1.0]]
    step = np.array([0.5, -1.0])
    gen = torch.Generator().manual_seed(0)
    heatmaps = torch.rand(2 * k, n, size, size, generator=gen)
    p_c = torch.rand(2, k, n, 2, generator=gen) * (size - 1)
    p_m = torch.rand(2, k, n, 2, generator=gen) * (size - 1)
    flows = torch.zeros(2, k - 1, 2, size, size)
    flows[:, :, 0], flows[:, :, 1] = step[0], step[1]
    head = (heatmaps, torch.zeros(2 * k, 1, size, size),
            torch.zeros(2 * k, 2 * n, size, size))
    clips = ClipOutputs(head, torch.rand(2, k, 3, 32, 32, generator=gen),
                        flows, p_m=p_m, p_c=p_c,
                        offsets_at_center=torch.zeros(2, k, n, 2))
    model.forward_clips = lambda *args, **kwargs: clips
    model.teacher.motion_field.loss = lambda *args: {}
    model.student.motion_field.loss = lambda *args: {}
    set_iter(50)
    losses = model.loss(torch.zeros(2 * k, 3, 32, 32), samples)
    for role in ('teacher', 'student'):
        targets = {}
        for clip, ((cx, cy), offsets) in labels.items():
            tracks = np.stack([np.array([cx, cy]) + np.array(offsets) +
                               i * step for i in range(k)])
            targets[clip] = tracks if role == 'teacher' else \
                mu * tracks + (1 - mu) * p_c[clip].numpy()
        expected = single._hand_pseudo_loss(
            {c: heatmaps.view(2, k, n, size, size)[c].numpy()
             for c in (0, 1)}, targets, 1.0, visible)
        assert losses[f'{role}/loss_pseudo'].item() == pytest.approx(
            W50 * expected, rel=1e-5), role
    # L_D: p_M of frame 0 moved by (K-1) steps against p_M of frame K-1
    sq = ((p_m[:, 0] + (k - 1) * torch.tensor(step, dtype=torch.float32) -
           p_m[:, -1])**2).sum(-1)
    expected = (sq[0, 0] + sq[1].mean()) / 2  # clip 0: landmark 0 only
    assert losses['teacher/loss_mfds'].item() == pytest.approx(
        W50 * expected.item(), rel=1e-5)


@pytest.fixture
def aflw_clip(faces_dir, tmp_path):
    """An AFLW-style clip: AFLW's image22568 with 4 of its 19 points marked
    invisible (v = 0), as frame 0 (labelled) and again as frame 1
    (unlabelled), through the clip pipeline at the tiny input size."""
    ann = json.loads((faces_dir / 'aflw' / 'test_aflw.json').read_text())
    for record in ann['annotations']:
        kpts = np.array(record['keypoints'], dtype=float).reshape(-1, 3)
        kpts[[2, 7, 13, 16], 2] = 0
        record['keypoints'] = kpts.reshape(-1).tolist()
    path = tmp_path / 'aflw_invisible.json'
    path.write_text(json.dumps(ann))
    codec = dict(CODEC)
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = DATASETS.build(
            dict(type='AFLWDataset', data_root=f'{faces_dir}/aflw/',
                 ann_file=str(path), data_mode='topdown'))
        info = dataset.get_data_info(0)
        frames = [dict(copy.deepcopy(info), clip_len=2, frame_index=t,
                       labelled=t == 0, gt_hidden=t == 1) for t in (0, 1)]
        aug = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
               dict(type='TopdownAffine', input_size=(SIZE, SIZE))]
        pipeline = [
            dict(type='ClipApply', transforms=aug),
            dict(type='ClipApply', frames='labelled',
                 transforms=[dict(type='GenerateTarget', encoder=codec)]),
            dict(type='PackClipInputs')
        ]
        from mmengine.dataset import Compose
        packed = Compose(pipeline)(dict(frames=frames))
    return clip_collate([packed])


def test_aflw_invisible_points_get_no_pseudo_target(aflw_clip):
    """A 19-landmark TSAL on the AFLW-style clip: the invisible points get
    weight 0 in the pseudo-label loss (Eq. 4/5) of every frame and in L_D
    (Eq. 3); the visible ones weight 1."""
    h = CODEC['heatmap_size'][1]
    head = dict(NETWORK['head'], out_channels=19,
                loss=dict(type='KeypointMSELoss', use_target_weight=True,
                          loss_weight=19 * h * h))
    model = build(head=head)
    set_iter(50)
    data = model.data_preprocessor(aflw_clip, training=True)
    first = data['data_samples'][0]
    assert first.gt_instance_labels.offset_weights[0].tolist() == [
        0.0 if i in (2, 7, 13, 16) else 1.0 for i in range(19)
    ]
    # the codec zeroes their offsets: p_l would be the face centre
    assert not first.gt_instance_labels.offsets[0, [2, 7, 13, 16]].any()
    seen = {}
    for name in ('pseudo_loss', 'mfds_loss'):
        module = getattr(model, name)
        forward = module.forward

        def record(*args, _name=name, _forward=forward):
            seen.setdefault(_name, []).append(args[2].clone())
            return _forward(*args)

        module.forward = record
    losses = model.loss(**data)
    expected = torch.ones(19)
    expected[[2, 7, 13, 16]] = 0
    for weights in seen['pseudo_loss']:  # teacher, student: [1, K-1, 19]
        assert weights.shape == (1, 1, 19)
        assert torch.equal(weights[0, 0], expected)
    for weights in seen['mfds_loss']:
        assert torch.equal(weights[0], expected)
    assert len(seen['pseudo_loss']) == len(seen['mfds_loss']) == 2
    assert all(torch.isfinite(v).all() for k, v in losses.items())
