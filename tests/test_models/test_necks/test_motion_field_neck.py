"""Motion field neck, point tracking and warping."""
import pytest
import torch
import torch.nn.functional as F

from tsal_mmpose.models.necks import MotionFieldNeck, track_points, warp_image
from mmpose.registry import MODELS


def test_track_constant_flow():
    b, k, h, w = 2, 5, 16, 20
    d = torch.tensor([0.75, -0.5])
    flows = d.view(1, 1, 2, 1, 1).expand(b, k - 1, 2, h, w).clone()
    points = torch.tensor([[[3.0, 9.0], [10.2, 12.7]],
                           [[15.0, 14.0], [5.5, 8.25]]])
    tracks = track_points(flows, points)
    assert tracks.shape == (b, k, 2, 2)
    for t in range(k):
        torch.testing.assert_close(tracks[:, t], points + t * d)


def test_track_affine_flow():
    h, w, k = 32, 32, 4
    ang = 0.08
    a = 1.03 * torch.tensor([[torch.cos(torch.tensor(ang)),
                              -torch.sin(torch.tensor(ang))],
                             [torch.sin(torch.tensor(ang)),
                              torch.cos(torch.tensor(ang))]])
    bvec = torch.tensor([0.6, -0.4])
    c = torch.tensor([15.5, 15.5])
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32),
                            indexing='ij')
    grid = torch.stack((xs, ys), dim=-1)  # [h, w, 2]
    mapped = (grid - c) @ a.T + c + bvec
    field = (mapped - grid).permute(2, 0, 1)  # [2, h, w]
    flows = field.expand(1, k - 1, 2, h, w)
    points = torch.tensor([[[14.3, 17.8], [18.6, 12.1], [16.0, 16.0]]])
    tracks = track_points(flows, points)
    expected = points[0]
    for t in range(1, k):
        expected = (expected - c) @ a.T + c + bvec
        torch.testing.assert_close(tracks[0, t], expected, atol=1e-4,
                                   rtol=0)


def test_track_gradient_support():
    torch.manual_seed(0)
    h, w = 10, 12
    flows = (torch.randn(1, 2, 2, h, w) * 0.3).requires_grad_()
    points = torch.tensor([[[3.3, 5.6], [7.8, 2.1]]])
    tracks = track_points(flows, points)
    tracks[:, 1:].sum().backward()
    g0 = flows.grad[0, 0].abs().sum(0)  # [h, w]
    g1 = flows.grad[0, 1].abs().sum(0)
    n0 = {(5, 3), (5, 4), (6, 3), (6, 4), (2, 7), (2, 8), (3, 7), (3, 8)}
    assert {tuple(i) for i in (g0 > 0).nonzero().tolist()} == n0
    g_1 = tracks[0, 1].detach()
    n1 = set()
    for x, y in g_1.tolist():
        for yy in (int(y), int(y) + 1):
            for xx in (int(x), int(x) + 1):
                n1.add((yy, xx))
    assert {tuple(i) for i in (g1 > 0).nonzero().tolist()} == n1


def test_track_gradient_values_single_step():
    h, w = 6, 6
    flows = torch.zeros(1, 1, 2, h, w, requires_grad=True)
    points = torch.tensor([[[2.25, 3.5]]])
    track_points(flows, points)[0, 1, 0, 0].backward()
    grad = flows.grad[0, 0, 0]
    expected = torch.zeros(h, w)
    expected[3, 2], expected[3, 3] = 0.75 * 0.5, 0.25 * 0.5
    expected[4, 2], expected[4, 3] = 0.75 * 0.5, 0.25 * 0.5
    torch.testing.assert_close(grad, expected)
    assert flows.grad[0, 0, 1].abs().sum() == 0


def test_warp_image_integer_shift():
    img = torch.arange(48, dtype=torch.float32).view(1, 1, 6, 8)
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0], flow[:, 1] = 2.0, 1.0
    out = warp_image(img, flow)
    torch.testing.assert_close(out[0, 0, :5, :6], img[0, 0, 1:, 2:])


