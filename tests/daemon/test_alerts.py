"""The alert state machine, step by step, with the scheduled time as the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slo_engine.daemon.alerts import AlertRecord, AlertStatus, Change, step
from slo_engine.model import BurnRateWindow, Severity

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PAGE_1H = BurnRateWindow(Severity.PAGE, timedelta(hours=1), timedelta(minutes=5), 14.4)
TICKET_1D = BurnRateWindow(Severity.TICKET, timedelta(days=1), timedelta(hours=2), 3)


def run(record, timeline, reminder=None):
    """Apply (minute, firing pairs) steps; return the final record and the changes."""
    changes = []
    for minute, firing in timeline:
        record, change = step(record, firing, T0 + minute * MINUTE, reminder)
        changes.append(change)
    return record, changes


def test_a_burn_fires_once_then_resolves_once_when_it_stops():
    record = AlertRecord("chat-availability", Severity.PAGE)
    timeline = [(0, ()), (1, (PAGE_1H,)), (2, (PAGE_1H,)), (3, (PAGE_1H,)), (4, ())]

    record, changes = run(record, timeline)

    assert changes == [None, Change.FIRED, None, None, Change.RESOLVED]
    assert record.status is AlertStatus.RESOLVED
    assert record.incident_started_at == T0 + MINUTE
    assert record.pair == PAGE_1H


def test_a_new_burn_after_a_resolve_is_a_new_incident():
    record = AlertRecord("chat-availability", Severity.PAGE)
    timeline = [(1, (PAGE_1H,)), (2, ()), (3, (PAGE_1H,))]

    record, changes = run(record, timeline)

    assert changes == [Change.FIRED, Change.RESOLVED, Change.FIRED]
    assert record.incident_started_at == T0 + 3 * MINUTE


def test_a_retried_run_of_the_same_scheduled_time_changes_nothing():
    record = AlertRecord("chat-availability", Severity.PAGE)
    fired, change = step(record, (PAGE_1H,), T0, None)

    again, repeated = step(fired, (PAGE_1H,), T0, None)
    stale, late = step(fired, (), T0 - MINUTE, None)

    assert change is Change.FIRED
    assert (again, repeated) == (fired, None)
    assert (stale, late) == (fired, None)


def test_an_open_ticket_is_reminded_after_the_interval_and_not_before():
    record = AlertRecord("chat-availability", Severity.TICKET)
    timeline = [(0, (TICKET_1D,)), (59, (TICKET_1D,)), (60, (TICKET_1D,))]
    timeline += [(119, (TICKET_1D,)), (120, (TICKET_1D,))]

    record, changes = run(record, timeline, reminder=timedelta(hours=1))

    assert changes == [Change.FIRED, None, Change.REMINDED, None, Change.REMINDED]
    assert record.reminders == 2
    assert record.incident_started_at == T0


def test_pages_are_not_reminded():
    record = AlertRecord("chat-availability", Severity.PAGE)
    timeline = [(0, (PAGE_1H,)), (600, (PAGE_1H,))]

    _, changes = run(record, timeline, reminder=timedelta(hours=1))

    assert changes == [Change.FIRED, None]
