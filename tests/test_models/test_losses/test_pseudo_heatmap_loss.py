"""Eq. 4/5: rendering of pseudo-label heatmaps and their loss."""
import numpy as np
import pytest
import torch
from tsal_mmpose.codecs import TSALLabel, landmark_gaussian_heatmaps
from tsal_mmpose.models.losses import (PseudoHeatmapLoss, pseudo_heatmap_loss,
                                       render_gaussian_heatmaps,
                                       student_pseudo_targets)


@pytest.mark.parametrize('sigma', [1.0, 1.4, 1.5, 2.0, 2.3])
def test_render_equals_codec(sigma):
    rng = np.random.default_rng(0)
    # inside, near every border and outside the 64 x 64 map
    pts = rng.uniform(-9, 73, size=(3, 68, 2)).astype(np.float32)
    pts[0, :4] = [[0.2, 0.7], [63.4, 62.6], [-0.6, 10.0], [2.5, 3.5]]
    vis = np.ones((1, 68), np.float32)
    vis[0, 5] = 0
    out, weights = render_gaussian_heatmaps(
        torch.from_numpy(pts), (64, 64), sigma,
        keypoints_visible=torch.from_numpy(np.repeat(vis, 3, 0)),
        return_weights=True)
    codec = TSALLabel(sigma=sigma)
    for m in range(3):
        enc = codec.encode(pts[m:m + 1] * 4.0, vis)
        np.testing.assert_allclose(out[m].numpy(), enc['heatmaps'],
                                   rtol=0, atol=1e-6)
        np.testing.assert_array_equal(weights[m].numpy(),
                                      enc['keypoint_weights'][0])


def test_render_non_square_by_hand():
    pts = torch.tensor([[[5.3, 2.2], [30.6, 20.1], [-3.0, 10.0]]])
    out, weights = render_gaussian_heatmaps(pts, (48, 24), 1.5,
                                            return_weights=True)
    assert out.shape == (1, 3, 24, 48)
    # peak at (5, 2); window offsets -5..4 in x and y
    assert out[0, 0, 2, 5] == 1.0
    assert out[0, 0, 3, 6].item() == pytest.approx(np.exp(-2 / 4.5))
    assert out[0, 0, 0, 0].item() == pytest.approx(np.exp(-29 / 4.5))
    assert out[0, 0, 2, 10] == 0 and out[0, 0, 7, 5] == 0
    assert out[0, 0, 2, 9] > 0 and out[0, 0, 6, 5] > 0
    assert out[0, 1, 20, 31] == 1.0
    # (-3, 10): peak outside, window columns 0..1 inside the map
    assert out[0, 2].argmax() == 10 * 48 + 0
    assert out[0, 2, 10, 0].item() == pytest.approx(np.exp(-9 / 4.5))
    torch.testing.assert_close(weights, torch.ones(1, 3))
    ref, _ = landmark_gaussian_heatmaps((48, 24), pts.numpy(),
                                        np.ones((1, 3)), 1.5)
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-7)


def test_loss_matches_loop():
    torch.manual_seed(0)
    b, t, n, h, w, sigma = 2, 3, 5, 16, 12, 1.5
    pred = torch.rand(b, t, n, h, w, requires_grad=True)
    targets = torch.rand(b, t, n, 2) * torch.tensor([w - 1.0, h - 1.0])
    ref = 0.0
    for clip in range(b):
        acc = 0.0
        for i in range(t):
            for k in range(n):
                g, _ = landmark_gaussian_heatmaps(
                    (w, h), targets[clip, i, k].view(1, 1, 2).numpy(),
                    np.ones((1, 1)), sigma)
                acc += float(((torch.from_numpy(g[0]) -
                               pred[clip, i, k].detach())**2).sum())
        ref += acc / (n * w * h * t)
    ref /= b
    loss = pseudo_heatmap_loss(pred, targets, sigma)
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    mod = PseudoHeatmapLoss(sigma=sigma, loss_weight=2.0)
    mod_loss = mod(pred, targets)
    assert mod_loss.item() == pytest.approx(2 * ref, rel=1e-5)
    mod_loss.backward()
    assert pred.grad.abs().sum() > 0


def test_loss_ignores_targets_outside():
    pred = torch.zeros(1, 1, 2, 8, 8) + 0.5
    targets = torch.tensor([[[[3.0, 3.0], [40.0, 40.0]]]])
    full = pseudo_heatmap_loss(pred, targets, 1.0)
    masked = PseudoHeatmapLoss(sigma=1.0)(pred, targets)
    only_first = pseudo_heatmap_loss(
        pred, targets, 1.0, target_weights=torch.tensor([[[1.0, 0.0]]]))
    assert masked.item() == pytest.approx(only_first.item())
    # the outside target's channel costs 0.25 per pixel: 0.25 * 64 / (2*64)
    assert full.item() - masked.item() == pytest.approx(0.125)


def test_student_targets():
    tracks = torch.tensor([[10.0, 20.0]], requires_grad=True)
    p_c = torch.tensor([[20.0, 0.0]], requires_grad=True)
    out = student_pseudo_targets(tracks, p_c, mu=0.6)
    torch.testing.assert_close(out, torch.tensor([[14.0, 12.0]]))
    assert not out.requires_grad
    torch.testing.assert_close(
        student_pseudo_targets(tracks, p_c, mu=1.0), tracks.detach())
