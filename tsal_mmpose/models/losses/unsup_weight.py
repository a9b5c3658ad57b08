"""Ramp of the unsupervised terms, w(t) in Eqs. 1, 6 and 7."""
import math

__all__ = ['unsup_weight']


def unsup_weight(t: float,
                 ramp_up_end: float,
                 hold_end: float,
                 total: float,
                 ramp_down: bool = True) -> float:
    """Piecewise exponential weight w(t), in the Mean Teacher style.

    ``t`` counts elapsed training time from 0 (epochs or iterations, in the
    unit of the three bounds)::

        t <  ramp_up_end:             exp(-5 (1 - t / ramp_up_end)^2)
        ramp_up_end <= t < hold_end:  1
        hold_end <= t:                exp(-12.5 p^2), with
        p = min(1, (t - hold_end) / (total - hold_end))

    (the last piece is 1 if ``ramp_down`` is False). The paper's schedule
    (ramp up over epochs 1-60, hold over 61-110, ramp down over 111-140) is
    ``ramp_up_end=60, hold_end=110, total=140`` with ``t`` the 0-based
    epoch (or ``iteration / iterations_per_epoch``). At ``t = 0`` the
    weight is ``exp(-5)``; at the end of the ramp down it is
    ``exp(-12.5)``.

    Args:
        t (float): Elapsed time, >= 0.
        ramp_up_end (float): End of the ramp up (0 disables it).
        hold_end (float): End of the hold, >= ``ramp_up_end``.
        total (float): End of training, >= ``hold_end``.
        ramp_down (bool): Whether to ramp down after ``hold_end``.

    Returns:
        float: The weight in ``[exp(-12.5), 1]``.
    """
    if not 0 <= ramp_up_end <= hold_end <= total:
        raise ValueError('need 0 <= ramp_up_end <= hold_end <= total, got '
                         f'{ramp_up_end}, {hold_end}, {total}')
    t = max(float(t), 0.0)
    if t < ramp_up_end:
        phase = 1.0 - t / ramp_up_end
        return math.exp(-5.0 * phase * phase)
    if t < hold_end or not ramp_down or total <= hold_end:
        return 1.0
    p = min(1.0, (t - hold_end) / (total - hold_end))
    return math.exp(-12.5 * p * p)
