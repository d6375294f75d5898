"""The outbox: durable, retried, ordered, and delivered once per incident."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from slo_engine.errors import NotifyError
from slo_engine.notify import (
    Delivery,
    Notification,
    Notifier,
    Outbox,
    PagerDutyNotifier,
    RetryPolicy,
    Secret,
    SlackNotifier,
)

from .conftest import FIRED, make_notification, resolved
from .servers import PagerDutyServer, Reply, SlackServer

ROUTING_KEY = "R0UT1NGKEY-outbox-secret-000000"
POLICY = RetryPolicy(
    base_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=8),
    max_attempts=6,
    max_age=timedelta(hours=1),
    breaker_threshold=3,
    breaker_cool_down=timedelta(seconds=60),
    claim_lease=timedelta(seconds=30),
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = FIRED

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


class ProcessKilled(BaseException):
    """Stands for the process dying: nothing in the outbox may catch it."""


class DyingNotifier:
    """Wraps a notifier and dies before (or after) the channel takes the message."""

    def __init__(self, inner: Notifier, *, after_send: bool = False) -> None:
        self.inner = inner
        self.after_send = after_send
        self.name = inner.name

    def send(
        self, notification: Notification, *, reply_to: Delivery | None = None
    ) -> Delivery:
        if self.after_send:
            self.inner.send(notification, reply_to=reply_to)
        raise ProcessKilled


@pytest.fixture
def pagerduty():
    with PagerDutyServer(ROUTING_KEY) as server:
        yield server


@pytest.fixture
def clock():
    return Clock()


def pagerduty_notifier(
    server: PagerDutyServer, key: str = ROUTING_KEY
) -> PagerDutyNotifier:
    return PagerDutyNotifier(
        Secret(key), base_url=server.url, timeout=timedelta(seconds=2)
    )


def outbox_for(
    path: Path,
    notifier: Notifier,
    clock: Clock,
    policy: RetryPolicy = POLICY,
    rand: Callable[[], float] = lambda: 0.5,
) -> Outbox:
    return Outbox(path / "outbox.db", [notifier], policy=policy, clock=clock, rand=rand)


def deliver_for(outbox: Outbox, clock: Clock, passes: int, step: timedelta) -> None:
    for _ in range(passes):
        outbox.deliver_due(clock.advance(step))


def test_outbox_same_incident_enqueued_twice_is_one_row(tmp_path, pagerduty, clock):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    notification = make_notification()

    first = outbox.enqueue(notification, "pagerduty")
    second = outbox.enqueue(make_notification(burn_rate=20.0), "pagerduty")

    assert (first, second) == (True, False)
    assert outbox.depth() == 1


def test_outbox_receiver_fails_then_recovers_delivers_exactly_once(
    tmp_path, pagerduty, clock
):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    notification = make_notification()
    outbox.enqueue(notification, "pagerduty")
    pagerduty.fail_next(Reply(500), Reply(502), Reply(503))

    deliver_for(outbox, clock, passes=10, step=timedelta(seconds=10))

    assert len(pagerduty.requests) == 4
    assert pagerduty.triggers == {notification.dedup_key: 1}
    assert outbox.status(notification, "pagerduty") == "sent"
    assert outbox.depth() == 0


def test_outbox_sent_message_is_never_sent_again(tmp_path, pagerduty, clock):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    notification = make_notification()
    outbox.enqueue(notification, "pagerduty")
    outbox.deliver_due()

    again = outbox.enqueue(notification, "pagerduty")
    deliver_for(outbox, clock, passes=3, step=timedelta(hours=1))

    assert again is False
    assert len(pagerduty.requests) == 1


def test_outbox_retry_after_delays_next_attempt(tmp_path, pagerduty, clock):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock, rand=lambda: 0)
    outbox.enqueue(make_notification(), "pagerduty")
    pagerduty.fail_next(Reply(429, {"status": "throttled"}, {"Retry-After": "30"}))
    start = clock.now

    first = outbox.deliver_due(start)
    early = outbox.deliver_due(start + timedelta(seconds=29))
    on_time = outbox.deliver_due(start + timedelta(seconds=30))

    assert (first.retried, early.sent, on_time.sent) == (1, 0, 1)
    assert len(pagerduty.requests) == 2


def test_outbox_circuit_opens_after_failures_and_closes_after_cool_down(
    tmp_path, pagerduty, clock
):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock, rand=lambda: 0)
    for minute in range(5):
        started = FIRED - timedelta(minutes=minute)
        outbox.enqueue(make_notification(incident_started_at=started), "pagerduty")
    pagerduty.fail_next(*[Reply(500)] * 3)

    with capture_logs() as logs:
        opened = outbox.deliver_due(clock.now)
        still_open = outbox.deliver_due(clock.advance(timedelta(seconds=59)))
        closed = outbox.deliver_due(clock.advance(timedelta(seconds=1)))

    assert (opened.retried, opened.deferred) == (3, 2)
    assert still_open.deferred == 5
    assert closed.sent == 5
    assert len(pagerduty.requests) == 8
    events = [entry["event"] for entry in logs]
    assert events.count("circuit_opened") == 1
    assert events.count("circuit_closed") == 1


def test_outbox_half_open_trial_failure_reopens_circuit(tmp_path, pagerduty, clock):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock, rand=lambda: 0)
    for minute in range(3):
        started = FIRED - timedelta(minutes=minute)
        outbox.enqueue(make_notification(incident_started_at=started), "pagerduty")
    pagerduty.fail_next(*[Reply(500)] * 4)
    outbox.deliver_due(clock.now)

    trial = outbox.deliver_due(clock.advance(timedelta(seconds=60)))
    reopened = outbox.deliver_due(clock.advance(timedelta(seconds=30)))

    assert (trial.retried, trial.deferred) == (1, 2)
    assert (reopened.sent, reopened.deferred) == (0, 3)
    assert len(pagerduty.requests) == 4


def test_outbox_crash_after_claim_delivers_once_after_restart(
    tmp_path, pagerduty, clock
):
    notification = make_notification()
    dying = DyingNotifier(pagerduty_notifier(pagerduty))
    crashed = outbox_for(tmp_path, dying, clock)
    crashed.enqueue(notification, "pagerduty")
    with pytest.raises(ProcessKilled):
        crashed.deliver_due()

    restarted = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    within_lease = restarted.deliver_due(clock.advance(timedelta(seconds=29)))
    deliver_for(restarted, clock, passes=3, step=timedelta(seconds=30))

    assert restarted.status(notification, "pagerduty") == "sent"
    assert within_lease.sent == 0
    assert len(pagerduty.requests) == 1
    assert pagerduty.triggers == {notification.dedup_key: 1}


def test_outbox_crash_after_send_is_folded_into_one_incident(
    tmp_path, pagerduty, clock
):
    notification = make_notification()
    dying = DyingNotifier(pagerduty_notifier(pagerduty), after_send=True)
    crashed = outbox_for(tmp_path, dying, clock)
    crashed.enqueue(notification, "pagerduty")
    with pytest.raises(ProcessKilled):
        crashed.deliver_due()

    restarted = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    deliver_for(restarted, clock, passes=3, step=timedelta(seconds=30))

    assert pagerduty.triggers == {notification.dedup_key: 2}
    assert list(pagerduty.incidents) == [notification.dedup_key]
    assert restarted.status(notification, "pagerduty") == "sent"


def test_outbox_max_attempts_reached_fails_and_logs_error_once(
    tmp_path, pagerduty, clock
):
    policy = RetryPolicy(base_delay=timedelta(seconds=1), max_attempts=3)
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock, policy)
    notification = make_notification()
    outbox.enqueue(notification, "pagerduty")
    pagerduty.fail_next(*[Reply(500)] * 10)

    with capture_logs() as logs:
        deliver_for(outbox, clock, passes=8, step=timedelta(seconds=5))

    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert [entry["event"] for entry in errors] == ["notification_failed"]
    assert errors[0]["attempts"] == 3
    assert len(pagerduty.requests) == 3
    assert outbox.status(notification, "pagerduty") == "failed"
    assert outbox.depth() == 0


def test_outbox_too_old_is_failed_without_sending(tmp_path, pagerduty, clock):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    notification = make_notification()
    outbox.enqueue(notification, "pagerduty")

    report = outbox.deliver_due(clock.advance(POLICY.max_age + timedelta(seconds=1)))

    assert report.failed == 1
    assert pagerduty.requests == []
    assert outbox.status(notification, "pagerduty") == "failed"


def test_outbox_final_error_fails_at_first_attempt(tmp_path, pagerduty, clock):
    wrong = pagerduty_notifier(pagerduty, key="WRONG-routing-key-secret")
    outbox = outbox_for(tmp_path, wrong, clock)
    outbox.enqueue(make_notification(), "pagerduty")

    report = outbox.deliver_due()

    assert report.failed == 1
    assert "WRONG-routing-key-secret" not in " ".join(report.details)
    assert len(pagerduty.requests) == 1


def test_outbox_resolve_waits_for_firing_then_updates_it(tmp_path, clock):
    with SlackServer("xoxb-outbox-token") as slack:
        notifier = SlackNotifier(
            "#slo", Secret("xoxb-outbox-token"), base_url=f"{slack.url}/api/"
        )
        outbox = outbox_for(tmp_path, notifier, clock, rand=lambda: 0)
        firing = make_notification()
        outbox.enqueue(firing, "slack")
        outbox.enqueue(resolved(firing, timedelta(minutes=1)), "slack")
        slack.fail_next(SlackServer.rate_limited(10))

        waiting = outbox.deliver_due(clock.now)
        done = outbox.deliver_due(clock.advance(timedelta(seconds=10)))

    assert (waiting.retried, waiting.deferred) == (1, 1)
    assert done.sent == 2
    paths = [request.path for request in slack.requests[1:]]
    assert paths == [
        "/api/chat.postMessage",
        "/api/chat.update",
        "/api/chat.postMessage",
    ]
    assert slack.requests[2].json()["ts"] == "1700000000.000001"


def test_outbox_unknown_notifier_is_rejected(tmp_path, pagerduty, clock):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)

    with pytest.raises(NotifyError) as caught:
        outbox.enqueue(make_notification(), "opsgenie")

    assert caught.value.target == "opsgenie"


def test_outbox_depth_counts_undelivered_per_notifier(tmp_path, pagerduty, clock):
    outbox = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    for minute in range(3):
        started = FIRED - timedelta(minutes=minute)
        outbox.enqueue(make_notification(incident_started_at=started), "pagerduty")

    assert outbox.depth() == outbox.depth("pagerduty") == 3
    assert outbox.depth("slack") == 0


def test_outbox_survives_reopen_with_pending_rows(tmp_path, pagerduty, clock):
    first = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)
    first.enqueue(make_notification(), "pagerduty")
    first.close()

    second = outbox_for(tmp_path, pagerduty_notifier(pagerduty), clock)

    assert second.depth() == 1
    assert second.deliver_due().sent == 1
