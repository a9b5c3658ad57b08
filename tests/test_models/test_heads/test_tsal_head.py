"""TSALHead: drop-in head of mmpose's TopdownPoseEstimator on 300W."""
import copy

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpose.datasets import Face300WDataset
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules

import tsal_mmpose  # noqa: F401
from tsal_mmpose.codecs import TSALLabel
from tsal_mmpose.models.heads import TSALHead
from tsal_mmpose.models.utils import (decode_clor_torch, decode_heatmap_torch,
                                      flip_clor_maps)

register_all_modules(init_default_scope=False)

CODEC = dict(type='TSALLabel', input_size=(64, 64), heatmap_size=(16, 16),
             sigma=1.0)


@pytest.fixture(scope='module')
def dataset(faces_dir):
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=CODEC['input_size']),
        dict(type='GenerateTarget', encoder=CODEC),
        dict(type='PackPoseInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmpose'):
        return Face300WDataset(
            data_root=str(faces_dir / '300w'),
            ann_file='test_300w.json',
            data_prefix=dict(img=''),
            pipeline=pipeline)


@pytest.fixture(scope='module')
def batch(dataset):
    return pseudo_collate([dataset[0], dataset[1]])


def _model(test_cfg=None):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        return _build_model(test_cfg)


def _build_model(test_cfg):
    return MODELS.build(
        dict(
            type='TopdownPoseEstimator',
            data_preprocessor=dict(
                type='PoseDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True),
            backbone=dict(type='ResNet', depth=18, stem_channels=16,
                          base_channels=16),
            head=dict(
                type='TSALHead',
                in_channels=128,
                out_channels=68,
                deconv_out_channels=(32, 32, 32),
                deconv_kernel_sizes=(4, 4, 4),
                branch_channels=16,
                decoder=CODEC),
            test_cfg=test_cfg or dict(flip_test=False)))


def _randomise(module, std=0.3):
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def test_forward_shapes():
    head = TSALHead(in_channels=8, out_channels=5, deconv_out_channels=None,
                    conv_out_channels=(8, ), conv_kernel_sizes=(3, ),
                    decoder=CODEC)
    h, c, o = head((torch.randn(2, 8, 16, 12), ))
    assert h.shape == (2, 5, 16, 12)
    assert c.shape == (2, 1, 16, 12)
    assert o.shape == (2, 10, 16, 12)
    head.init_weights()
    torch.testing.assert_close(head.center_layer[-1].bias,
                               torch.tensor([-2.19]))


def test_default_heatmap_loss_is_summed_over_landmarks_and_pixels():
    """The default l_M weight is N * w * h of the decoder's heatmaps (the
    one that trains, see the default's docstring); without a decoder the
    loss must be set, and the error says so."""
    head = TSALHead(in_channels=4, out_channels=5, deconv_out_channels=None,
                    decoder=dict(CODEC, heatmap_size=(16, 12)))
    assert head.loss_module.loss_weight == 5 * 16 * 12
    assert head.loss_module.use_target_weight
    pred = torch.rand(2, 5, 12, 16)
    target = torch.rand(2, 5, 12, 16)
    weights = torch.tensor([[1., 0., 1., 1., 1.], [1., 1., 1., 0., 1.]])
    # Dong et al.'s error: summed over landmarks and pixels, mean over images
    expected = ((pred - target)**2 * weights[..., None, None]).sum() / 2
    assert head.loss_module(pred, target, weights).item() == pytest.approx(
        expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match=r'decoder=.*loss_weight=N \* w'):
        TSALHead(in_channels=4, deconv_out_channels=None)
    explicit = TSALHead(
        in_channels=4, deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True,
                  loss_weight=2.0))
    assert explicit.loss_module.loss_weight == 2.0


