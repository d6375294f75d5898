"""SlackNotifier against a loopback server that answers like Slack's Web API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from slo_engine.notify import DeliveryError, Secret, SlackNotifier

from .conftest import resolved
from .servers import HangingServer, Reply, SlackServer

TOKEN = "xoxb-test-0000-secret-token"


@pytest.fixture
def slack():
    with SlackServer(TOKEN) as server:
        yield server


def notifier_for(
    server: SlackServer, token: str = TOKEN, **options: Any
) -> SlackNotifier:
    return SlackNotifier(
        "#slo-alerts",
        Secret(token),
        base_url=f"{server.url}/api/",
        timeout=timedelta(seconds=2),
        **options,
    )


def test_slack_firing_posts_message_with_reference(slack, notification, golden):
    delivery = notifier_for(slack).send(notification)

    assert delivery.get("ts") == "1700000000.000001"
    assert delivery.get("channel") == "C0SLO"
    assert [request.path for request in slack.requests] == ["/api/chat.postMessage"]
    golden("slack_firing", slack.requests[0].json())


def test_slack_resolve_updates_original_and_replies_in_thread(
    slack, notification, golden
):
    notifier = notifier_for(slack)
    firing = notifier.send(notification)

    notifier.send(resolved(notification, timedelta(minutes=40)), reply_to=firing)

    paths = [request.path for request in slack.requests]
    assert paths == [
        "/api/chat.postMessage",
        "/api/chat.update",
        "/api/chat.postMessage",
    ]
    update, reply = slack.requests[1].json(), slack.requests[2].json()
    assert update["ts"] == reply["thread_ts"] == firing.get("ts")
    assert "RESOLVED" in slack.messages[str(firing.get("ts"))]["text"]
    golden("slack_resolved_update", update)
    golden("slack_resolved_reply", reply)


def test_slack_resolve_without_firing_posts_new_message(slack, notification):
    notifier_for(slack).send(resolved(notification, timedelta(minutes=1)))

    assert [request.path for request in slack.requests] == ["/api/chat.postMessage"]


def test_slack_rate_limited_raises_retryable_with_retry_after(slack, notification):
    slack.fail_next(SlackServer.rate_limited(30))

    with pytest.raises(DeliveryError) as caught:
        notifier_for(slack).send(notification)

    assert caught.value.retryable
    assert caught.value.retry_after == timedelta(seconds=30)
    assert caught.value.target == "slack"
    assert caught.value.slo == notification.slo_id


def test_slack_invalid_auth_is_final_and_hides_token(slack, notification):
    with pytest.raises(DeliveryError) as caught:
        notifier_for(slack, token="xoxb-wrong-secret-token").send(notification)

    assert not caught.value.retryable
    assert "invalid_auth" in str(caught.value)
    assert "xoxb-wrong-secret-token" not in f"{caught.value!s} {caught.value!r}"
    assert caught.value.__cause__ is None


def test_slack_server_error_is_retryable(slack, notification):
    slack.fail_next(Reply(503, {"ok": False, "error": "service_unavailable"}))

    with pytest.raises(DeliveryError) as caught:
        notifier_for(slack).send(notification)

    assert caught.value.retryable


def test_slack_rate_limit_handler_opt_in_retries_in_client(slack, notification):
    slack.fail_next(SlackServer.rate_limited(0))
    handler = RateLimitErrorRetryHandler(max_retry_count=1)

    delivery = notifier_for(slack, retry_handlers=[handler]).send(notification)

    assert delivery.get("ts") is not None
    assert len(slack.requests) == 2


def test_slack_token_from_file_is_used(slack, notification, tmp_path):
    path = tmp_path / "slack-token"
    path.write_text(f"{TOKEN}\n")

    notifier = SlackNotifier(
        "#slo-alerts", Secret.from_file(path), base_url=f"{slack.url}/api/"
    )

    assert notifier.send(notification).get("ts") is not None


def test_slack_hanging_server_times_out_retryable(notification):
    with HangingServer() as hanging:
        notifier = SlackNotifier(
            "#slo-alerts",
            Secret(TOKEN),
            base_url=f"{hanging.url}/api/",
            timeout=timedelta(seconds=1),
        )
        with pytest.raises(DeliveryError) as caught:
            notifier.send(notification)

    assert caught.value.retryable
    assert TOKEN not in str(caught.value)
