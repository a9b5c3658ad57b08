"""Eq. 2 (SIC) and Eq. 3 (MFDS) against direct transcriptions."""
import pytest
import torch

from tsal_mmpose.models.losses import (MFDSLoss, SICLoss, face_box_width,
                                       mfds_loss, sic_loss)


def _sic_loop(offsets, box_w):
    b, k = offsets.shape[:2]
    total = 0.0
    for clip in range(b):
        s = [offsets[clip, i].norm(dim=-1).sum() / box_w[clip, i]
             for i in range(k)]
        acc = 0.0
        for i in range(k - 1):
            for j in range(i + 1, k):
                acc = acc + (s[i] - s[j])**2
        total = total + acc / k
    return total / b


def test_sic_matches_loop():
    torch.manual_seed(0)
    offsets = torch.randn(3, 5, 68, 2, dtype=torch.float64) * 8
    box_w = torch.rand(3, 5, dtype=torch.float64) * 20 + 10
    assert sic_loss(offsets, box_w).item() == pytest.approx(
        _sic_loop(offsets, box_w).item(), rel=1e-9)


def test_sic_by_hand():
    # clip 0: K=3, N=1, |O| = 5, 10, 3 with widths 10 -> 0.5, 1.0, 0.3
    # pairs: 0.25 + 0.04 + 0.49 = 0.78, / K = 0.26; clip 1 constant -> 0
    offsets = torch.tensor([[[[3., 4.]], [[6., 8.]], [[0., 3.]]],
                            [[[1., 0.]], [[2., 0.]], [[0., 3.]]]])
    box_w = torch.tensor([[10., 10., 10.], [2., 4., 6.]])
    assert sic_loss(offsets, box_w).item() == pytest.approx(0.13, abs=1e-6)


def test_sic_zero_for_equal_normalised_sums():
    torch.manual_seed(1)
    base = torch.randn(1, 1, 68, 2)
    scales = torch.tensor([1.0, 1.7, 0.6, 2.5])
    offsets = base * scales.view(1, 4, 1, 1)
    box_w = 30.0 * scales.view(1, 4)
    assert sic_loss(offsets, box_w).item() == pytest.approx(0.0, abs=1e-8)


def test_sic_module_box_from_points_and_grad():
    torch.manual_seed(2)
    offsets = torch.randn(2, 3, 5, 2, requires_grad=True)
    centers = torch.rand(2, 3, 1, 2) * 10
    points = centers + offsets
    loss = SICLoss(loss_weight=2.0)(offsets, points=points)
    ref = 2.0 * sic_loss(offsets, face_box_width(points).detach())
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    loss.backward()
    assert offsets.grad.abs().sum() > 0
    assert face_box_width(torch.tensor([[[1., 0.], [4., 9.], [-2., 3.]]])
                          ).item() == 6.0


def test_mfds_matches_loop_and_detaches_target():
    torch.manual_seed(3)
    tracked = torch.randn(4, 68, 2, requires_grad=True)
    detected = torch.randn(4, 68, 2, requires_grad=True)
    ref = 0.0
    for b in range(4):
        acc = 0.0
        for n in range(68):
            diff = (tracked[b, n] - detected[b, n]).detach()
            acc += float((diff**2).sum())
        ref += acc / 68
    ref /= 4
    loss = mfds_loss(tracked, detected)
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    MFDSLoss(loss_weight=0.5)(tracked, detected).backward()
    assert detected.grad is None
    expected = 0.5 * 2 * (tracked - detected).detach() / (68 * 4)
    torch.testing.assert_close(tracked.grad, expected)


def test_mfds_leaves_out_weightless_landmarks_by_hand():
    """Clip 0: landmarks 0 and 2 count, squared distances 25 and 4, mean
    14.5; clip 1: no landmark counts, 0; the mean over clips 7.25."""
    tracked = torch.tensor([[[3., 4.], [100., 0.], [0., 2.]],
                            [[1., 1.], [1., 1.], [1., 1.]]],
                           requires_grad=True)
    detected = torch.zeros(2, 3, 2)
    weights = torch.tensor([[1., 0., 1.], [0., 0., 0.]])
    loss = MFDSLoss(loss_weight=2.0)(tracked, detected, weights)
    assert loss.item() == pytest.approx(2.0 * 7.25)
    loss.backward()
    # d/dt of 2 * (1/2) * (1/2) * |t|^2 on the counted landmarks only
    expected = torch.zeros(2, 3, 2)
    expected[0, 0] = torch.tensor([3., 4.])
    expected[0, 2] = torch.tensor([0., 2.])
    torch.testing.assert_close(tracked.grad, expected)
    # all-one weights give the unweighted loss
    ones = torch.ones(2, 3)
    assert mfds_loss(tracked, detected, ones).item() == \
        mfds_loss(tracked, detected).item()
