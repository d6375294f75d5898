"""Backoff maths and the circuit breaker, as properties and state changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given

from slo_engine.notify._breaker import CircuitBreaker, CircuitState
from slo_engine.notify.outbox import backoff_ceiling, backoff_delay
from tests.strategies import attempts, delays, unit_floats

T0 = datetime(2024, 5, 1, tzinfo=UTC)


@given(base=delays, cap=delays, attempt=attempts)
def test_backoff_ceiling_never_decreases_and_stays_under_cap(base, cap, attempt):
    now = backoff_ceiling(attempt, base, cap)
    later = backoff_ceiling(attempt + 1, base, cap)

    assert now <= later <= cap
    assert now == min(cap, base * 2 ** min(attempt - 1, 30))


@given(base=delays, cap=delays, attempt=attempts, pick=unit_floats)
def test_backoff_delay_full_jitter_is_within_bounds(base, cap, attempt, pick):
    delay = backoff_delay(attempt, base, cap, lambda: pick)

    assert timedelta() <= delay <= backoff_ceiling(attempt, base, cap)


def test_breaker_opens_at_threshold_and_allows_one_trial_after_cool_down():
    breaker = CircuitBreaker(threshold=2, cool_down=timedelta(seconds=10))

    first = breaker.record_failure(T0)
    second = breaker.record_failure(T0)
    blocked = breaker.allows(T0 + timedelta(seconds=9))
    trial = breaker.allows(T0 + timedelta(seconds=10))
    second_trial = breaker.allows(T0 + timedelta(seconds=10))

    assert (first, second) == (False, True)
    assert (blocked, trial, second_trial) == (False, True, False)


def test_breaker_trial_failure_reopens_and_success_closes():
    breaker = CircuitBreaker(threshold=1, cool_down=timedelta(seconds=10))
    breaker.record_failure(T0)
    breaker.allows(T0 + timedelta(seconds=10))

    reopened = breaker.record_failure(T0 + timedelta(seconds=10))
    state_after_failure = breaker.state(T0 + timedelta(seconds=15))
    breaker.allows(T0 + timedelta(seconds=20))
    closed = breaker.record_success()

    assert reopened
    assert state_after_failure is CircuitState.OPEN
    assert closed
    assert breaker.state(T0 + timedelta(seconds=20)) is CircuitState.CLOSED
