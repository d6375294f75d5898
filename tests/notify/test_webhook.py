"""WebhookNotifier against a loopback receiver that checks the HMAC signature."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slo_engine.notify import DeliveryError, Secret, WebhookNotifier
from slo_engine.notify.webhook import DELIVERY_HEADER, TIMESTAMP_HEADER

from .conftest import FIRED, resolved
from .servers import HangingServer, WebhookReceiver

SECRET = "whsec-test-signing-secret"


def notifier_for(url: str, secret: str | None = SECRET) -> WebhookNotifier:
    return WebhookNotifier(
        url,
        secret=Secret(secret) if secret else None,
        timeout=timedelta(seconds=1),
        clock=lambda: FIRED,
    )


def test_webhook_signed_post_is_accepted(notification, golden):
    with WebhookReceiver(SECRET) as receiver:
        notifier_for(f"{receiver.url}/hooks/slo").send(notification)

    (request,) = receiver.accepted
    assert request.headers[TIMESTAMP_HEADER.lower()] == str(int(FIRED.timestamp()))
    assert request.headers[DELIVERY_HEADER.lower()] == (
        f"{notification.dedup_key}/firing"
    )
    golden("webhook_firing", request.json())


def test_webhook_resolve_body_matches_golden(notification, golden):
    with WebhookReceiver(SECRET) as receiver:
        notifier_for(receiver.url).send(resolved(notification, timedelta(minutes=40)))

    golden("webhook_resolved", receiver.accepted[0].json())


def test_webhook_wrong_secret_is_rejected_final(notification):
    with WebhookReceiver(SECRET) as receiver, pytest.raises(DeliveryError) as caught:
        notifier_for(receiver.url, secret="whsec-wrong").send(notification)

    assert not caught.value.retryable
    assert receiver.accepted == []


def test_webhook_unsigned_when_no_secret(notification):
    with WebhookReceiver() as receiver:
        notifier_for(receiver.url, secret=None).send(notification)

    assert TIMESTAMP_HEADER.lower() not in receiver.accepted[0].headers


def test_webhook_url_with_token_never_in_error(notification):
    with HangingServer() as hanging:
        url = Secret(f"{hanging.url}/hooks/T000/B000/tokenPART")
        notifier = WebhookNotifier(url, timeout=timedelta(seconds=1))
        with pytest.raises(DeliveryError) as caught:
            notifier.send(notification)

    assert caught.value.retryable
    assert "tokenPART" not in f"{caught.value!s} {caught.value!r}"
