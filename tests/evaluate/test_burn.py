"""The numpy burn-rate maths against a plain loop, and the policy on known burns."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from slo_engine.evaluate.burn import (
    budget_remaining,
    error_ratio,
    evaluate_policy,
    steps_in,
    time_left,
    window_sum,
)
from slo_engine.model import SLO, Alerting, RatioSLI, Selector
from slo_engine.windows import default_policy

MINUTE = timedelta(minutes=1)
counts = hnp.arrays(
    np.float64, st.integers(1, 300), elements=st.integers(0, 1000).map(float)
)


def make_slo(objective=0.999, min_events=None) -> SLO:
    return SLO(
        service="svc",
        name="slo",
        objective=objective,
        sli=RatioSLI(total=Selector("t"), bad=Selector("b")),
        alerting=Alerting(name="A"),
        policy=default_policy(timedelta(days=30)),
        min_events=min_events,
    )


@given(counts, st.integers(1, 50))
def test_window_sum_equals_a_plain_loop(values, steps):
    expected = [values[max(0, i + 1 - steps) : i + 1].sum() for i in range(len(values))]

    assert window_sum(values, steps) == pytest.approx(expected)


@given(counts, st.integers(1, 50), st.floats(0, 1))
def test_error_ratio_is_a_ratio_of_sums(total, steps, share):
    bad = np.floor(total * share)

    ratio = error_ratio(bad, total, steps)

    for i in range(len(total)):
        window = slice(max(0, i + 1 - steps), i + 1)
        if total[window].sum() == 0:
            assert np.isnan(ratio[i])
        else:
            assert ratio[i] == pytest.approx(bad[window].sum() / total[window].sum())


def test_error_ratio_uneven_traffic_differs_from_average_of_ratios():
    # A busy hour with 1% errors, then a quiet hour with 50% errors.
    total = np.array([1000.0] * 60 + [2.0] * 60)
    bad = np.array([10.0] * 60 + [1.0] * 60)

    ratio = error_ratio(bad, total, 120)[-1]

    assert ratio == pytest.approx(660 / 60120)
    assert np.mean(bad / total) == pytest.approx(0.255)


def test_steps_in_rejects_windows_that_are_not_whole_steps():
    assert steps_in(timedelta(hours=1), MINUTE) == 60
    with pytest.raises(ValueError, match="not a whole number"):
        steps_in(timedelta(seconds=90), MINUTE)


@pytest.mark.parametrize(
    ("burn", "fires_within"),
    [
        pytest.param(
            20.0, timedelta(minutes=44), id="a 20x burn pages within 1h x 14.4 / 20"
        ),
        pytest.param(
            100.0, timedelta(minutes=9), id="a 100x burn pages within 1h x 14.4 / 100"
        ),
    ],
)
def test_policy_fast_burn_fires_page_by_workbook_detection_time(burn, fires_within):
    slo = make_slo()
    minutes = 3 * 24 * 60
    total = np.full(minutes, 100.0)
    bad = np.zeros(minutes)
    start = 2 * 24 * 60
    bad[start:] = 100.0 * burn * slo.error_budget

    page = evaluate_policy(slo, bad, total, MINUTE)[0]

    first = int(np.argmax(page.firing))
    assert page.firing.any()
    assert timedelta(minutes=first - start + 1) <= fires_within


def test_policy_burn_just_below_factor_never_pages():
    slo = make_slo()
    total = np.full(2 * 24 * 60, 100.0)
    bad = total * 14.0 * slo.error_budget

    page = evaluate_policy(slo, bad, total, MINUTE)[0]

    assert not page.firing.any()


def test_policy_min_events_silences_low_traffic():
    slo = make_slo(min_events=50)
    total = np.full(24 * 60, 1 / 60)  # one event an hour, every one bad
    bad = total.copy()

    results = evaluate_policy(slo, bad, total, MINUTE)

    assert not any(result.firing.any() for result in results)
    assert evaluate_policy(make_slo(), bad, total, MINUTE)[0].firing.any()


def test_budget_remaining_and_time_left():
    assert budget_remaining(0.0005, 0.001) == pytest.approx(0.5)
    assert budget_remaining(0.002, 0.001) == pytest.approx(-1.0)
    assert time_left(0.5, 2.0, timedelta(days=30)) == timedelta(days=7.5)
    assert time_left(0.5, 0.0, timedelta(days=30)) is None
    assert time_left(-0.1, 3.0, timedelta(days=30)) == timedelta()
