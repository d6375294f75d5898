"""Pages and tickets as signed JSON posts to any HTTP endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slo_engine.durations import format_duration
from slo_engine.notify._http import post_json
from slo_engine.notify.credentials import Secret
from slo_engine.notify.notification import Delivery, Notification, format_instant
from slo_engine.notify.render import MessageRenderer

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookNotifier",
    "sign",
]

SIGNATURE_HEADER = "X-Slo-Engine-Signature"
TIMESTAMP_HEADER = "X-Slo-Engine-Timestamp"
DELIVERY_HEADER = "X-Slo-Engine-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 over `<timestamp>.<body>`.

    Signing the timestamp with the body lets a receiver reject replays of an
    old, validly signed request.
    """
    message = timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookNotifier:
    """Posts each notification as JSON, signed when a secret is given.

    The `X-Slo-Engine-Delivery` header is `<dedup_key>/<state>`, the same on
    every redelivery, so a receiver can drop duplicates. `url` may be a
    `Secret` when it embeds a token; it never appears in logs or errors.
    """

    def __init__(
        self,
        url: str | Secret,
        *,
        secret: Secret | None = None,
        name: str = "webhook",
        timeout: timedelta = timedelta(seconds=10),
        renderer: MessageRenderer | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._name = name
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._renderer = renderer or MessageRenderer()
        self._clock = clock or _utc_now

    @property
    def name(self) -> str:
        """This channel's name in the outbox."""
        return self._name

    def send(
        self, notification: Notification, *, reply_to: Delivery | None = None
    ) -> Delivery:
        """Post the notification; any 2xx answer counts as delivered."""
        body = json.dumps(self.body(notification), sort_keys=True).encode()
        answer = post_json(
            self._url,
            body,
            target=self._name,
            slo=notification.slo_id,
            timeout=self._timeout,
            headers=self._headers(notification, body),
            secrets=(self._secret,) if self._secret else (),
        )
        return Delivery(self._name, (("status", str(answer.status)),))

    def body(self, notification: Notification) -> dict[str, Any]:
        """The JSON document posted for `notification`."""
        return {
            "version": "slo-engine/v1",
            "dedup_key": notification.dedup_key,
            "state": str(notification.state),
            "severity": str(notification.severity),
            "alertname": notification.alertname,
            "slo_id": notification.slo_id,
            "service": notification.service,
            "slo_name": notification.slo_name,
            "burn_rate": notification.burn_rate,
            "long_window": format_duration(notification.long_window),
            "short_window": format_duration(notification.short_window),
            "error_budget_remaining": notification.error_budget_remaining,
            "incident_started_at": format_instant(notification.incident_started_at),
            "timestamp": format_instant(notification.timestamp),
            "runbook_url": notification.runbook_url,
            "labels": dict(notification.labels),
            "summary": self._renderer.render("summary", notification),
        }

    def _headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        headers = {DELIVERY_HEADER: f"{notification.dedup_key}/{notification.state}"}
        if self._secret is not None:
            timestamp = str(int(self._clock().timestamp()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self._secret.reveal(), timestamp, body)
        return headers


def _utc_now() -> datetime:
    return datetime.now(UTC)