@pytest.mark.parametrize('stride,coarse', [(4, 2), (2, 1), (8, 0)])
def test_neck_shapes(stride, coarse):
    torch.manual_seed(0)
    neck = MODELS.build(
        dict(type='MotionFieldNeck', base_channels=8, stride=stride,
             num_coarse_levels=coarse))
    images = torch.randn(2, 3, 3, 64, 48)
    flows = neck(images)
    assert flows.shape == (2, 2, 2, 64 // stride, 48 // stride)
    assert flows.abs().max() < 0.5  # predictors start near zero
    fw, bw = neck(images, return_backward=True)
    torch.testing.assert_close(fw, flows, atol=1e-5, rtol=1e-4)
    assert bw.shape == fw.shape


def test_neck_loss_and_tracking_grad():
    torch.manual_seed(0)
    neck = MotionFieldNeck(base_channels=8)
    images = torch.randn(1, 3, 3, 32, 32)
    fw, bw = neck(images, return_backward=True)
    losses = neck.loss(images, fw, bw)
    assert set(losses) == {'loss_photometric', 'loss_smooth'}
    assert all(torch.isfinite(v) for v in losses.values())
    tracks = track_points(fw, torch.tensor([[[3.5, 4.5], [5.2, 6.1]]]))
    (sum(losses.values()) + tracks.sum()).backward()
    grads = [p.grad for p in neck.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
    # flows computed inside when omitted
    with torch.no_grad():
        again = neck.loss(images)
        forward_only = neck.loss(images, fw)
    assert again['loss_photometric'].item() == pytest.approx(
        forward_only['loss_photometric'].item(), rel=1e-4)
    # forward-backward occlusion makes the loss compute backward flows
    fb_neck = MotionFieldNeck(
        base_channels=8, loss=dict(type='MotionFieldLoss', occlusion='fb'))
    fb_neck.load_state_dict(neck.state_dict())
    with torch.no_grad():
        fb_losses = fb_neck.loss(images, fw.detach())
        fb_ref = fb_neck.loss_module(images, fw.detach(), bw.detach())
    assert fb_losses['loss_photometric'].item() == pytest.approx(
        fb_ref['loss_photometric'].item(), rel=1e-4)


def test_local_correlation_by_hand():
    from tsal_mmpose.models.necks.motion_field_neck import local_correlation
    f1 = torch.zeros(1, 2, 3, 3)
    f1[0, 0] = 1.0  # unit vectors along channel 0
    f2 = torch.zeros(1, 2, 3, 3)
    f2[0, 1] = 2.0
    f2[0, :, 1, 2] = torch.tensor([3.0, 0.0])  # matches at (x=2, y=1)
    corr = local_correlation(f1, f2, 1)
    assert corr.shape == (1, 9, 3, 3)
    # pixel (x=1, y=1) sees (2, 1) at displacement (dx, dy) = (1, 0)
    assert corr[0, 1 * 3 + 2, 1, 1] == 1.0
    assert corr[0, 1 * 3 + 1, 1, 1] == 0.0  # orthogonal
    assert corr[0, 0, 0, 0] == 0.0  # outside the map


def test_local_correlation_gradient_matches_autograd():
    """The in-place backward equals autograd of one product per shift."""
    from tsal_mmpose.models.necks.motion_field_neck import local_correlation
    torch.manual_seed(0)
    f1 = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda a, b: local_correlation(a, b, 2),
                             (f1, f2))
    # against the plain formula under autograd
    weight = torch.randn(2, 25, 5, 4, dtype=torch.float64)
    (local_correlation(f1, f2, 2) * weight).sum().backward()
    a1 = F.normalize(f1, dim=1)
    a2 = F.pad(F.normalize(f2, dim=1), (2, 2, 2, 2))
    ref = torch.stack([(a1 * a2[..., dy:dy + 5, dx:dx + 4]).sum(1)
                       for dy in range(5) for dx in range(5)], dim=1)
    g1, g2 = torch.autograd.grad((ref * weight).sum(), (f1, f2))
    torch.testing.assert_close(f1.grad, g1)
    torch.testing.assert_close(f2.grad, g2)
