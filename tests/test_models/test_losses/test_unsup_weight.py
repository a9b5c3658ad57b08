"""The ramp w(t) of the unsupervised terms."""
import math

import pytest

from tsal_mmpose.models.losses import unsup_weight


@pytest.mark.parametrize('t,expected', [
    (0, math.exp(-5.0)),
    (30, math.exp(-1.25)),  # (1 - 30/60)^2 = 0.25
    (45, math.exp(-0.3125)),  # (1 - 45/60)^2 = 0.0625
    (60, 1.0),
    (100, 1.0),
    (110, 1.0),
    (125, math.exp(-3.125)),  # p = 0.5
    (140, math.exp(-12.5)),
    (500, math.exp(-12.5)),
])
def test_paper_schedule(t, expected):
    assert unsup_weight(t, 60, 110, 140) == pytest.approx(expected, rel=1e-12)


def test_options():
    assert unsup_weight(125, 60, 110, 140, ramp_down=False) == 1.0
    assert unsup_weight(0, 0, 10, 20) == 1.0
    assert unsup_weight(1500, 1000, 2000, 3000) == pytest.approx(1.0)
    assert unsup_weight(500, 1000, 2000, 3000) == pytest.approx(
        math.exp(-1.25))
    with pytest.raises(ValueError):
        unsup_weight(1, 50, 40, 100)