def test_loss_on_300w(batch):
    model = _model()
    data = model.data_preprocessor(copy.deepcopy(batch), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    for key in ('loss_heatmap', 'loss_center', 'loss_offset'):
        assert torch.isfinite(losses[key]) and losses[key].item() > 0
    assert 'acc_pose' in losses
    total = losses['loss_heatmap'] + losses['loss_center'] + \
        losses['loss_offset']
    total.backward()
    head = model.head
    for layer in (head.heatmap_layer, head.center_layer[-1],
                  head.offset_layer[-1]):
        assert layer.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def _clor_sample(center_xy, offset, size=4):
    """A labelled frame with one landmark: centre pixel and its offset."""
    from mmengine.structures import InstanceData, PixelData
    from mmpose.structures import PoseDataSample
    sample = PoseDataSample()
    sample.gt_fields = PixelData(
        heatmaps=torch.zeros(1, size, size),
        center_heatmap=torch.zeros(1, size, size))
    sample.gt_instance_labels = InstanceData(
        keypoint_weights=torch.ones(1, 1),
        center_index=torch.tensor([center_xy[1] * size + center_xy[0]]),
        offsets=torch.tensor([[offset]], dtype=torch.float32),
        offset_weights=torch.ones(1, 1))
    return sample


@pytest.mark.parametrize('radius, expected', [(0, 0.0), (1, 0.5)])
def test_offset_radius_loss_by_hand(radius, expected):
    """The offsets of the pixels around the centre learn the landmarks'
    offsets from their own position.

    Centre (x, y) = (0, 1) on a 4 x 4 map, true offset (1.5, -0.5), every
    pixel predicting (1.5, -0.5). Radius 0: only the centre, error 0.
    Radius 1: the 3 x 3 window clipped at the left border, pixels x in
    {0, 0, 1}, y in {0, 1, 2}; each pixel's target is (1.5, -0.5) minus
    its shift (sx, sy), so its L1 error is |sx| + |sy|: rows sy = -1, 0, 1
    give 1 + 1 + 2, 0 + 0 + 1 and 1 + 1 + 2, 9 in all over 9 pixels x 2
    coordinates = 0.5.
    """
    head = TSALHead(in_channels=2, out_channels=1, deconv_out_channels=None,
                    offset_radius=radius, decoder=CODEC,
                    offset_loss=dict(type='L1Loss', use_target_weight=True))
    offsets = torch.tensor([1.5, -0.5]).view(1, 2, 1, 1).expand(1, 2, 4, 4)
    outputs = (torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), offsets)
    losses = head.loss_by_outputs(outputs, [_clor_sample((0, 1),
                                                         (1.5, -0.5))],
                                  dict(compute_acc=False))
    assert losses['loss_offset'].item() == pytest.approx(expected)
    # zero predictions: no pixel of the window has zero error, so every
    # supervised pixel and no other receives a gradient
    zeros = torch.zeros(1, 2, 4, 4, requires_grad=True)
    head.loss_by_outputs(outputs[:2] + (zeros, ),
                         [_clor_sample((0, 1), (1.5, -0.5))],
                         dict(compute_acc=False))['loss_offset'].backward()
    touched = (zeros.grad.abs().sum(1)[0] > 0).nonzero().tolist()
    window = [[y, x] for y in range(3) for x in range(2)]
    assert touched == (window if radius else [[1, 0]])
    with pytest.raises(ValueError, match='offset_radius'):
        TSALHead(in_channels=2, offset_radius=-1)


def test_loss_skips_unlabelled(batch):
    model = _model()
    data = model.data_preprocessor(copy.deepcopy(batch), training=True)
    feats = model.extract_feat(data['inputs'])
    samples = data['data_samples']
    outputs = model.head.forward(feats)
    full = model.head.loss_by_outputs(outputs, samples)
    samples[1].set_metainfo(dict(labelled=False))
    part = model.head.loss_by_outputs(outputs, samples)
    first = model.head.loss_by_outputs(
        tuple(o[:1] for o in outputs), samples[:1])
    for key in ('loss_heatmap', 'loss_center', 'loss_offset'):
        assert part[key].item() == pytest.approx(first[key].item(), rel=1e-6)
        assert part[key].item() != pytest.approx(full[key].item(), rel=1e-6)
    samples[0].set_metainfo(dict(labelled=False))
    none = model.head.loss_by_outputs(outputs, samples)
    for key in ('loss_heatmap', 'loss_center', 'loss_offset'):
        assert none[key].item() == 0 and none[key].requires_grad
    # frames without codec targets count as unlabelled too
    bare = copy.deepcopy(samples[0])
    bare.set_metainfo(dict(labelled=True))
    del bare.gt_fields
    assert not TSALHead.is_labelled(bare)


