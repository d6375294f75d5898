"""AlertmanagerNotifier against a real Alertmanager, and its payload on the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from slo_engine.notify import AlertmanagerNotifier

from .conftest import http_get_json, make_notification, resolved
from .servers import FakeServer


def test_alertmanager_payload_matches_golden(notification, golden):
    with FakeServer() as server:
        notifier = AlertmanagerNotifier(server.url)
        notifier.send(notification)
        notifier.send(resolved(notification, timedelta(minutes=40)))

    assert [request.path for request in server.requests] == ["/api/v2/alerts"] * 2
    golden("alertmanager_firing", server.requests[0].json())
    golden("alertmanager_resolved", server.requests[1].json())


def test_alertmanager_real_alert_is_visible_then_resolves(alertmanager):
    now = datetime.now(UTC).replace(microsecond=0)
    firing = make_notification(
        incident_started_at=now - timedelta(minutes=5), timestamp=now
    )
    notifier = AlertmanagerNotifier(alertmanager, timeout=timedelta(seconds=5))

    notifier.send(firing)
    active = _alerts_of(alertmanager, firing.slo_id)
    notifier.send(resolved(firing, timedelta()))
    remaining = _alerts_of(alertmanager, firing.slo_id)

    assert len(active) == 1
    assert active[0]["status"]["state"] == "active"
    assert active[0]["labels"]["alertname"] == "ChatLatencyBudgetBurn"
    assert active[0]["labels"]["severity"] == "page"
    assert active[0]["annotations"]["runbook_url"] == firing.runbook_url
    assert remaining == []


def _alerts_of(url: str, slo_id: str) -> list[dict[str, Any]]:
    alerts = http_get_json(f"{url}/api/v2/alerts?filter=slo_id%3D%22{slo_id}%22")
    return list(alerts)
