"""The daemon and a real Prometheus agree on the same backfilled history."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from slo_engine.compiler.rules import RAW_RANGE_LIMIT, windows_of
from slo_engine.durations import format_duration
from slo_engine.evaluate.burn import error_ratio, evaluate_policy, steps_in
from slo_engine.evaluate.prometheus import PrometheusEvaluator
from slo_engine.spec.loader import load_paths

from .conftest import STEP, wait_for


def slos_of(prometheus):
    return [
        slo for spec in load_paths([prometheus.folder / "specs"]) for slo in spec.slos
    ]


def counts(history, job):
    bad = history.counts[(job, "500")]
    total = bad + history.counts[(job, "200")]
    return bad.astype(np.float64), total.astype(np.float64)


def test_numpy_maths_and_prometheus_raw_queries_agree_at_the_same_instant(
    prometheus_raw,
):
    prometheus, history = prometheus_raw
    evaluator = PrometheusEvaluator(prometheus.url)

    states = evaluator.evaluate(slos_of(prometheus), history.end)

    for state, job in zip(states, ("chat", "search"), strict=True):
        bad, total = counts(history, job)
        short = [w for w in windows_of(state.slo) if w <= RAW_RANGE_LIMIT]
        for window in short:
            expected = error_ratio(bad, total, steps_in(window, STEP))[-1]
            assert state.ratios[window] == pytest.approx(expected, rel=1e-9), window
        pages = [
            p
            for p in evaluate_policy(state.slo, bad, total, STEP)
            if p.pair.long_window <= RAW_RANGE_LIMIT
        ]
        numpy_firing = {p.pair for p in pages if p.firing[-1]}
        daemon_firing = {p for p in state.firing() if p.long_window <= RAW_RANGE_LIMIT}
        assert daemon_firing == numpy_firing
    assert {p.long_window.total_seconds() for p in states[0].firing()} >= {3600}
    assert states[1].firing() == ()


def test_the_daemon_fires_exactly_the_alerts_prometheus_fires(prometheus_with_rules):
    prometheus, _ = prometheus_with_rules
    slos = slos_of(prometheus)
    wait_for(
        lambda: len(prometheus.query('ALERTS{alertstate="firing"}')) >= 3,
        30,
        "Prometheus alerts firing",
    )
    evaluator = PrometheusEvaluator(prometheus.url)

    from datetime import UTC, datetime

    states = evaluator.evaluate(slos, datetime.now(UTC))
    alerts = prometheus.query('ALERTS{alertstate="firing",alertname!~".*NoData"}')
    remaining = prometheus.query("slo:error_budget_remaining:ratio")

    daemon = {
        (s.slo.slo_id, format_duration(p.long_window), format_duration(p.short_window))
        for s in states
        for p in s.firing()
    }
    by_prometheus = {
        (a["metric"]["slo_id"], a["metric"]["long_window"], a["metric"]["short_window"])
        for a in alerts
    }
    assert daemon == by_prometheus
    assert ("chat-availability", "1h", "5m") in daemon
    left = {r["metric"]["slo_id"]: float(r["value"][1]) for r in remaining}
    for state in states:
        assert math.isclose(
            state.budget_remaining, left[state.slo.slo_id], rel_tol=1e-6
        )
    assert evaluator.queries <= 2


def test_windows_not_recorded_yet_are_read_from_raw_series(prometheus_short_records):
    prometheus, _ = prometheus_short_records
    slos = slos_of(prometheus)
    at = datetime.now(UTC)

    states = PrometheusEvaluator(prometheus.url).evaluate(slos, at)
    raw = PrometheusEvaluator(prometheus.url)._raw_ratios(slos, at)

    for state in states:
        assert set(state.ratios) == set(windows_of(state.slo))
        for window in windows_of(state.slo):
            expected = raw[state.slo.slo_id][window]
            if window > RAW_RANGE_LIMIT:
                assert state.ratios[window] == pytest.approx(expected, rel=1e-9)
        assert math.isfinite(state.budget_remaining)
