"""Build the notifications the alert state machine decides, and store them as JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slo_engine import conventions as names
from slo_engine.daemon.alerts import AlertRecord, Change
from slo_engine.daemon.state import Pending
from slo_engine.evaluate.prometheus import BudgetState
from slo_engine.model import SLO, BurnRateWindow, Severity
from slo_engine.notify import Notification, NotificationState

__all__ = [
    "EVALUATION_ID",
    "Reminder",
    "evaluation_notice",
    "evaluation_pair",
    "pending",
    "restore",
    "slo_notice",
]

# The daemon's own ticket when Prometheus cannot be queried for many cycles.
EVALUATION_SERVICE = "slo-engine"
EVALUATION_NAME = "evaluation"
EVALUATION_ID = f"{EVALUATION_SERVICE}-{EVALUATION_NAME}"
EVALUATION_ALERT = "SloEngineCannotEvaluate"
EVALUATION_LABEL = (names.LABEL_ENGINE_ALERT, names.ENGINE_CANNOT_EVALUATE)


@dataclass(frozen=True)
class Reminder(Notification):
    """A firing ticket told again; its outbox key carries the reminder's number.

    The outbox keeps one row per dedup key and state, so a reminder needs a
    key of its own there. The notification that reaches the channel is the
    plain one, with the incident's dedup key, so PagerDuty folds it into
    the open incident.
    """

    number: int = 0

    @property
    def dedup_key(self) -> str:
        """The incident's key plus `/reminder-<number>`."""
        return f"{super().dedup_key}/reminder-{self.number}"


def slo_notice(
    slo: SLO, state: BudgetState, record: AlertRecord, change: Change
) -> Notification:
    """The page or ticket for `slo` after the state machine decided `change`."""
    pair = record.pair or _fallback_pair(record.severity)
    target = slo.alerting.target(record.severity)
    annotations = {**dict(slo.alerting.annotations), **dict(target.annotations)}
    labels = {**dict(slo.labels), **dict(slo.alerting.labels), **dict(target.labels)}
    labels.pop("severity", None)
    started = record.incident_started_at or state.at
    fields: dict[str, Any] = {
        "slo_id": slo.slo_id,
        "service": slo.service,
        "slo_name": slo.name,
        "severity": record.severity,
        "state": _state_of(change),
        "burn_rate": _finite(state.burn_rate(pair.long_window), 0.0),
        "long_window": pair.long_window,
        "short_window": pair.short_window,
        "error_budget_remaining": _finite(state.budget_remaining, 1.0),
        "incident_started_at": started,
        "timestamp": state.at,
        "alert_name": slo.alerting.name,
        "runbook_url": annotations.get("runbook_url"),
        "labels": tuple(labels.items()),
    }
    if change is Change.REMINDED:
        return Reminder(**fields, number=record.reminders)
    return Notification(**fields)


def evaluation_pair(interval: timedelta, cycles: int) -> BurnRateWindow:
    """The 'window pair' of the cannot-evaluate ticket: how long it has lasted."""
    return BurnRateWindow(Severity.TICKET, interval * max(cycles, 1), interval, 0.0)


def evaluation_notice(
    record: AlertRecord, change: Change, at: datetime
) -> Notification:
    """The ticket saying the daemon cannot evaluate SLOs, or that it can again."""
    pair = record.pair or _fallback_pair(Severity.TICKET)
    fields: dict[str, Any] = {
        "slo_id": EVALUATION_ID,
        "service": EVALUATION_SERVICE,
        "slo_name": EVALUATION_NAME,
        "severity": Severity.TICKET,
        "state": _state_of(change),
        "burn_rate": 0.0,
        "long_window": pair.long_window,
        "short_window": pair.short_window,
        "error_budget_remaining": 1.0,
        "incident_started_at": record.incident_started_at or at,
        "timestamp": at,
        "alert_name": EVALUATION_ALERT,
        "labels": (EVALUATION_LABEL,),
    }
    if change is Change.REMINDED:
        return Reminder(**fields, number=record.reminders)
    return Notification(**fields)


def pending(notification: Notification) -> Pending:
    """The notice as the state store keeps it until the outbox has it."""
    number = notification.number if isinstance(notification, Reminder) else None
    key = f"{notification.dedup_key}/{notification.state}"
    return Pending(key, {"notification": notification.to_dict(), "reminder": number})


def restore(notice: dict[str, Any]) -> Notification:
    """The notification a `Pending` notice holds."""
    notification = Notification.from_dict(notice["notification"])
    if notice.get("reminder") is None:
        return notification
    fields = {name: getattr(notification, name) for name in _FIELDS}
    return Reminder(**fields, number=int(notice["reminder"]))


_FIELDS = tuple(Notification.__dataclass_fields__)


def _state_of(change: Change) -> NotificationState:
    if change is Change.RESOLVED:
        return NotificationState.RESOLVED
    return NotificationState.FIRING


def _fallback_pair(severity: Severity) -> BurnRateWindow:
    return BurnRateWindow(severity, timedelta(hours=1), timedelta(minutes=5), 0.0)


def _finite(value: float, default: float) -> float:
    # JSON and the channels have no NaN: no events in a window means no burn.
    return value if math.isfinite(value) else default
