"""Penalty-reduced focal loss of the face-centre heatmap."""
import math

import pytest
import torch

from tsal_mmpose.models.losses import CenterFocalLoss, center_focal_loss


def test_focal_loss_by_hand():
    # logits 0 and ln 3 -> p = 0.5 and 0.75; targets 1 (peak) and 0.5
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 1, 1, 2)
    target = torch.tensor([1.0, 0.5]).view(1, 1, 1, 2)
    pos = -(0.5**2) * math.log(0.5)
    neg = -(0.5**4) * (0.75**2) * math.log(0.25)
    expected = pos + neg  # one peak
    assert expected == pytest.approx(0.2220237, abs=1e-6)
    assert center_focal_loss(logits, target).item() == pytest.approx(
        expected, rel=1e-6)
    assert CenterFocalLoss(loss_weight=3.0)(logits, target).item() == \
        pytest.approx(3 * expected, rel=1e-6)


def test_focal_loss_normalised_by_peaks_and_stable():
    logits = torch.tensor([0.0, 0.0, -50.0, 50.0]).view(2, 1, 1, 2)
    target = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(2, 1, 1, 2)
    # peaks: p=0.5 -> 0.25*ln2 and p=sigmoid(50) -> ~0; negatives:
    # p=0.5 -> 0.25*ln2 and p=sigmoid(-50) -> ~0; two peaks
    expected = (0.25 * math.log(2) * 2) / 2
    loss = center_focal_loss(logits, target)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # no peak: divide by 1
    loss0 = center_focal_loss(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))
    assert loss0.item() == pytest.approx(0.25 * math.log(2), rel=1e-6)
