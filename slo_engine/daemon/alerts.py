"""The alert state machine of one SLO and severity: inactive, firing, resolved.

A pure function of the stored record, the pairs that fire now and the
scheduled time, so that it is tested without a clock or a database::

    inactive/resolved --pairs fire--> firing   (page or ticket, once)
    firing --pairs still fire--> firing        (a reminder after the interval)
    firing --no pair fires--> resolved         (the resolve of that incident)

An SLO whose state is unknown makes no move at all: it is never resolved,
nor declared healthy, because Prometheus could not say.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from slo_engine.model import BurnRateWindow, Severity

__all__ = ["AlertRecord", "AlertStatus", "Change", "step"]


class AlertStatus(enum.StrEnum):
    """Where one SLO's page or ticket stands."""

    INACTIVE = "inactive"
    FIRING = "firing"
    RESOLVED = "resolved"


class Change(enum.StrEnum):
    """What a step asks to be told."""

    FIRED = "fired"
    REMINDED = "reminded"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertRecord:
    """The stored state of one SLO and severity.

    `evaluated_at` is the scheduled time of the last step applied: a step at
    or before it is a retried run and changes nothing. `pair` is the window
    pair that fired, kept so the resolve names it too.
    """

    slo_id: str
    severity: Severity
    status: AlertStatus = AlertStatus.INACTIVE
    incident_started_at: datetime | None = None
    notified_at: datetime | None = None
    reminders: int = 0
    evaluated_at: datetime | None = None
    pair: BurnRateWindow | None = None


def step(
    record: AlertRecord,
    firing: tuple[BurnRateWindow, ...],
    at: datetime,
    reminder_interval: timedelta | None = None,
) -> tuple[AlertRecord, Change | None]:
    """Apply one evaluation at scheduled time `at`; return the record and the change.

    `firing` holds this severity's pairs whose condition holds now; the
    first is the one reported (callers order them by burn rate).
    """
    if record.evaluated_at is not None and at <= record.evaluated_at:
        return record, None
    record = replace(record, evaluated_at=at)

    if record.status is not AlertStatus.FIRING:
        if not firing:
            return record, None
        fired = replace(
            record,
            status=AlertStatus.FIRING,
            incident_started_at=at,
            notified_at=at,
            reminders=0,
            pair=firing[0],
        )
        return fired, Change.FIRED

    if not firing:
        return replace(record, status=AlertStatus.RESOLVED), Change.RESOLVED
    if _reminder_due(record, at, reminder_interval):
        reminded = replace(record, notified_at=at, reminders=record.reminders + 1)
        return reminded, Change.REMINDED
    return record, None


def _reminder_due(
    record: AlertRecord, at: datetime, interval: timedelta | None
) -> bool:
    # Only tickets are reminded: a page is acknowledged in the pager itself.
    if interval is None or record.severity is not Severity.TICKET:
        return False
    return record.notified_at is not None and at - record.notified_at >= interval
