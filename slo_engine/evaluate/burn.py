"""Burn-rate maths over event counts with numpy: the same maths as the rules.

The compiled rules compute a window's error ratio as bad events over total
events in that window (a ratio of sums), and an alert pair fires when both of
its windows are above burn rate x error budget, with at least `min_events`
events in the long window. These functions compute exactly that over arrays
of per-step counts, so the daemon, `slo status` and `slo backtest` agree with
Prometheus on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from slo_engine.model import SLO, BurnRateWindow
from slo_engine.windows import threshold

__all__ = [
    "FloatArray",
    "PairFiring",
    "budget_remaining",
    "burn_rate",
    "error_ratio",
    "evaluate_policy",
    "steps_in",
    "time_left",
    "window_sum",
]

FloatArray = npt.NDArray[np.float64]


def steps_in(window: timedelta, step: timedelta) -> int:
    """How many steps of `step` make up `window`.

    Raises:
        ValueError: the window is not a whole number of steps.
    """
    count, rest = divmod(window, step)
    if rest or count < 1:
        raise ValueError(f"window {window} is not a whole number of {step} steps")
    return int(count)


def window_sum(counts: FloatArray, steps: int) -> FloatArray:
    """Rolling sum over the last `steps` entries, ending at each entry.

    Entries before a full window has passed sum what there is, as Prometheus
    does over a range that reaches back before the first sample.
    """
    cumulative = np.concatenate(([0.0], np.cumsum(counts, dtype=np.float64)))
    ends = np.arange(1, len(counts) + 1)
    starts = np.maximum(ends - steps, 0)
    return cumulative[ends] - cumulative[starts]


def error_ratio(bad: FloatArray, total: FloatArray, steps: int) -> FloatArray:
    """Share of bad events over each rolling window of `steps`; NaN without events."""
    bad_sum = window_sum(bad, steps)
    total_sum = window_sum(total, steps)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio: FloatArray = np.where(total_sum > 0, bad_sum / total_sum, np.nan)
    return ratio


def burn_rate(ratio: FloatArray | float, error_budget: float) -> FloatArray | float:
    """How many times faster than budgeted the budget is spent."""
    return ratio / error_budget


def budget_remaining(
    period_ratio: FloatArray | float, error_budget: float
) -> FloatArray | float:
    """Share of the window's budget left: 1 - ratio / budget; below 0 if overspent."""
    return 1.0 - period_ratio / error_budget


def time_left(remaining: float, burn: float, period: timedelta) -> timedelta | None:
    """How long until the budget is gone at the current burn; None when not burning.

    At burn rate 1 a whole budget lasts one SLO window, so `remaining` of it
    lasts `remaining x period / burn`.
    """
    if not np.isfinite(burn) or burn <= 0 or not np.isfinite(remaining):
        return None
    if remaining <= 0:
        return timedelta()
    return period * (remaining / burn)


@dataclass(frozen=True)
class PairFiring:
    """Where one alert pair's condition holds, step by step."""

    pair: BurnRateWindow
    firing: npt.NDArray[np.bool_]
    long_ratio: FloatArray
    short_ratio: FloatArray


def evaluate_policy(
    slo: SLO, bad: FloatArray, total: FloatArray, step: timedelta
) -> list[PairFiring]:
    """Evaluate each pair of the SLO's policy over per-step event counts.

    `bad[i]` and `total[i]` are the events in the step ending at entry `i`.
    A comparison with NaN (no events) is false, as in PromQL.
    """
    limit_for = {pair: threshold(pair, slo.error_budget) for pair in slo.policy}
    results = []
    for pair in slo.policy:
        long_steps = steps_in(pair.long_window, step)
        long_ratio = error_ratio(bad, total, long_steps)
        short_ratio = error_ratio(bad, total, steps_in(pair.short_window, step))
        with np.errstate(invalid="ignore"):
            firing = (long_ratio > limit_for[pair]) & (short_ratio > limit_for[pair])
        if slo.min_events is not None:
            firing &= window_sum(total, long_steps) >= slo.min_events
        results.append(PairFiring(pair, firing, long_ratio, short_ratio))
    return results