def test_predict_on_300w(batch, dataset):
    model = _model()
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), training=False)
        results = model.predict(data['inputs'], data['data_samples'])
    for res in results:
        pred = res.pred_instances
        for key in ('keypoints', 'keypoints_lhr', 'keypoints_clor'):
            assert pred.get(key).shape == (1, 68, 2)
            assert np.isfinite(pred.get(key)).all()
        assert pred.keypoint_scores.shape == (1, 68)
        # all three in the original image: the affine combination commutes
        # with the input -> image mapping
        np.testing.assert_allclose(
            pred.keypoints,
            0.8 * pred.keypoints_lhr + 0.2 * pred.keypoints_clor,
            rtol=1e-5, atol=1e-3)
        center = res.metainfo['input_center']
        scale = res.metainfo['input_scale']
        assert (np.abs(pred.keypoints - center) <= scale / 2 + 1e-3).all()


def test_decode_oracle_maps_to_image(dataset):
    """Ground-truth maps decode to the annotated landmarks in the image."""
    sample = dataset[0]['data_samples']
    codec = TSALLabel(**{k: v for k, v in CODEC.items() if k != 'type'})
    head = TSALHead(in_channels=4, deconv_out_channels=None, decoder=CODEC)
    c = sample.gt_fields.center_heatmap[None]
    omap = torch.zeros(1, 136, 16, 16)
    idx = int(sample.gt_instance_labels.center_index[0])
    omap[0, :, idx // 16, idx % 16] = \
        sample.gt_instance_labels.offsets[0].reshape(-1)
    outputs = (sample.gt_fields.heatmaps[None], c, omap)
    pred = head.decode(outputs)[0]
    kpts_in = dataset.get_data_info(0)['keypoints']  # image coordinates
    clor = head._to_image_space(pred.keypoints_clor, sample.metainfo)
    lhr = head._to_image_space(pred.keypoints_lhr, sample.metainfo)
    hm_px = sample.metainfo['input_scale'][0] / 16  # image px per hm px
    np.testing.assert_allclose(clor, kpts_in, atol=1e-3 * hm_px)
    assert np.abs(lhr - kpts_in).max() <= 0.5 * hm_px + 1e-3
    assert codec.gamma == 0.8


def test_flip_test_is_mirror_consistent(batch):
    """With flip test, predict(flip(x)) is the mirror image of predict(x).

    The averaged maps are exact mirrors (channels swapped by flip_indices,
    dx negated); decoded points agree up to mmpose's quarter-pixel
    refinement, whose border conditions are not mirror symmetric (x is not
    refined in column 1 but is in column w - 2, y not in column 0 but in
    column w - 1): at most 0.25 px on p_M, i.e. 0.2 px on the fused point.
    """
    cfg = dict(flip_test=True, shift_heatmap=False, output_heatmaps=True)
    model = _model(cfg)
    _randomise(model.head)
    with torch.no_grad():
        model.head.heatmap_layer.bias.add_(3.0)  # positive maxima
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), training=False)
    inputs = data['inputs'][:1]
    samples = data['data_samples'][:1]
    flip_indices = samples[0].metainfo['flip_indices']
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        feats_f = model.extract_feat(inputs.flip(-1))
        preds, fields = model.head.predict([feats, feats_f], samples, cfg)
        preds_f, fields_f = model.head.predict([feats_f, feats], samples,
                                               cfg)
    torch.testing.assert_close(fields_f[0].heatmaps,
                               fields[0].heatmaps.flip(-1)[flip_indices])
    torch.testing.assert_close(fields_f[0].center_heatmap,
                               fields[0].center_heatmap.flip(-1))
    # input-space results mirror about (w - 1) / 2 heatmap px
    a = preds[0].keypoints[0] / 4.0
    b = preds_f[0].keypoints[0][flip_indices] / 4.0
    err = np.abs(np.stack((b[:, 0] - (15 - a[:, 0]), b[:, 1] - a[:, 1])))
    assert err.max() <= 0.2 + 1e-4 and np.median(err) < 1e-4
    # and through the estimator in image space
    results = model.predict(
        torch.cat((inputs, inputs.flip(-1))),
        [copy.deepcopy(samples[0]), copy.deepcopy(samples[0])])
    meta = samples[0].metainfo

    def to_hm(p):
        return (p - meta['input_center'] + 0.5 * meta['input_scale']) / \
            meta['input_scale'] * 16

    a = to_hm(results[0].pred_instances.keypoints[0])
    b = to_hm(results[1].pred_instances.keypoints[0])[flip_indices]
    err = np.abs(np.stack((b[:, 0] - (15 - a[:, 0]), b[:, 1] - a[:, 1])))
    assert err.max() <= 0.2 + 1e-3 and np.median(err) < 1e-3


