"""Burn-rate maths over event counts with numpy: the same maths as the rules.

The compiled rules compute a window's error ratio as bad events over total
events in that window (a ratio of sums), and an alert pair fires when both of
its windows are above burn rate x error budget, with at least `min_events`
events in the long window. These functions compute exactly that over arrays
of per-step counts, so the daemon, `slo status` and `slo backtest` agree with
Prometheus on the same data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from slo_engine.model import SLO, BurnRateWindow
from slo_engine.windows import threshold

__all__ = [
    "BoolArray",
    "FloatArray",
    "PairFiring",
    "budget_remaining",
    "burn_rate",
    "error_ratio",
    "evaluate_policy",
    "iter_policy_rows",
    "steps_in",
    "time_left",
    "window_sum",
    "window_sums",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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


def window_sums(
    cumulative: FloatArray, steps: int, out: FloatArray | None = None
) -> FloatArray:
    """Rolling sums along axis 1 from row-wise cumulative sums.

    `cumulative` has one row per series and a leading column of zeros, as
    `np.cumsum` along axis 1 with a zero prepended gives. Each entry equals
    what `window_sum` returns for that row: the same subtraction of the same
    floats. `out`, when given, receives the sums.
    """
    length = cumulative.shape[1] - 1
    head = min(steps, length)
    sums = np.empty((cumulative.shape[0], length)) if out is None else out
    np.subtract(cumulative[:, 1 : head + 1], cumulative[:, :1], out=sums[:, :head])
    np.subtract(
        cumulative[:, head + 1 :],
        cumulative[:, 1 : length + 1 - head],
        out=sums[:, head:],
    )
    return sums


@dataclass
class _Block:
    """Buffers reused from block to block: fresh arrays cost a page fault per
    4 KiB, which on long histories takes longer than the arithmetic."""

    cumulative_bad: FloatArray
    cumulative_total: FloatArray
    ratios: dict[timedelta, FloatArray]
    totals: dict[timedelta, FloatArray]
    firing: list[BoolArray]
    scratch: BoolArray


def iter_policy_rows(
    policy: tuple[BurnRateWindow, ...],
    rows: Sequence[tuple[int, float, int | None]],
    bad: npt.NDArray[Any],
    total: npt.NDArray[Any],
    step: timedelta,
) -> Iterator[tuple[int, list[BoolArray]]]:
    """`evaluate_policy` for many SLOs that share one policy, row by row.

    `bad` and `total` hold one SLO per row and one step per column; `rows`
    lists which rows to evaluate, each with its SLO's error budget and
    `min_events`. Yields each row and, per pair, where its condition holds,
    equal to `evaluate_policy(...)[pair].firing` for that SLO. The yielded
    arrays are overwritten by the next row; copy what must be kept.

    Limitations:
        Counts must not be negative and bad must not exceed total at any
        step: a window with bad events but a total of 0 would divide to
        infinity and fire, where `error_ratio` gives NaN.
    """
    windows = {w for pair in policy for w in (pair.long_window, pair.short_window)}
    shape = (1, bad.shape[1])
    block = _Block(
        np.zeros((1, shape[1] + 1)),
        np.zeros((1, shape[1] + 1)),
        {window: np.empty(shape) for window in sorted(windows)},
        {window: np.empty(shape) for window in sorted(windows)},
        [np.empty(shape, dtype=np.bool_) for _ in policy],
        np.empty(shape, dtype=np.bool_),
    )
    for row, error_budget, min_events in rows:
        counts = (bad[row : row + 1], total[row : row + 1])
        _evaluate_block(policy, error_budget, min_events, counts, step, block)
        yield row, [holds[0] for holds in block.firing]


def _evaluate_block(
    policy: tuple[BurnRateWindow, ...],
    error_budget: float,
    min_events: int | None,
    counts: tuple[npt.NDArray[Any], npt.NDArray[Any]],
    step: timedelta,
    block: _Block,
) -> None:
    np.cumsum(counts[0], axis=1, dtype=np.float64, out=block.cumulative_bad[:, 1:])
    np.cumsum(counts[1], axis=1, dtype=np.float64, out=block.cumulative_total[:, 1:])

    # Per window: bad events over total events; 0/0 is NaN and compares false,
    # as the NaN of `error_ratio` does.
    for window, ratio in block.ratios.items():
        steps = steps_in(window, step)
        totals = window_sums(block.cumulative_total, steps, out=block.totals[window])
        window_sums(block.cumulative_bad, steps, out=ratio)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(ratio, totals, out=ratio)

    for pair, holds in zip(policy, block.firing, strict=True):
        limit = threshold(pair, error_budget)
        np.greater(block.ratios[pair.long_window], limit, out=holds)
        np.greater(block.ratios[pair.short_window], limit, out=block.scratch)
        holds &= block.scratch
        if min_events is not None:
            events = block.totals[pair.long_window]
            np.greater_equal(events, min_events, out=block.scratch)
            holds &= block.scratch
