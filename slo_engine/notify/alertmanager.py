"""Pages and tickets as alerts pushed to an Alertmanager (API v2)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from slo_engine.conventions import (
    LABEL_SEVERITY,
    LABEL_SLO_ID,
    LABEL_SLO_NAME,
    LABEL_SLO_SERVICE,
)
from slo_engine.durations import format_duration
from slo_engine.notify._http import post_json
from slo_engine.notify.notification import Delivery, Notification, format_instant
from slo_engine.notify.render import MessageRenderer

__all__ = ["AlertmanagerNotifier"]


class AlertmanagerNotifier:
    """Posts the notification as an alert; a resolve posts it again with `endsAt`.

    Alertmanager identifies an alert by its labels, so the labels are only
    those that stay the same for the whole incident: `alertname`, the SLO
    labels, `severity` and the notification's own labels. Which window pair
    fired, the burn rate and the budget left go into annotations, because
    they may differ between the firing and the resolve. Posting the same
    alert twice is harmless, which makes redelivery idempotent.

    Limitations:
        A firing alert is posted once, with `endsAt` set `firing_ttl` after
        the notification (24 h by default): Alertmanager resolves it by
        itself after that unless it is posted again. No authentication is
        sent; put Alertmanager behind a local proxy if it needs one.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "alertmanager",
        timeout: timedelta = timedelta(seconds=10),
        firing_ttl: timedelta = timedelta(hours=24),
        renderer: MessageRenderer | None = None,
    ) -> None:
        self._name = name
        self._url = base_url.rstrip("/") + "/api/v2/alerts"
        self._timeout = timeout
        self._firing_ttl = firing_ttl
        self._renderer = renderer or MessageRenderer()

    @property
    def name(self) -> str:
        """This channel's name in the outbox."""
        return self._name

    def send(
        self, notification: Notification, *, reply_to: Delivery | None = None
    ) -> Delivery:
        """Post the alert, firing or resolved."""
        body = json.dumps(self.alerts(notification), sort_keys=True).encode()
        post_json(
            self._url,
            body,
            target=self._name,
            slo=notification.slo_id,
            timeout=self._timeout,
        )
        return Delivery(self._name)

    def alerts(self, notification: Notification) -> list[dict[str, Any]]:
        """The API v2 body: a list holding the one alert."""
        ends_at = notification.timestamp
        if notification.is_firing:
            ends_at += self._firing_ttl
        alert = {
            "labels": self._labels(notification),
            "annotations": self._annotations(notification),
            "startsAt": format_instant(notification.incident_started_at),
            "endsAt": format_instant(ends_at),
        }
        return [alert]

    def _labels(self, notification: Notification) -> dict[str, str]:
        return {
            **dict(notification.labels),
            "alertname": notification.alertname,
            LABEL_SLO_ID: notification.slo_id,
            LABEL_SLO_SERVICE: notification.service,
            LABEL_SLO_NAME: notification.slo_name,
            LABEL_SEVERITY: str(notification.severity),
        }

    def _annotations(self, notification: Notification) -> dict[str, str]:
        annotations = {
            "summary": self._renderer.render("summary", notification),
            "description": self._renderer.render("description", notification),
            "burn_rate": f"{notification.burn_rate:g}",
            "long_window": format_duration(notification.long_window),
            "short_window": format_duration(notification.short_window),
            "error_budget_remaining": f"{notification.error_budget_remaining:g}",
        }
        if notification.runbook_url:
            annotations["runbook_url"] = notification.runbook_url
        return annotations
