"""The daemon's durable state in one SQLite file: alerts, pending notices, cycles.

The outbox of `slo_engine.notify` keeps its own table in the same file.
Everything a restart must not forget is here, written with WAL and
`synchronous=FULL`: the alert state of every SLO and severity, the
notifications decided but not yet handed to the outbox, how many cycles
in a row could not evaluate, and a stamp per scheduled cycle.

A lock file next to the state file (`<state>.lock`, held with `flock`)
makes sure only one daemon uses a state file, so two replicas never page
twice for one incident.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slo_engine.daemon.alerts import AlertRecord, AlertStatus
from slo_engine.errors import DaemonError
from slo_engine.model import BurnRateWindow, Severity

__all__ = ["Pending", "StateLock", "StateStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    slo_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    incident_started_at REAL,
    notified_at REAL,
    reminders INTEGER NOT NULL DEFAULT 0,
    evaluated_at REAL,
    pair TEXT,
    PRIMARY KEY (slo_id, severity)
);
CREATE TABLE IF NOT EXISTS pending (
    key TEXT PRIMARY KEY,
    notice TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cycles (
    scheduled_at REAL PRIMARY KEY,
    finished_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    queries INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    notifications INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class StateLock:
    """An exclusive `flock` on `<state file>.lock`, held while the daemon runs.

    The kernel drops the lock when the process dies, even by SIGKILL, so a
    crashed daemon never blocks its replacement.
    """

    def __init__(self, state_file: Path) -> None:
        self.path = state_file.with_name(state_file.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or fail at once if another process holds it.

        Raises:
            DaemonError: another daemon holds the lock.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            message = (
                f"{self.path}: another slo daemon holds this state file's lock; "
                "run one daemon per state file"
            )
            raise DaemonError(message) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go; a no-op when not held."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class Pending:
    """A notification decided by a cycle and not yet handed to the outbox.

    `key` is unique per notice (the dedup key, the state and, for a
    reminder, its number), so deciding it twice stores it once.
    """

    key: str
    notice: dict[str, Any]


class StateStore:
    """Alert records, pending notices and cycle stamps in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # ---- alerts ---------------------------------------------------------------

    def alerts(self) -> dict[tuple[str, Severity], AlertRecord]:
        """Every stored alert record, by SLO id and severity."""
        rows = self._db.execute(
            "SELECT slo_id, severity, status, incident_started_at, notified_at,"
            " reminders, evaluated_at, pair FROM alerts"
        ).fetchall()
        records = [_record(row) for row in rows]
        return {(record.slo_id, record.severity): record for record in records}

    def save(self, records: Iterable[AlertRecord], pending: Iterable[Pending]) -> None:
        """Store changed records and the notices they decided, in one transaction."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO alerts (slo_id, severity, status,"
                " incident_started_at, notified_at, reminders, evaluated_at, pair)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(record) for record in records],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO pending (key, notice) VALUES (?, ?)",
                [(p.key, json.dumps(p.notice, sort_keys=True)) for p in pending],
            )

    def pending(self) -> list[Pending]:
        """Notices not yet handed to the outbox, oldest first."""
        rows = self._db.execute(
            "SELECT key, notice FROM pending ORDER BY rowid"
        ).fetchall()
        return [Pending(key, json.loads(notice)) for key, notice in rows]

    def handed_over(self, key: str) -> None:
        """Forget a pending notice: the outbox holds it now."""
        self._db.execute("DELETE FROM pending WHERE key = ?", (key,))

    # ---- cycles ---------------------------------------------------------------

    def failed_cycles(self) -> int:
        """How many cycles in a row could not evaluate the SLOs."""
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'failed_cycles'"
        ).fetchone()
        return int(row[0]) if row else 0

    def set_failed_cycles(self, count: int) -> None:
        """Store the count of failed cycles in a row."""
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('failed_cycles', ?)",
            (str(count),),
        )

    def stamp_cycle(
        self,
        scheduled_at: datetime,
        finished_at: datetime,
        outcome: str,
        counts: tuple[int, int, int],
    ) -> None:
        """Record one cycle: outcome, and counts of queries, unknown SLOs, notices."""
        self._db.execute(
            "INSERT OR REPLACE INTO cycles (scheduled_at, finished_at, outcome,"
            " queries, unknown, notifications) VALUES (?, ?, ?, ?, ?, ?)",
            (scheduled_at.timestamp(), finished_at.timestamp(), outcome, *counts),
        )

    def last_cycle(self) -> tuple[datetime, str] | None:
        """The latest cycle's scheduled time and outcome, if any ran."""
        row = self._db.execute(
            "SELECT scheduled_at, outcome FROM cycles"
            " ORDER BY scheduled_at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return datetime.fromtimestamp(row[0], UTC), str(row[1])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


def _row(record: AlertRecord) -> tuple[Any, ...]:
    pair = None
    if record.pair is not None:
        pair = json.dumps(
            [
                str(record.pair.severity),
                record.pair.long_window.total_seconds(),
                record.pair.short_window.total_seconds(),
                record.pair.burn_rate,
            ]
        )
    return (
        record.slo_id,
        str(record.severity),
        str(record.status),
        _epoch(record.incident_started_at),
        _epoch(record.notified_at),
        record.reminders,
        _epoch(record.evaluated_at),
        pair,
    )


def _record(row: tuple[Any, ...]) -> AlertRecord:
    pair = None
    if row[7] is not None:
        severity, long_s, short_s, burn = json.loads(row[7])
        pair = BurnRateWindow(
            Severity(severity),
            timedelta(seconds=long_s),
            timedelta(seconds=short_s),
            burn,
        )
    return AlertRecord(
        slo_id=row[0],
        severity=Severity(row[1]),
        status=AlertStatus(row[2]),
        incident_started_at=_instant(row[3]),
        notified_at=_instant(row[4]),
        reminders=row[5],
        evaluated_at=_instant(row[6]),
        pair=pair,
    )


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _instant(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
