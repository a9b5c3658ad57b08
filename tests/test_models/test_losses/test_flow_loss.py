"""l_E: photometric and smoothness terms of the motion field."""
import pytest
import torch
import torch.nn.functional as F

from tsal_mmpose.models.losses import (MotionFieldLoss, charbonnier,
                                       edge_aware_smoothness,
                                       forward_backward_occlusion,
                                       motion_field_loss, out_of_frame_mask,
                                       photometric_loss)


def _smooth_image(seed: int, size: int = 64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, size // 8, size // 8, generator=gen)
    return F.interpolate(noise, size=(size, size), mode='bilinear',
                         align_corners=False)


def _shifted_clip(dx: int, dy: int, stride: int = 4):
    img1 = _smooth_image(0)
    img2 = torch.roll(img1, shifts=(dy * stride, dx * stride), dims=(2, 3))
    images = torch.stack((img1, img2), dim=1)  # [1, 2, 3, 64, 64]
    h = 64 // stride
    fw = torch.tensor([dx, dy], dtype=torch.float32).view(1, 1, 2, 1, 1)
    return images, fw.expand(1, 1, 2, h, h).clone()


def test_charbonnier_floor():
    assert charbonnier(torch.zeros(1)).item() == pytest.approx(1e-6**0.45)


def test_photometric_zero_for_true_flow():
    images, flow = _shifted_clip(2, -1)
    floor = 1e-6**0.45
    for mode in ('border', 'fb'):
        terms = motion_field_loss(images, flow, -flow, occlusion=mode)
        assert terms['photometric'].item() == pytest.approx(floor, abs=1e-4)
        assert terms['smoothness'].item() == 0.0
    wrong = motion_field_loss(images, torch.zeros_like(flow),
                              occlusion='border')
    assert wrong['photometric'].item() > 20 * floor
    other = motion_field_loss(images, flow.flip(2), occlusion='border')
    assert other['photometric'].item() > 20 * floor
    # without a mask the out-of-frame border column is penalised
    nomask = motion_field_loss(images, flow, occlusion='none')
    assert nomask['photometric'].item() > 2 * floor


def test_masks():
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 2.0
    mask = out_of_frame_mask(flow)
    assert mask[0, 0].tolist() == [[1, 1, 1, 0, 0]] * 4
    assert forward_backward_occlusion(flow, -flow).min().item() == 1.0
    assert forward_backward_occlusion(flow, flow).max().item() == 0.0


def test_photometric_masked_mean():
    img1 = torch.zeros(1, 1, 2, 2)
    img2 = torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    val = photometric_loss(img1, img2, torch.zeros(1, 2, 2, 2), mask,
                           alpha=0.5, eps=0.0)
    assert val.item() == pytest.approx(1.0)
    assert photometric_loss(img1, img2, torch.zeros(1, 2, 2, 2),
                            torch.zeros_like(mask)).item() == 0.0


def test_edge_aware_smoothness_by_hand():
    flow = torch.zeros(1, 2, 2, 3)
    flow[0, 0, :, 2] = 1.0  # x-flow step between columns 1 and 2
    img = torch.zeros(1, 1, 2, 3)
    img[..., 2] = 0.4  # image edge at the same place
    # x: |dV| = 1 at 2 of 8 (2 ch x 2 rows x 2) places, weight exp(-2.5*.4)
    expected = 0.5 * (2 * torch.exp(torch.tensor(-1.0)).item() / 8 + 0.0)
    assert edge_aware_smoothness(flow, img).item() == pytest.approx(
        expected, rel=1e-6)


def test_module_keys_and_grad():
    images, flow = _shifted_clip(1, 1)
    flow = (flow + 0.3).requires_grad_()
    losses = MotionFieldLoss(loss_weight=2.0, smooth_weight=0.5)(
        images, flow, -flow.detach())
    assert set(losses) == {'loss_photometric', 'loss_smooth'}
    terms = motion_field_loss(images, flow, -flow.detach())
    assert losses['loss_photometric'].item() == pytest.approx(
        2 * terms['photometric'].item())
    sum(losses.values()).backward()
    assert flow.grad.abs().sum() > 0


def test_self_masking_flow_falls_back_to_unmasked():
    images, flow = _shifted_clip(1, 0)
    far = torch.full_like(flow, 100.0)  # every target out of frame
    masked = motion_field_loss(images, far, occlusion='border')
    plain = motion_field_loss(images, far, occlusion='none')
    assert masked['photometric'].item() == pytest.approx(
        plain['photometric'].item())
    assert masked['photometric'].item() > 0.01
    # forward and backward flows of the same sign: all inconsistent
    same = motion_field_loss(images, flow, flow, occlusion='fb')
    none = motion_field_loss(images, flow, flow, occlusion='none')
    assert same['photometric'].item() == pytest.approx(
        none['photometric'].item())
