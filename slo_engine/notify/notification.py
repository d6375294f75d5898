"""The notification value every channel receives, and what a channel sends back."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slo_engine.conventions import default_alert_name
from slo_engine.model import Labels, Severity

__all__ = ["Delivery", "Notification", "NotificationState", "format_instant"]


class NotificationState(enum.StrEnum):
    """Whether the budget is burning too fast now, or has stopped."""

    FIRING = "firing"
    RESOLVED = "resolved"


def format_instant(value: datetime) -> str:
    """An instant in UTC, ISO 8601 with a `Z`, as Alertmanager and PagerDuty expect."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Notification:
    """One page or ticket, firing or resolved, for one SLO incident.

    `error_budget_remaining` is a ratio of the SLO window's budget (1.0 is
    untouched, below 0 once overspent). `incident_started_at` is when the
    incident first fired; together with SLO and severity it makes the
    `dedup_key` that ties a resolve to its firing, across restarts.
    """

    slo_id: str
    service: str
    slo_name: str
    severity: Severity
    state: NotificationState
    burn_rate: float
    long_window: timedelta
    short_window: timedelta
    error_budget_remaining: float
    incident_started_at: datetime
    timestamp: datetime
    alert_name: str = ""
    runbook_url: str | None = None
    labels: Labels = ()

    def __post_init__(self) -> None:
        for name in ("incident_started_at", "timestamp"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        object.__setattr__(self, "labels", tuple(sorted(self.labels)))

    @property
    def dedup_key(self) -> str:
        """Stable per incident: the same SLO, severity and start give one key."""
        started = format_instant(self.incident_started_at)
        return f"{self.slo_id}/{self.severity}/{started}"

    @property
    def alertname(self) -> str:
        """The alert's name: `alert_name`, or the one the compiler derives."""
        return self.alert_name or default_alert_name(self.service, self.slo_name)

    @property
    def is_firing(self) -> bool:
        """True while the budget burns too fast."""
        return self.state is NotificationState.FIRING

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; `from_dict` reads it back to an equal value."""
        return {
            "slo_id": self.slo_id,
            "service": self.service,
            "slo_name": self.slo_name,
            "severity": str(self.severity),
            "state": str(self.state),
            "burn_rate": self.burn_rate,
            "long_window_seconds": self.long_window.total_seconds(),
            "short_window_seconds": self.short_window.total_seconds(),
            "error_budget_remaining": self.error_budget_remaining,
            "incident_started_at": self.incident_started_at.isoformat(),
            "timestamp": self.timestamp.isoformat(),
            "alert_name": self.alert_name,
            "runbook_url": self.runbook_url,
            "labels": [list(pair) for pair in self.labels],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        """The value `to_dict` wrote."""
        return cls(
            slo_id=data["slo_id"],
            service=data["service"],
            slo_name=data["slo_name"],
            severity=Severity(data["severity"]),
            state=NotificationState(data["state"]),
            burn_rate=data["burn_rate"],
            long_window=timedelta(seconds=data["long_window_seconds"]),
            short_window=timedelta(seconds=data["short_window_seconds"]),
            error_budget_remaining=data["error_budget_remaining"],
            incident_started_at=datetime.fromisoformat(data["incident_started_at"]),
            timestamp=datetime.fromisoformat(data["timestamp"]),
            alert_name=data["alert_name"],
            runbook_url=data["runbook_url"],
            labels=tuple((name, value) for name, value in data["labels"]),
        )


@dataclass(frozen=True)
class Delivery:
    """What a channel answered: enough to update the same message later.

    `reference` holds provider identifiers, e.g. Slack's `channel` and `ts`
    or PagerDuty's `dedup_key`; never a secret.
    """

    notifier: str
    reference: Labels = ()

    def get(self, key: str) -> str | None:
        """One provider identifier, or None when the channel gave none."""
        return dict(self.reference).get(key)