def test_flip_clor_maps_recovers_landmarks():
    rng = np.random.default_rng(0)
    n, w = 4, 16
    flip_indices = [1, 0, 3, 2]
    kpts_hm = rng.uniform(3, 12, size=(1, n, 2)).astype(np.float32)
    mirrored = kpts_hm[:, flip_indices].copy()
    mirrored[..., 0] = (w - 1) - mirrored[..., 0]
    codec = TSALLabel(input_size=(64, 64), heatmap_size=(w, w))

    def maps(kpts):
        enc = codec.encode(kpts * 4.0, np.ones((1, n), np.float32))
        omap = np.zeros((2 * n, w, w), np.float32)
        cy, cx = divmod(int(enc['center_index'][0]), w)
        omap[:, cy, cx] = enc['offsets'][0].reshape(-1)
        return (torch.from_numpy(enc['center_heatmap'])[None],
                torch.from_numpy(omap)[None])

    c_m, o_m = maps(mirrored)
    c_back, o_back = flip_clor_maps(c_m, o_m, flip_indices)
    p_c, offsets, center = decode_clor_torch(c_back, o_back)
    torch.testing.assert_close(p_c[0], torch.from_numpy(kpts_hm[0]),
                               atol=1e-5, rtol=0)
    c_o, o_o = maps(kpts_hm)
    torch.testing.assert_close(c_back, c_o)
    torch.testing.assert_close(o_back, o_o)


def test_torch_decoders_match_codec():
    torch.manual_seed(0)
    codec = TSALLabel(input_size=(64, 48), heatmap_size=(16, 12))
    heatmaps = torch.rand(3, 5, 12, 16) + 0.01
    heatmaps[0, 0, 0, 7] = 5.0  # maxima on the borders
    heatmaps[0, 1, 6, 1] = 5.0
    heatmaps[0, 2, 11, 15] = 5.0
    p_m, scores = decode_heatmap_torch(heatmaps, return_scores=True)
    for m in range(3):
        ref, ref_s = codec.decode_heatmap(heatmaps[m].numpy())
        np.testing.assert_allclose(p_m[m].numpy(), ref[0] / 4.0, atol=1e-6)
        np.testing.assert_allclose(scores[m].numpy(), ref_s[0])
    center = torch.randn(3, 1, 12, 16)
    offsets = torch.randn(3, 10, 12, 16, requires_grad=True)
    p_c, off, ctr = decode_clor_torch(center, offsets)
    assert p_c.shape == (3, 5, 2) and off.shape == (3, 5, 2)
    assert ctr.shape == (3, 2)
    for m in range(3):
        ref, _ = codec.decode_clor(center[m].numpy(),
                                   offsets[m].detach().numpy())
        np.testing.assert_allclose(p_c[m].detach().numpy(), ref[0] / 4.0,
                                   atol=1e-6)
    off.sum().backward()
    grad_pixels = (offsets.grad.abs().sum(1) > 0).nonzero().tolist()
    expected = [[m, int(ctr[m, 1]), int(ctr[m, 0])] for m in range(3)]
    assert grad_pixels == expected
    assert TSALHead.decode_heatmap_torch is decode_heatmap_torch


