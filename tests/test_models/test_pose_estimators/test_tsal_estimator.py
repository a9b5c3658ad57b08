"""TSALEstimator: one training step of both networks on a tiny clip batch."""
import collections
import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

import tsal_mmpose  # noqa: F401
from tsal_mmpose.models.losses import (center_focal_loss, face_box_width,
                                       motion_field_loss, pseudo_heatmap_loss,
                                       render_gaussian_heatmaps, sic_loss)
from tsal_mmpose.models.pose_estimators import (ClipOutputs,
                                                NonFiniteLossError)
from tsal_mmpose.models.utils import decode_heatmap_torch, track_points
from tsal_mmpose.testing import moving_texture_clips, pack_clips

TINY_CONFIG = Path(__file__).resolve().parents[3] / 'configs' / \
    'tsal_tiny_synthetic.py'


def _network_parts() -> dict:
    """One network's parts (as TSALEstimator and TSALNetwork take them):
    the tiny CPU config's, flip test off."""
    model = Config.fromfile(str(TINY_CONFIG)).model.to_dict()
    parts = {k: model[k] for k in ('backbone', 'neck', 'head', 'motion_field')}
    parts['test_cfg'] = dict(flip_test=False)
    return parts


NETWORK = _network_parts()
CODEC = NETWORK['head']['decoder']
SIZE = CODEC['input_size'][0]
PREPROCESSOR = dict(
    type='ClipDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)


# w(t) is 1 over the 40 steps of the training test and W50 at iteration 50,
# where the other tests run: a w(t) missing from a term, or one too many,
# changes their values.
UNSUP_WEIGHT = dict(ramp_up=0, hold=40, total=100, unit='iter')
W50 = math.exp(-12.5 * (10 / 60)**2)


def build(**kwargs):
    cfg = dict(
        type='TSALEstimator',
        **NETWORK,
        data_preprocessor=PREPROCESSOR,
        unsup_weight=UNSUP_WEIGHT)
    cfg.update(kwargs)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def face_points(faces_dir):
    """Real 300W landmarks of one face, scaled into the input."""
    ann = json.loads((faces_dir / '300w' / 'test_300w.json').read_text())
    kpts = np.array(ann['annotations'][0]['keypoints'],
                    np.float32).reshape(-1, 3)[:, :2]
    lo, hi = kpts.min(0), kpts.max(0)
    return (kpts - lo) / (hi - lo).max() * (0.56 * SIZE) + 0.19 * SIZE


def clip_batch(face_points, batch=2, clip_len=3, shift=(1, 1)):
    """Clips whose frames are a texture moving by ``shift`` per frame.

    Frame 0 is labelled (real landmarks, targets encoded by the codec),
    the other frames are packed as unlabelled; their true landmarks are
    ``frame 0 + t * shift``.
    """
    clips = moving_texture_clips(batch, clip_len, (SIZE, SIZE), seed=0,
                                 shift=shift, face_points=face_points)
    return pack_clips(clips, CODEC)


def set_iter(it):
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', it)


def test_structure_and_same_init():
    model = build()
    assert set(model.networks) == {'teacher', 'student'}
    t_state = model.teacher.state_dict()
    s_state = model.student.state_dict()
    assert t_state.keys() == s_state.keys()
    for key in t_state:
        assert torch.equal(t_state[key], s_state[key]), key
    assert not hasattr(build(two_networks=False), 'student')


def test_teacher_starts_like_the_single_network_of_the_same_seed():
    """Rows of an ablation trained with one seed start from one
    initialisation: the teacher draws the single network's weights, and
    the random state after building and initialising is the same, so the
    student of a run without pseudo-labels trains like the single
    network. Without ``same_init`` the student draws its own weights."""
    single = build(two_networks=False)
    after_single = torch.get_rng_state()
    pair = build()
    assert torch.equal(torch.get_rng_state(), after_single)
    for key, value in single.teacher.state_dict().items():
        assert torch.equal(pair.teacher.state_dict()[key], value), key
    own = build(same_init=False)
    t_state, s_state = own.teacher.state_dict(), own.student.state_dict()
    for key in ('head.heatmap_layer.weight', 'backbone.conv1.weight'):
        assert torch.equal(t_state[key], single.teacher.state_dict()[key])
        assert not torch.equal(t_state[key], s_state[key]), key


def test_pseudo_labels_are_rendered_with_the_codec_sigma():
    assert CODEC['sigma'] == 1.0
    assert build().pseudo_loss.sigma == 1.0
    explicit = build(pseudo_loss=dict(type='PseudoHeatmapLoss', sigma=2.0))
    assert explicit.pseudo_loss.sigma == 2.0
    no_decoder = dict(NETWORK['head'], decoder=None)
    with pytest.raises(ValueError, match='model.pseudo_loss.sigma'):
        build(head=no_decoder)
    build(head=no_decoder, pseudo_loss=None)  # not needed then


TERMS = ('loss_heatmap', 'loss_center', 'loss_offset', 'loss_photometric',
         'loss_smooth', 'loss_sic', 'loss_mfds', 'loss_pseudo')


def _expected_terms(model, role, inputs, samples, clip_len, w,
                    targets_from=None):
    """Every named term of one network, assembled here from its raw outputs
    with the equations' pure functions and by-hand formulas; the Eq. 4/5
    targets from network ``targets_from`` (default: the same)."""
    net = getattr(model, role)
    heatmaps, center, offsets = net.head.forward(net.extract_feat(inputs))
    num_clips = len(samples) // clip_len
    m, n, h, wd = heatmaps.shape
    images = inputs.view(num_clips, clip_len, *inputs.shape[1:])
    flows = net.motion_field(images)
    labelled = [i for i, d in enumerate(samples) if d.metainfo['labelled']]
    assert labelled == list(range(0, m, clip_len))  # frame 0 of each clip
    gt_hm = torch.stack([samples[i].gt_fields.heatmaps for i in labelled])
    kpt_w = torch.cat(
        [samples[i].gt_instance_labels.keypoint_weights for i in labelled])
    gt_c = torch.stack(
        [samples[i].gt_fields.center_heatmap for i in labelled])
    c_idx = [int(samples[i].gt_instance_labels.center_index[0])
             for i in labelled]
    gt_o = torch.cat(
        [torch.as_tensor(samples[i].gt_instance_labels.offsets)
         for i in labelled])
    o_w = torch.cat([samples[i].gt_instance_labels.offset_weights
                     for i in labelled])[..., None]
    # l_M: N * w * h times the weighted mean squared error
    hm_err = (heatmaps[labelled] - gt_hm)**2 * kpt_w[..., None, None]
    # l_C: the offsets at the true centre pixel, L1 of weight 10 (config)
    pred_o = torch.stack([
        offsets[f, :, c // wd, c % wd].view(n, 2)
        for f, c in zip(labelled, c_idx)
    ])
    l_e = motion_field_loss(images, flows)
    # the decoded sources: centre argmax + offsets there, heatmap maxima
    peak = center.view(m, -1).argmax(-1)
    at_center = torch.stack(
        [offsets[f, :, p // wd, p % wd].view(n, 2) for f, p in
         enumerate(peak.tolist())])
    p_c = torch.stack([peak % wd, peak // wd], -1)[:, None] + at_center
    p_c = p_c.view(num_clips, clip_len, n, 2)
    at_center = at_center.view(num_clips, clip_len, n, 2)
    p_m = decode_heatmap_torch(heatmaps).view(num_clips, clip_len, n, 2)
    tracked = track_points(flows, p_m[:, 0])[:, -1]
    p_l = torch.stack([
        torch.as_tensor([c % wd, c // wd]) + o for c, o in zip(c_idx, gt_o)
    ])
    source_flows, source_p_c = flows, p_c
    if targets_from is not None:
        guide = getattr(model, targets_from)
        _, g_center, g_offsets = guide.head.forward(guide.extract_feat(inputs))
        g_peak = g_center.view(m, -1).argmax(-1)
        g_at = torch.stack(
            [g_offsets[f, :, p // wd, p % wd].view(n, 2) for f, p in
             enumerate(g_peak.tolist())])
        source_p_c = (torch.stack([g_peak % wd, g_peak // wd], -1)[:, None] +
                      g_at).view(num_clips, clip_len, n, 2)
        source_flows = guide.motion_field(images)
    tracks = track_points(source_flows, p_l)[:, 1:]
    targets = tracks if role == 'teacher' else \
        0.25 * tracks + 0.75 * source_p_c[:, 1:]
    pred = heatmaps.view(num_clips, clip_len, n, h, wd)[:, 1:]
    _, inside = render_gaussian_heatmaps(
        targets.reshape(-1, n, 2), (wd, h), 1.0, return_weights=True)
    return {
        'loss_heatmap': n * h * wd * hm_err.mean(),
        'loss_center': center_focal_loss(center[labelled], gt_c),
        'loss_offset': 10 * (pred_o * o_w - gt_o * o_w).abs().mean(),
        'loss_photometric': l_e['photometric'],
        'loss_smooth': 0.1 * l_e['smoothness'],
        'loss_sic': 0.3 * sic_loss(at_center, face_box_width(p_c)),
        'loss_mfds': w * 0.7 * ((tracked - p_m[:, -1])**2).sum(-1).mean(),
        'loss_pseudo': w * 2.0 * pseudo_heatmap_loss(
            pred, targets, 1.0, inside.view(num_clips, clip_len - 1, n)),
    }


def test_loss_terms_are_named_per_network(face_points):
    """Each network's named terms have the values of Eq. 1-5 put together
    here: l_M, l_C, l_E and L_I at weight 1, L_D and L_d times w(t) != 1,
    the student's targets with its own mu, each term with its own weight
    (so that a swapped weight or a w(t) in the wrong place shows)."""
    model = build(
        mu=0.25,
        sic_loss=dict(type='SICLoss', loss_weight=0.3),
        mfds_loss=dict(type='MFDSLoss', loss_weight=0.7),
        pseudo_loss=dict(type='PseudoHeatmapLoss', loss_weight=2.0))
    set_iter(50)
    data = model.data_preprocessor(clip_batch(face_points), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'unsup_weight'} | {
        f'{role}/{term}'
        for role in ('teacher', 'student') for term in TERMS + ('acc_pose', )
    }
    assert losses['unsup_weight'].item() == pytest.approx(W50)
    assert W50 == pytest.approx(0.7066, abs=1e-4)
    for role in ('teacher', 'student'):
        with torch.no_grad():
            expected = _expected_terms(model, role, data['inputs'],
                                       data['data_samples'], 3, W50)
        for term in TERMS:
            value = losses[f'{role}/{term}'].item()
            assert value > 0, (role, term)
            assert value == pytest.approx(
                expected[term].item(), rel=1e-5), (role, term)
    # the two networks start equal but their pseudo-label targets differ
    assert losses['student/loss_pseudo'].item() != pytest.approx(
        losses['teacher/loss_pseudo'].item(), rel=1e-3)


def _hand_sample(clip_len, labelled, center=None, offsets=None, n=2, size=8):
    """A frame sample; with ``center`` (x, y) and ``offsets`` [N, 2] it
    carries the encoded targets of a labelled frame."""
    sample = PoseDataSample(metainfo=dict(clip_len=clip_len,
                                          labelled=labelled))
    if center is not None:
        sample.gt_fields = PixelData(
            heatmaps=torch.zeros(n, size, size),
            center_heatmap=torch.zeros(1, size, size))
        sample.gt_instance_labels = InstanceData(
            keypoint_weights=torch.ones(1, n),
            center_index=torch.tensor([center[1] * size + center[0]]),
            offsets=torch.tensor([offsets], dtype=torch.float32),
            offset_weights=torch.ones(1, n))
    return sample


def _hand_pseudo_loss(heatmaps, targets, sigma, visible=None):
    """Eq. 4 by hand: per clip, the squared error of the codec's Gaussians
    (peak at floor(p + 1/2), window [-ceil(3 sigma), floor(3 sigma)])
    against the predicted heatmaps of frames 1..K-1, landmarks whose window
    misses the map (or, with ``visible``, invisible on frame 0) left out,
    over N w h (K-1); the mean over clips.

    heatmaps: {clip: [K, N, h, w] array}, targets: {clip: [K, N, 2]},
    visible: {clip: [N] bools} or None (all visible)."""
    lo, hi = -math.ceil(3 * sigma), math.floor(3 * sigma)
    per_clip = []
    for clip, hms in heatmaps.items():
        k, n, h, w = hms.shape
        total = 0.0
        for i in range(1, k):
            for j in range(n):
                if visible is not None and not visible[clip][j]:
                    continue
                mx, my = (math.floor(v + 0.5) for v in targets[clip][i, j])
                if not (any(lo <= x - mx <= hi for x in range(w))
                        and any(lo <= y - my <= hi for y in range(h))):
                    continue
                for y in range(h):
                    for x in range(w):
                        g = 0.0
                        if lo <= x - mx <= hi and lo <= y - my <= hi:
                            g = math.exp(-((x - mx)**2 + (y - my)**2) /
                                         (2 * sigma**2))
                        total += (g - float(hms[i, j, y, x]))**2
        per_clip.append(total / (n * w * h * (k - 1)))
    return sum(per_clip) / len(per_clip)


def test_assembled_pseudo_losses_by_hand():
    """``teacher/loss_pseudo`` and ``student/loss_pseudo`` of a tiny batch
    of set outputs, through ``loss``: w(t) times the weight times Eq. 4 on
    frames 1..K-1 of the clips whose frame 0 is labelled (clip 1's is not,
    though it carries targets), normalised by N w h (K-1), averaged over
    those clips; the teacher's targets are the tracks (Eq. 4), the
    student's mu * tracks + (1 - mu) * p_C (Eq. 5)."""
    mu, weight, sigma, k, n, size = 0.25, 3.0, 1.0, 3, 2, 8
    model = build(mu=mu, sic_loss=None, mfds_loss=None,
                  pseudo_loss=dict(type='PseudoHeatmapLoss',
                                   loss_weight=weight))
    assert model.pseudo_loss.sigma == sigma  # the codec's
    # frame 0's labels: centre + offsets; clip 2's second landmark is far
    # right, so its tracks' Gaussians miss the map
    labels = {0: ((3, 4), [[1.0, -0.5], [-1.5, 1.25]]),
              1: ((5, 5), [[0.5, 0.5], [1.0, 1.0]]),
              2: ((2, 2), [[3.2, 4.7], [10.0, 0.3]])}
    samples = []
    for clip, (center, offsets) in labels.items():
        samples.append(_hand_sample(k, clip != 1, center, offsets))
        samples += [_hand_sample(k, False) for _ in range(k - 1)]
    step = np.array([0.5, -1.0])  # a constant motion field
    gen = torch.Generator().manual_seed(0)
    clips, expected = {}, {}
    for role in ('teacher', 'student'):
        heatmaps = torch.rand(3 * k, n, size, size, generator=gen)
        p_c = torch.rand(3, k, n, 2, generator=gen) * (size - 1)
        flows = torch.zeros(3, k - 1, 2, size, size)
        flows[:, :, 0], flows[:, :, 1] = step[0], step[1]
        head = (heatmaps, torch.zeros(3 * k, 1, size, size),
                torch.zeros(3 * k, 2 * n, size, size))
        clips[role] = ClipOutputs(head, torch.rand(3, k, 3, 32, 32,
                                                   generator=gen),
                                  flows, p_c=p_c)
        targets = {}
        for clip in (0, 2):
            (cx, cy), offsets = labels[clip]
            p_l = np.array([cx, cy]) + np.array(offsets)
            tracks = np.stack([p_l + i * step for i in range(k)])
            targets[clip] = tracks if role == 'teacher' else \
                mu * tracks + (1 - mu) * p_c[clip].numpy()
        expected[role] = _hand_pseudo_loss(
            {c: heatmaps.view(3, k, n, size, size)[c].numpy()
             for c in (0, 2)}, targets, sigma)
    model.forward_clips = lambda role, net, inputs, clip_len, **_: clips[role]
    set_iter(50)
    losses = model.loss(torch.zeros(3 * k, 3, 32, 32), samples)
    for role in ('teacher', 'student'):
        assert losses[f'{role}/loss_pseudo'].item() == pytest.approx(
            W50 * weight * expected[role], rel=1e-5), role
    assert expected['teacher'] != pytest.approx(expected['student'],
                                                rel=1e-2)


def test_unsup_weight_follows_the_iteration(face_points):
    model = build(
        unsup_weight=dict(ramp_up=10, hold=20, total=30, unit='iter'))
    set_iter(5)
    assert model.current_unsup_weight() == pytest.approx(np.exp(-5 * 0.25))
    set_iter(15)
    assert model.current_unsup_weight() == pytest.approx(1.0)


def test_pseudo_labels_are_detached(face_points):
    """The pseudo-heatmap loss trains the heatmaps, not the flow."""
    model = build()
    set_iter(50)
    data = model.data_preprocessor(clip_batch(face_points), training=True)
    losses = model(**data, mode='loss')
    model.zero_grad()
    losses['student/loss_pseudo'].backward()
    flow_grads = [p.grad for p in model.student.motion_field.parameters()]
    assert all(g is None or g.abs().sum() == 0 for g in flow_grads)
    head_grad = model.student.head.heatmap_layer.weight.grad
    assert head_grad is not None and head_grad.abs().sum() > 0
    # nothing reaches the teacher from the student's loss
    assert all(p.grad is None for p in model.teacher.parameters())


def test_student_losses_do_not_depend_on_the_teacher(face_points):
    """Eq. 5 takes the student's own tracks and p_C: changing the teacher
    changes the teacher's losses and none of the student's (so two rows
    that differ only in Eq. 8, TSAL and Mean Teacher, share their
    student)."""
    model = build()
    set_iter(50)
    data = model.data_preprocessor(clip_batch(face_points), training=True)
    with torch.no_grad():
        before = model(**data, mode='loss')
        torch.manual_seed(1)
        for p in model.teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
        after = model(**data, mode='loss')
    student = [k for k in before if k.startswith('student/')]
    teacher = [k for k in before if k.startswith('teacher/')]
    assert 'student/loss_pseudo' in student and len(teacher) == len(student)
    for key in student:
        assert torch.equal(before[key], after[key]), key
    assert all(not torch.equal(before[k], after[k]) for k in teacher)


def test_a_teacher_that_instructs_builds_the_students_targets(face_points):
    """student_targets_from='teacher': the student's Eq. 5 targets come from
    the teacher's tracks and p_C (by hand), its other terms stay its own,
    and nothing of the student's loss reaches the teacher."""
    kwargs = dict(mu=0.25, pseudo_loss=dict(type='PseudoHeatmapLoss',
                                            loss_weight=2.0))
    own, instructed = build(**kwargs), build(student_targets_from='teacher',
                                             **kwargs)
    torch.manual_seed(1)
    with torch.no_grad():  # the same two different networks in both
        for a, b in zip(own.teacher.parameters(),
                        instructed.teacher.parameters()):
            a.add_(0.05 * torch.randn_like(a))
            b.copy_(a)
    set_iter(50)
    data = own.data_preprocessor(clip_batch(face_points), training=True)
    with torch.no_grad():
        mine = own(**data, mode='loss')
        taught = instructed(**data, mode='loss')
        expected = _expected_terms(instructed, 'student', data['inputs'],
                                   data['data_samples'], 3, W50,
                                   targets_from='teacher')
    assert taught['student/loss_pseudo'].item() == pytest.approx(
        expected['loss_pseudo'].item(), rel=1e-5)
    assert taught['student/loss_pseudo'].item() != pytest.approx(
        mine['student/loss_pseudo'].item(), rel=1e-3)
    for key in mine:
        if key != 'student/loss_pseudo':
            assert torch.equal(mine[key], taught[key]), key
    losses = instructed(**data, mode='loss')
    instructed.zero_grad()
    losses['student/loss_pseudo'].backward()
    assert all(p.grad is None for p in instructed.teacher.parameters())
    with pytest.raises(ValueError, match='student_targets_from'):
        build(student_targets_from='both')


def test_mfds_trains_the_motion_field_only(face_points):
    model = build()
    set_iter(50)
    data = model.data_preprocessor(clip_batch(face_points), training=True)
    losses = model(**data, mode='loss')
    model.zero_grad()
    losses['teacher/loss_mfds'].backward()
    mfe_grad = sum(p.grad.abs().sum()
                   for p in model.teacher.motion_field.parameters()
                   if p.grad is not None)
    assert mfe_grad > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0
               for p in model.teacher.head.parameters())


def test_train_steps_update_both_networks_and_reduce_the_loss(face_points):
    model = build()
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=2e-3))
    batch = clip_batch(face_points)
    before = copy.deepcopy(model.state_dict())
    logs = []
    for it in range(40):
        set_iter(it)
        log = model.train_step(batch, wrapper)
        logs.append({k: float(torch.as_tensor(v)) for k, v in log.items()})
    after = model.state_dict()
    for role in ('teacher', 'student'):
        key = f'{role}.head.heatmap_layer.weight'
        assert not torch.equal(before[key], after[key]), role
        key = f'{role}.motion_field.flow_heads.0.weight'
        if key in after:
            assert not torch.equal(before[key], after[key]), role
    # The path depends on the CPU's kernels and the number of torch threads:
    # the total fell by 32-37% on one machine and by 11% on another (AVX2),
    # where MFDS and the photometric term, which chase targets that move with
    # the networks, did not fall; each network's heatmap loss on the labelled
    # frames fell by 16-28% on both.
    totals = [log['loss'] for log in logs]
    assert np.mean(totals[-5:]) < 0.95 * np.mean(totals[:3]), totals
    for key in ('teacher/loss_heatmap', 'student/loss_heatmap'):
        values = [log[key] for log in logs]
        assert np.mean(values[-5:]) < 0.9 * np.mean(values[:3]), (key,
                                                                  values)


def test_predict_uses_the_chosen_network(face_points):
    model = build()
    # make the networks differ
    with torch.no_grad():
        for p in model.student.head.parameters():
            p.add_(0.05)
    model.eval()
    batch = clip_batch(face_points, batch=1)
    data = model.data_preprocessor(batch, training=False)
    out_t = model(**copy.deepcopy(data), mode='predict')
    assert len(out_t) == 3
    assert out_t[0].pred_instances.keypoints.shape == (1, 68, 2)
    model.predict_on = 'student'
    out_s = model(**copy.deepcopy(data), mode='predict')
    assert not np.allclose(out_t[0].pred_instances.keypoints,
                           out_s[0].pred_instances.keypoints)


def test_single_network_checkpoint_loads_into_both():
    model = build()
    with DefaultScope.overwrite_default_scope('mmpose'):
        single = MODELS.build(dict(type='TSALNetwork', **NETWORK))
    with torch.no_grad():
        for p in single.parameters():
            p.uniform_(-1, 1)
    model.load_state_dict(single.state_dict())
    for role in ('teacher', 'student'):
        net = getattr(model, role)
        for key, value in single.state_dict().items():
            assert torch.equal(net.state_dict()[key], value), (role, key)


def test_clip_sources_and_pseudo_targets_by_hand(face_points):
    """p_M, p_C, the tracks and the Eq. 4/5 targets on set outputs."""
    model = build(mu=0.25)
    batch, clip_len, n, size = 1, 2, 2, 5
    heatmaps = torch.zeros(batch * clip_len, n, size, size)
    heatmaps[0, 0, 1, 3] = heatmaps[0, 1, 4, 0] = 1.  # frame 0: (3,1) (0,4)
    heatmaps[1, 0, 2, 2] = heatmaps[1, 1, 0, 1] = 1.  # frame 1: (2,2) (1,0)
    center = torch.full((batch * clip_len, 1, size, size), -5.)
    center[0, 0, 2, 1] = center[1, 0, 3, 4] = 5.  # centres (1,2), (4,3)
    offsets = torch.zeros(batch * clip_len, 2 * n, size, size)
    offsets[0, :, 2, 1] = torch.tensor([1., -1., 0.5, 2.])
    offsets[1, :, 3, 4] = torch.tensor([-2., 0., -1., -1.5])
    offsets.requires_grad_(True)
    p_m, p_c, at_center = model.clip_detections(
        (heatmaps, center, offsets), clip_len)
    assert p_m.shape == p_c.shape == at_center.shape == (1, 2, n, 2)
    # without neighbours the quarter-pixel shift is zero
    assert torch.allclose(
        p_m[0], torch.tensor([[[3., 1.], [0., 4.]], [[2., 2.], [1., 0.]]]))
    assert torch.allclose(
        p_c[0].detach(),
        torch.tensor([[[2., 1.], [1.5, 4.]], [[2., 3.], [3., 1.5]]]))
    assert p_c.requires_grad and not p_m.requires_grad

    # tracks: p_l of frame 0 carried by a constant flow of (0.5, -1)
    data = model.data_preprocessor(
        clip_batch(face_points, batch=2, clip_len=3), training=True)
    samples = data['data_samples']
    like = torch.zeros(6, 68, 24, 24)
    flows = torch.zeros(2, 2, 2, 24, 24)
    flows[:, :, 0], flows[:, :, 1] = 0.5, -1.
    tracks, valid = model.clip_tracks(model.teacher, flows, samples, 3, like)
    assert valid.tolist() == [True, True]
    labels = model.labelled_points(model.teacher, samples, 3, 24, like)[0]
    # interior points move by exactly the flow; border padding elsewhere
    inside = ((labels > 2) & (labels < 21)).all(-1)
    assert int(inside.sum()) > 100  # of 2 x 68: the check below has teeth
    for t in range(3):
        moved = labels + t * torch.tensor([0.5, -1.])
        assert torch.allclose(tracks[:, t][inside], moved[inside])
    assert torch.equal(tracks[:, 0], labels)

    tracks = torch.tensor([[[[4., 0.]]]])
    p_c = torch.tensor([[[[0., 8.]]]])
    assert torch.equal(model.pseudo_targets('teacher', tracks, p_c), tracks)
    assert torch.allclose(model.pseudo_targets('student', tracks, p_c),
                          torch.tensor([[[[1., 6.]]]]))  # 0.25 t + 0.75 c


def test_config_optimizer_speeds_up_the_offset_layers_only():
    """The schedule's ``custom_keys`` must match the parameter names of both
    networks (mmengine ignores keys that match nothing)."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(str(TINY_CONFIG))
    model = build()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    base_lr = cfg.optim_wrapper.optimizer.lr
    lr_of = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            lr_of[id(param)] = group['lr']
    fast = []
    for name, param in model.named_parameters():
        if '.head.offset_layer.' in name:
            fast.append(name)
            assert lr_of[id(param)] == pytest.approx(10 * base_lr), name
        else:
            assert lr_of[id(param)] == pytest.approx(base_lr), name
    assert sorted(fast) == [
        f'{role}.head.offset_layer.0.{p}' for role in ('student', 'teacher')
        for p in ('bias', 'weight')
    ]


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_nonfinite_loss_stops_before_any_step(face_points):
    """A NaN term raises before either optimizer step, naming the
    iteration (as counted in the log), each network and the term."""
    model = build(mfds_loss=dict(type='MFDSLoss', loss_weight=float('nan')))
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    set_iter(6)
    before = _state(model)
    with pytest.raises(NonFiniteLossError) as info:
        model.train_step(clip_batch(face_points), wrapper)
    message = str(info.value)
    assert 'training iteration 7 ' in message
    for role in ('teacher', 'student'):
        assert f"network '{role}' term 'loss_mfds' = nan" in message
    assert 'loss_sic' not in message and info.value.iteration == 7
    assert wrapper.optimizer.state == {}  # no Adam step was taken
    for key, value in model.state_dict().items():
        if 'running' not in key and 'num_batches' not in key:
            assert torch.equal(value, before[key]), key
    # an infinite term too, of one network
    model = build(mfds_loss=None)
    with pytest.raises(NonFiniteLossError, match="'student' term 'loss_x'"):
        model.parse_losses({'teacher/loss_x': torch.tensor(1.0),
                            'student/loss_x': torch.tensor(float('inf')),
                            'student/acc_pose': torch.tensor(float('nan'))})


def test_nonfinite_loss_skips_the_batch_when_asked(face_points):
    """With nonfinite_loss='skip' a batch whose student sees NaN inputs
    takes no step, leaves every weight and BatchNorm statistic as it was
    and is counted; the next finite batch trains and logs the count."""
    model = build(nonfinite_loss='skip')
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    batch = clip_batch(face_points)
    MessageHub.get_current_instance().runtime_info.pop(
        'nonfinite_skips', None)
    set_iter(3)
    model.train_step(batch, wrapper)
    before = _state(model)
    hook = model.student.backbone.register_forward_pre_hook(
        lambda module, args: (args[0] * float('nan'), ))
    set_iter(4)
    log = model.train_step(batch, wrapper)
    hook.remove()
    assert log == {'nonfinite_skips': 1}
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    set_iter(5)
    log = model.train_step(batch, wrapper)
    assert log['nonfinite_skips'] == 1 and torch.isfinite(log['loss'])
    assert not torch.equal(model.student.head.heatmap_layer.weight,
                           before['student.head.heatmap_layer.weight'])
    MessageHub.get_current_instance().runtime_info.pop('nonfinite_skips')
    with pytest.raises(ValueError, match='nonfinite_loss'):
        build(nonfinite_loss='ignore')


LAYOUT = Path(__file__).resolve().parents[2] / 'data' / 'checkpoints' / \
    'tsal_tiny_network_layout.txt'


def test_checkpoint_of_the_recorded_layout_loads(tmp_path):
    """A checkpoint in the layout that earlier versions wrote (recorded per
    network in tests/data/checkpoints) loads strictly: same keys in the
    same order (the optimizer state of a resume follows it), dtypes and
    shapes, and every value lands where it was."""
    from mmengine.runner import load_checkpoint
    layout = [
        line.split() for line in LAYOUT.read_text().splitlines()
        if line and not line.startswith('#')
    ]
    gen = torch.Generator().manual_seed(0)
    state = collections.OrderedDict()
    for role in ('teacher', 'student'):
        for key, dtype, shape in layout:
            dtype = getattr(torch, dtype)
            shape = () if shape == '-' else tuple(
                int(s) for s in shape.split('x'))
            value = torch.randn(shape, generator=gen).to(dtype) \
                if dtype.is_floating_point else torch.randint(
                    0, 100, shape, generator=gen).to(dtype)
            state[f'{role}.{key}'] = value
    path = tmp_path / 'old.pth'
    torch.save(dict(meta=dict(), state_dict=state), path)
    model = build()
    assert [(k, v.dtype, v.shape) for k, v in model.state_dict().items()] \
        == [(k, v.dtype, v.shape) for k, v in state.items()]
    load_checkpoint(model, str(path), map_location='cpu', strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
