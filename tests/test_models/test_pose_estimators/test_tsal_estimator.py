"""TSALEstimator: one training step of both networks on a tiny clip batch."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS

import tsal_mmpose  # noqa: F401
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


def build(**kwargs):
    cfg = dict(
        type='TSALEstimator',
        **NETWORK,
        data_preprocessor=PREPROCESSOR,
        unsup_weight=dict(ramp_up=0, hold=100, total=100, unit='iter'))
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
    build(head=no_decoder, use_pseudo_labels=False)  # not needed then


def test_loss_terms_are_named_per_network(face_points):
    model = build()
    set_iter(50)
    data = model.data_preprocessor(clip_batch(face_points), training=True)
    losses = model(**data, mode='loss')
    for role in ('teacher', 'student'):
        for term in ('loss_heatmap', 'loss_center', 'loss_offset',
                     'loss_photometric', 'loss_smooth', 'loss_sic',
                     'loss_mfds', 'loss_pseudo'):
            value = losses[f'{role}/{term}']
            assert torch.isfinite(value), (role, term)
    assert losses['unsup_weight'].item() == pytest.approx(1.0)


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
    # The path depends on the number of torch threads: with one or two the
    # total falls by 32-37% and each network's heatmap loss on the labelled
    # frames by 17-28% (the pseudo-label and motion terms chase targets
    # that move with the networks).
    totals = [log['loss'] for log in logs]
    assert np.mean(totals[-5:]) < 0.75 * np.mean(totals[:3]), totals
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
