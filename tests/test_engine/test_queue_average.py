"""Tests of Eq. 8 as pure functions (``queue_average_``, ``split_tensors``).

Reference values are worked out by hand from Eq. 8,
``teacher = lambda * teacher + (1 - lambda) * mean(queue)``.
"""
import pytest
import torch
from torch import nn

from tsal_mmpose.engine import queue_average_, split_tensors


def f64(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def make_queue():
    """Three snapshots of two tensors (a vector and a 1x1 matrix).

    Queue means: vector (1 + 3 + 5) / 3 = 3 and (2 + 6 + 1) / 3 = 3,
    matrix (3 + 5 + 1) / 3 = 3.
    """
    return [[f64(1., 2.), f64([3.])], [f64(3., 6.), f64([5.])],
            [f64(5., 1.), f64([1.])]]


def test_hand_computed_v3_lambda_half():
    # 0.5 * [2, -4] + 0.5 * [3, 3] = [2.5, -0.5]; 0.5 * 1 + 0.5 * 3 = 2
    teacher = [f64(2., -4.), f64([1.])]
    storage = [t.data_ptr() for t in teacher]
    out = queue_average_(teacher, make_queue(), 0.5)
    assert out is teacher
    assert [t.data_ptr() for t in teacher] == storage  # in place
    # weights (1 - lambda) / 3 = 1/6 round: equal up to a few ulps
    assert teacher[0].tolist() == pytest.approx([2.5, -0.5], rel=0, abs=1e-15)
    assert teacher[1].item() == pytest.approx(2., rel=0, abs=1e-15)


def test_hand_computed_v2_lambda_three_quarters():
    # queue {[4], [8]}, mean 6: 0.75 * 10 + 0.25 * 6 = 9
    teacher = [f64(10.)]
    queue_average_(teacher, [[f64(4.)], [f64(8.)]], 0.75)
    assert teacher[0].tolist() == [9.]


def test_queue_is_not_modified():
    queue = make_queue()
    before = [[x.clone() for x in snap] for snap in queue]
    queue_average_([f64(2., -4.), f64([1.])], queue, 0.5)
    for snap, ref in zip(queue, before):
        assert all(torch.equal(x, y) for x, y in zip(snap, ref))


def test_lambda0_is_the_plain_queue_mean_even_for_a_nan_teacher():
    # Algorithm 1 as printed: the teacher becomes mean(queue) = [3, 3], [[3]]
    teacher = [f64(float('nan'), float('inf')), f64([1.])]
    queue_average_(teacher, make_queue(), 0.)
    assert teacher[0].tolist() == pytest.approx([3., 3.], rel=0, abs=1e-15)
    assert teacher[1].item() == pytest.approx(3., rel=0, abs=1e-15)


def test_lambda1_leaves_the_teacher():
    teacher = [f64(2., -4.), f64([1.])]
    queue_average_(teacher, make_queue(), 1.)
    assert teacher[0].tolist() == [2., -4.]
    assert teacher[1].tolist() == [[1.]]


def test_v1_lambda0999_is_the_mean_teacher_ema():
    # 0.999 * 1 + 0.001 * 3 = 1.002
    teacher = [f64(1.)]
    queue_average_(teacher, [[f64(3.)]], 0.999)
    assert teacher[0].item() == pytest.approx(1.002, rel=0, abs=1e-15)


def test_empty_teacher_is_a_no_op():
    assert queue_average_([], [[]], 0.5) == []


@pytest.mark.parametrize('queue, smoothing, match', [
    ([], 0.5, 'at least one'),
    ([[f64(1.)]], 0.5, 'snapshot 0 holds 1 tensors, the teacher 2'),
    ([[f64(1.), f64(1.)]], 1.5, r'\[0, 1\]'),
    ([[f64(1.), f64(1.)]], -0.5, r'\[0, 1\]'),
])
def test_invalid_arguments(queue, smoothing, match):
    with pytest.raises(ValueError, match=match):
        queue_average_([f64(0.), f64(0.)], queue, smoothing)


def test_split_tensors_buffer_rule():
    net = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    averaged, copied = split_tensors(net)
    # parameters first, then floating-point buffers, in module order
    assert list(averaged) == ['0.weight', '0.bias', '1.weight', '1.bias',
                              '1.running_mean', '1.running_var']
    assert list(copied) == ['1.num_batches_tracked']
    assert averaged['0.weight'] is net[0].weight  # the module's own tensors
    assert copied['1.num_batches_tracked'] is net[1].num_batches_tracked
