"""The replay against `evaluate_policy`, and incident scoring on built incidents."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from slo_engine.evaluate.backtest import backtest, episodes_of, replay
from slo_engine.evaluate.burn import evaluate_policy
from slo_engine.evaluate.history import History, Incident
from slo_engine.model import SLO, Alerting, BurnRateWindow, RatioSLI, Selector, Severity

MINUTE = timedelta(minutes=1)
START = datetime(2026, 1, 1, tzinfo=UTC)
# Short windows keep generated histories small while exercising every path.
POLICY = (
    BurnRateWindow(Severity.PAGE, timedelta(minutes=10), timedelta(minutes=2), 10.0),
    BurnRateWindow(Severity.PAGE, timedelta(minutes=30), timedelta(minutes=5), 5.0),
    BurnRateWindow(Severity.TICKET, timedelta(hours=1), timedelta(minutes=10), 2.0),
)


def make_slo(name="a", objective=0.99, min_events=None, policy=POLICY) -> SLO:
    return SLO(
        service="svc",
        name=name,
        objective=objective,
        sli=RatioSLI(total=Selector("t"), bad=Selector("b")),
        alerting=Alerting(name="A"),
        policy=policy,
        window=timedelta(hours=2),
        min_events=min_events,
    )


def history_of(slos, bads, totals) -> History:
    ids = tuple(slo.slo_id for slo in slos)
    return History(START, MINUTE, ids, np.array(bads), np.array(totals))


ANY_LENGTH = st.integers(1, 240)


@st.composite
def counts(draw, length=ANY_LENGTH):
    """Per-minute totals and bad counts with bad <= total, and bursts of errors."""
    steps = draw(length)
    total = draw(hnp.arrays(np.float64, steps, elements=st.integers(0, 50).map(float)))
    share = draw(
        hnp.arrays(np.float64, steps, elements=st.sampled_from([0, 0.05, 0.5, 1]))
    )
    return np.floor(total * share), total


@given(counts(), st.sampled_from([0.9, 0.99, 0.999]), st.sampled_from([None, 20]))
def test_replay_fires_exactly_where_evaluate_policy_holds(data, objective, min_events):
    bad, total = data
    slo = make_slo(objective=objective, min_events=min_events)

    alerts = replay([slo], history_of([slo], [bad], [total]))

    for result in evaluate_policy(slo, bad, total, MINUTE):
        fired = np.zeros(len(bad), dtype=bool)
        for alert in (a for a in alerts if a.pair == result.pair):
            first = (alert.start - START) // MINUTE
            after = len(bad) if alert.end is None else (alert.end - START) // MINUTE
            fired[first:after] = True
        assert np.array_equal(fired, result.firing)


@given(counts())
def test_episodes_of_one_pair_never_overlap_and_are_maximal(data):
    bad, total = data
    slo = make_slo()

    alerts = replay([slo], history_of([slo], [bad], [total]))

    for pair in POLICY:
        mine = sorted((a for a in alerts if a.pair == pair), key=lambda a: a.start)
        for before, after in itertools.pairwise(mine):
            assert before.end is not None
            assert before.end < after.start  # a gap of at least one quiet step


@given(hnp.arrays(np.bool_, st.integers(1, 100)))
def test_episodes_of_cover_exactly_the_true_steps(firing):
    runs = episodes_of(firing)

    rebuilt = np.zeros(len(firing), dtype=bool)
    for first, after in runs:
        assert rebuilt[first:after].sum() == 0
        rebuilt[first:after] = True
    assert np.array_equal(rebuilt, firing)


@given(st.lists(counts(st.just(120)), min_size=2, max_size=4))
def test_slos_replayed_together_fire_as_each_alone(rows):
    slos = [make_slo(name=f"s{i}", objective=0.95 + 0.01 * i) for i in range(len(rows))]
    history = history_of(slos, [b for b, _ in rows], [t for _, t in rows])

    together = replay(slos, history)

    alone = []
    for slo, (bad, total) in zip(slos, rows, strict=True):
        alone += replay([slo], history_of([slo], [bad], [total]))
    assert sorted(together, key=repr) == sorted(alone, key=repr)


# ---- incidents ------------------------------------------------------------------


def incident_history(slo, bursts, steps=600):
    total = np.full(steps, 100.0)
    bad = np.zeros(steps)
    for first, after, share in bursts:
        bad[first:after] = 100.0 * share
    return history_of([slo], [bad], [total])


def at(minute):
    return START + minute * MINUTE


def test_detection_time_is_from_incident_start_to_first_alert():
    slo = make_slo()
    history = incident_history(slo, [(200, 260, 0.5)])
    incident = Incident(slo.slo_id, at(200), at(260))

    result = backtest([slo], history, [incident]).results[0]

    (outcome,) = result.outcomes
    assert outcome.detected_by is not None
    # 50% bad fills the 10m window past 10% after three minutes.
    assert outcome.detected_by.start == at(202)
    assert outcome.detection_time == timedelta(minutes=2)
    assert result.false_pages == ()
    assert outcome.budget_consumed == pytest.approx(60 * 50 / (120 * 100 * 0.01))


def test_slow_burn_is_detected_after_the_long_window_fills():
    slo = make_slo()
    # 3% errors: 3x the budget, only the 1h ticket at 2x fires, after 40 minutes.
    history = incident_history(slo, [(200, 400, 0.03)])

    result = backtest([slo], history, [Incident(slo.slo_id, at(200), at(400))])

    (outcome,) = result.results[0].outcomes
    assert outcome.detected_by is not None
    assert outcome.detected_by.severity is Severity.TICKET
    assert outcome.detection_time == timedelta(minutes=40)


def test_incident_without_alert_is_missed_and_page_without_incident_is_false():
    slo = make_slo()
    history = incident_history(slo, [(100, 130, 0.5)])
    quiet = Incident(slo.slo_id, at(400), at(450))

    result = backtest([slo], history, [quiet]).results[0]

    (outcome,) = result.outcomes
    assert outcome.is_missed
    assert outcome.detection_time is None
    assert result.missed == (outcome,)
    assert {a.severity for a in result.false_pages} == {Severity.PAGE}
    assert all(a.start >= at(100) for a in result.false_pages)


def test_alternative_policy_is_replayed_side_by_side():
    slo = make_slo()
    history = incident_history(slo, [(200, 400, 0.03)])
    slow_page = (
        BurnRateWindow(Severity.PAGE, timedelta(hours=1), timedelta(minutes=5), 2.5),
    )

    default, alternative = backtest([slo], history, alternative=slow_page).results

    assert default.name == "default"
    assert default.count(Severity.PAGE) == 0
    assert alternative.name == "alternative"
    assert alternative.count(Severity.PAGE) == 1
    assert alternative.count(Severity.TICKET) == 0