def _decode_by_hand(heatmaps, center, offsets):
    """p_M, p_C (heatmap pixels) and scores of one face, one landmark at a
    time: p_M is the maximum moved 0.25 px towards its larger neighbour in
    x (where 1 < x < w - 1 and y > 0) and in y (where 1 < y < h - 1 and
    x > 0), or -1 if the maximum is not positive; p_C is the centre map's
    maximum plus the offsets (dx, dy) read there."""
    n, h, w = heatmaps.shape
    p_m, scores = np.zeros((n, 2)), np.zeros(n)
    for k in range(n):
        y, x = divmod(int(np.argmax(heatmaps[k])), w)
        scores[k] = heatmaps[k, y, x]
        if scores[k] <= 0:
            p_m[k] = -1
            continue
        dx = heatmaps[k, y, x + 1] - heatmaps[k, y, x - 1] \
            if 1 < x < w - 1 and y > 0 else 0.
        dy = heatmaps[k, y + 1, x] - heatmaps[k, y - 1, x] \
            if 1 < y < h - 1 and x > 0 else 0.
        p_m[k] = (x + 0.25 * np.sign(dx), y + 0.25 * np.sign(dy))
    cy, cx = divmod(int(np.argmax(center)), w)
    p_c = np.array([(cx + offsets[2 * k, cy, cx],
                     cy + offsets[2 * k + 1, cy, cx]) for k in range(n)])
    return p_m, p_c, scores


@pytest.mark.parametrize('unbiased', [False, True])
def test_head_decode_equals_codec_face_by_face(unbiased):
    """The batched decode gives the codec's p_M, p_C, fused p and scores,
    including mmpose's -1 for non-positive maxima (torch on the device;
    face by face with the codec for DARK)."""
    torch.manual_seed(0)
    codec_cfg = dict(type='TSALLabel', input_size=(64, 48),
                     heatmap_size=(16, 12), unbiased=unbiased)
    head = TSALHead(in_channels=4, out_channels=5, deconv_out_channels=None,
                    decoder=codec_cfg)
    codec = TSALLabel(**{k: v for k, v in codec_cfg.items() if k != 'type'})
    heatmaps = torch.rand(3, 5, 12, 16) + 0.01
    heatmaps[1, 3] = -torch.rand(12, 16)  # no positive maximum
    heatmaps[0, 1, 6, 1] = 5.0  # on the border: no refinement in x
    center = torch.randn(3, 1, 12, 16)
    offsets = torch.randn(3, 10, 12, 16)
    preds = head.decode((heatmaps, center, offsets))
    assert len(preds) == 3
    assert codec.gamma == 0.8
    for m, pred in enumerate(preds):
        p_m, scores = codec.decode_heatmap(heatmaps[m].numpy())
        p_c, _ = codec.decode_clor(center[m].numpy(), offsets[m].numpy())
        np.testing.assert_allclose(pred.keypoints_lhr, p_m, atol=1e-5)
        np.testing.assert_allclose(pred.keypoints_clor, p_c, atol=1e-5)
        # p = gamma p_M + (1 - gamma) p_C, gamma = 0.8 (Sec. 3.2)
        np.testing.assert_allclose(pred.keypoints, 0.8 * p_m + 0.2 * p_c,
                                   atol=1e-5)
        np.testing.assert_allclose(pred.keypoint_scores, scores)
        assert pred.keypoints.shape == (1, 5, 2)
        if not unbiased:
            ref_m, ref_c, ref_s = _decode_by_hand(heatmaps[m].numpy(),
                                                  center[m, 0].numpy(),
                                                  offsets[m].numpy())
            np.testing.assert_allclose(pred.keypoints_lhr[0], 4 * ref_m,
                                       atol=1e-5)
            np.testing.assert_allclose(pred.keypoints_clor[0], 4 * ref_c,
                                       atol=1e-5)
            np.testing.assert_allclose(pred.keypoints[0],
                                       4 * (0.8 * ref_m + 0.2 * ref_c),
                                       atol=1e-5)
            np.testing.assert_allclose(pred.keypoint_scores[0], ref_s)
    # the non-positive heatmap decodes to mmpose's -1 (times the scale 4)
    np.testing.assert_allclose(preds[1].keypoints_lhr[0, 3], [-4.0, -4.0])
