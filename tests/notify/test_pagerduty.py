"""PagerDutyNotifier against a loopback Events API v2."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slo_engine.notify import DeliveryError, PagerDutyNotifier, Secret

from .conftest import resolved
from .servers import HangingServer, PagerDutyServer, Reply

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


@pytest.fixture
def pagerduty():
    with PagerDutyServer(ROUTING_KEY) as server:
        yield server


def notifier_for(url: str, key: str = ROUTING_KEY) -> PagerDutyNotifier:
    return PagerDutyNotifier(Secret(key), base_url=url, timeout=timedelta(seconds=1))


def test_pagerduty_trigger_then_resolve_closes_one_incident(
    pagerduty, notification, golden
):
    notifier = notifier_for(pagerduty.url)

    firing = notifier.send(notification)
    notifier.send(resolved(notification, timedelta(minutes=40)), reply_to=firing)

    assert firing.get("dedup_key") == notification.dedup_key
    assert pagerduty.incidents == {notification.dedup_key: "resolved"}
    golden("pagerduty_trigger", pagerduty.requests[0].json())
    golden("pagerduty_resolve", pagerduty.requests[1].json())


def test_pagerduty_rate_limited_is_retryable_with_retry_after(pagerduty, notification):
    pagerduty.fail_next(Reply(429, {"status": "throttled"}, {"Retry-After": "12"}))

    with pytest.raises(DeliveryError) as caught:
        notifier_for(pagerduty.url).send(notification)

    assert caught.value.retryable
    assert caught.value.retry_after == timedelta(seconds=12)


def test_pagerduty_server_error_is_retryable(pagerduty, notification):
    pagerduty.fail_next(Reply(500, {"status": "error"}))

    with pytest.raises(DeliveryError) as caught:
        notifier_for(pagerduty.url).send(notification)

    assert caught.value.retryable
    assert caught.value.retry_after is None


def test_pagerduty_wrong_routing_key_is_final_and_hidden(pagerduty, notification):
    with pytest.raises(DeliveryError) as caught:
        notifier_for(pagerduty.url, key="WRONG-secret-routing-key").send(notification)

    assert not caught.value.retryable
    assert "400" in str(caught.value)
    assert "WRONG-secret-routing-key" not in f"{caught.value!s} {caught.value!r}"


def test_pagerduty_hanging_server_times_out_retryable(notification):
    with HangingServer() as hanging, pytest.raises(DeliveryError) as caught:
        notifier_for(hanging.url).send(notification)

    assert caught.value.retryable
    assert "no answer within 1s" in str(caught.value)


def test_pagerduty_refused_connection_is_retryable(notification):
    with PagerDutyServer(ROUTING_KEY) as gone:
        url = gone.url

    with pytest.raises(DeliveryError) as caught:
        notifier_for(url).send(notification)

    assert caught.value.retryable
