"""Pages and tickets as PagerDuty incidents, through the Events API v2."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from slo_engine.durations import format_duration
from slo_engine.model import Severity
from slo_engine.notify._http import post_json
from slo_engine.notify.credentials import Secret
from slo_engine.notify.notification import Delivery, Notification, format_instant
from slo_engine.notify.render import MessageRenderer

__all__ = ["PagerDutyNotifier"]

# PagerDuty's own severities: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
_PD_SEVERITY = {Severity.PAGE: "critical", Severity.TICKET: "warning"}
_SUMMARY_LIMIT = 1024


class PagerDutyNotifier:
    """Triggers an incident when an SLO fires and resolves it when it stops.

    Every event carries the notification's `dedup_key`, so PagerDuty folds a
    repeated trigger into the open incident: redelivery after a crash is
    harmless. The routing key comes from a `Secret` and is sent only in the
    request body.
    """

    def __init__(
        self,
        routing_key: Secret,
        *,
        name: str = "pagerduty",
        base_url: str = "https://events.pagerduty.com",
        timeout: timedelta = timedelta(seconds=10),
        renderer: MessageRenderer | None = None,
    ) -> None:
        self._name = name
        self._routing_key = routing_key
        self._url = base_url.rstrip("/") + "/v2/enqueue"
        self._timeout = timeout
        self._renderer = renderer or MessageRenderer()

    @property
    def name(self) -> str:
        """This channel's name in the outbox."""
        return self._name

    def send(
        self, notification: Notification, *, reply_to: Delivery | None = None
    ) -> Delivery:
        """Enqueue a trigger or a resolve event for the incident."""
        payload = json.dumps(self.event(notification), sort_keys=True)
        answer = post_json(
            self._url,
            payload.encode(),
            target=self._name,
            slo=notification.slo_id,
            timeout=self._timeout,
            secrets=(self._routing_key,),
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        dedup_key = str(body.get("dedup_key") or notification.dedup_key)
        return Delivery(self._name, (("dedup_key", dedup_key),))

    def event(self, notification: Notification) -> dict[str, Any]:
        """The Events API v2 body for `notification`."""
        event: dict[str, Any] = {
            "routing_key": self._routing_key.reveal(),
            "dedup_key": notification.dedup_key,
        }
        if not notification.is_firing:
            return {**event, "event_action": "resolve"}

        summary = self._renderer.render("summary", notification)[:_SUMMARY_LIMIT]
        event["event_action"] = "trigger"
        event["client"] = "slo-engine"
        event["payload"] = {
            "summary": summary,
            "severity": _PD_SEVERITY[notification.severity],
            "source": notification.service,
            "component": notification.slo_name,
            "class": "slo_burn_rate",
            "timestamp": format_instant(notification.timestamp),
            "custom_details": _details(notification),
        }
        if notification.runbook_url:
            event["links"] = [{"href": notification.runbook_url, "text": "Runbook"}]
        return event


def _details(notification: Notification) -> dict[str, Any]:
    return {
        "slo_id": notification.slo_id,
        "burn_rate": notification.burn_rate,
        "long_window": format_duration(notification.long_window),
        "short_window": format_duration(notification.short_window),
        "error_budget_remaining": notification.error_budget_remaining,
        "incident_started_at": format_instant(notification.incident_started_at),
        "labels": dict(notification.labels),
    }
