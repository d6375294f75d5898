"""A durable SQLite outbox between the alert policy and the notifiers.

Every notification is written here before any channel sees it, and leaves
only once a channel took it or the outbox gave up on it.

Row lifecycle (column `status`)::

    enqueue --> pending --claim--> claimed --send ok--> sent     (final)
                  ^                   |  \\--gave up--> failed   (final)
                  +----retry later----+
                  +--claim lease expired (the sender died)--+

"Exactly once" rests on these facts, and on nothing kept in memory:

- `enqueue` commits (WAL, `synchronous=FULL`) before it returns, and the
  unique key (dedup key, state, notifier) turns a second enqueue into a no-op.
- A claim is one conditional `UPDATE`: only one outbox can hold a live claim.
- `sent` and `failed` are final, and are written only by the claim's holder.
- A process killed after claiming leaves the row `claimed`; once the claim
  lease expires, any outbox on the same file claims and sends it again.

Limitations:
    If the process dies after a channel took a message but before `sent` was
    written, the message goes out again. PagerDuty (same `dedup_key`) and
    Alertmanager (same labels) fold it into the same incident, a webhook
    receiver can drop it by its delivery header, and a Slack resolve is an
    update; but a Slack firing message, or a thread reply, appears twice.
    A send that outlasts the claim lease can also be repeated, so keep
    notifier timeouts well below it. Circuit breakers live in memory: a
    restart closes them, and the first delivery probes the channel again.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from slo_engine.errors import NotifyError
from slo_engine.notify._breaker import CircuitBreaker
from slo_engine.notify.notification import Delivery, Notification, NotificationState
from slo_engine.notify.notifier import DeliveryError, Notifier

__all__ = [
    "DeliveryReport",
    "Outbox",
    "RetryPolicy",
    "backoff_ceiling",
    "backoff_delay",
]

_log = structlog.get_logger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    state TEXT NOT NULL,
    notifier TEXT NOT NULL,
    notification TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    claimed_at REAL,
    claim_token TEXT,
    delivery TEXT,
    last_error TEXT,
    finished_at REAL,
    UNIQUE (dedup_key, state, notifier)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
"""


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox retries, gives up, and trips circuit breakers.

    Delays grow exponentially from `base_delay` up to `max_delay`, with full
    jitter (a uniform pick below that ceiling), as described in
    https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
    """

    base_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=5)
    max_attempts: int = 20
    max_age: timedelta = timedelta(hours=6)
    breaker_threshold: int = 5
    breaker_cool_down: timedelta = timedelta(minutes=1)
    claim_lease: timedelta = timedelta(minutes=2)


def backoff_ceiling(attempt: int, base: timedelta, cap: timedelta) -> timedelta:
    """The longest wait after failed attempt number `attempt` (from 1)."""
    exponent = min(max(attempt - 1, 0), 30)
    return min(cap, base * (1 << exponent))


def backoff_delay(
    attempt: int, base: timedelta, cap: timedelta, rand: Callable[[], float]
) -> timedelta:
    """A full-jitter wait: `rand()` (in [0, 1)) times the ceiling."""
    return backoff_ceiling(attempt, base, cap) * rand()


@dataclass
class DeliveryReport:
    """What one `deliver_due` pass did, by outcome."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    id: int
    notifier: str
    notification: Notification
    attempts: int
    created_at: datetime


class Outbox:
    """Queue notifications durably and deliver them with retries.

    Args:
        path: the SQLite file; created when missing.
        notifiers: the channels, by their `name`.
        policy: retry, give-up and breaker settings.
        clock: the current time (timezone-aware); injected by tests.
        rand: a number in [0, 1) for jitter; injected by tests.
    """

    def __init__(
        self,
        path: str | Path,
        notifiers: Iterable[Notifier],
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._notifiers = {notifier.name: notifier for notifier in notifiers}
        self._policy = policy or RetryPolicy()
        self._clock = clock or _utc_now
        self._rand = rand
        self._token = uuid.uuid4().hex
        self._lock = threading.Lock()  # one statement at a time on the connection
        self._passes = threading.Lock()  # one delivery pass at a time
        self._breakers: dict[str, CircuitBreaker] = {}
        self._db = _connect(Path(path))

    def close(self) -> None:
        """Close the database; pending rows stay for the next outbox."""
        self._db.close()

    def enqueue(self, notification: Notification, notifier_name: str) -> bool:
        """Store `notification` for `notifier_name`; False when already stored.

        Raises:
            NotifyError: no notifier has that name.
        """
        if notifier_name not in self._notifiers:
            message = f"unknown notifier {notifier_name!r}"
            raise NotifyError(message, slo=notification.slo_id, target=notifier_name)

        now = _epoch(self._clock())
        inserted = self._change(
            "INSERT OR IGNORE INTO outbox (dedup_key, state, notifier,"
            " notification, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                notification.dedup_key,
                str(notification.state),
                notifier_name,
                json.dumps(notification.to_dict(), sort_keys=True),
                now,
                now,
            ),
        )
        added = inserted == 1
        _log.debug(
            "notification_enqueued" if added else "notification_deduplicated",
            slo=notification.slo_id,
            notifier=notifier_name,
            dedup_key=notification.dedup_key,
            state=str(notification.state),
        )
        return added

    def depth(self, notifier_name: str | None = None) -> int:
        """Notifications not yet sent nor given up on, for a metrics gauge."""
        query = "SELECT count(*) FROM outbox WHERE status IN ('pending', 'claimed')"
        args: tuple[str, ...] = ()
        if notifier_name is not None:
            query += " AND notifier = ?"
            args = (notifier_name,)
        count: int = self._query(query, args)[0][0]
        return count

    def status(self, notification: Notification, notifier_name: str) -> str | None:
        """The row's status (`pending`, `claimed`, `sent`, `failed`), or None."""
        found = self._query(
            "SELECT status FROM outbox"
            " WHERE dedup_key = ? AND state = ? AND notifier = ?",
            (notification.dedup_key, str(notification.state), notifier_name),
        )
        return str(found[0][0]) if found else None

    def deliver_due(self, now: datetime | None = None) -> DeliveryReport:
        """Send every notification that is due at `now`, oldest first.

        A resolve waits until its firing was sent or given up on, so that
        channels see them in order. Only `DeliveryError` is handled: any
        other exception is a bug and leaves the row claimed, to be retried
        once its claim lease expires.
        """
        now = now or self._clock()
        report = DeliveryReport()
        with self._passes:
            for row in self._due(now):
                self._deliver(row, now, report)
        return report

    # -- one row ----------------------------------------------------------------

    def _deliver(self, row: _Row, now: datetime, report: DeliveryReport) -> None:
        log = _log.bind(
            slo=row.notification.slo_id,
            notifier=row.notifier,
            dedup_key=row.notification.dedup_key,
            state=str(row.notification.state),
        )
        notifier = self._notifiers.get(row.notifier)
        hopeless = self._hopeless(row, notifier, now)
        breaker = self._breaker(row.notifier)
        if self._waits_for_firing(row) or (
            hopeless is None and not breaker.allows(now)
        ):
            report.deferred += 1
            return
        if not self._claim(row, now):
            breaker.trial_running = False
            return

        if hopeless is not None or notifier is None:
            self._give_up(row, now, hopeless or "", report, log)
            return
        try:
            delivery = notifier.send(row.notification, reply_to=self._firing_of(row))
        except DeliveryError as error:
            self._failed_attempt(row, now, error, report, log)
            return
        self._mark_sent(row, now, delivery, log)
        report.sent += 1

    def _hopeless(
        self, row: _Row, notifier: Notifier | None, now: datetime
    ) -> str | None:
        """Why the row can never be delivered, or None while it still can."""
        if now - row.created_at > self._policy.max_age:
            return "too old to deliver"
        if notifier is None:
            return "notifier is not configured"
        return None

    def _failed_attempt(
        self,
        row: _Row,
        now: datetime,
        error: DeliveryError,
        report: DeliveryReport,
        log: Any,
    ) -> None:
        # A channel that asks us to slow down is alive: 429 does not trip it.
        attempts = row.attempts + 1
        breaker = self._breaker(row.notifier)
        if error.retry_after is None and breaker.record_failure(now):
            log.warning("circuit_opened", failures=breaker.failures)
        if not error.retryable or attempts >= self._policy.max_attempts:
            self._give_up(row, now, str(error), report, log, attempts=attempts)
            return

        delay = backoff_delay(
            attempts, self._policy.base_delay, self._policy.max_delay, self._rand
        )
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        self._update(
            row.id,
            "status = 'pending', next_attempt_at = ?, last_error = ?,"
            " claim_token = NULL, claimed_at = NULL",
            (_epoch(now + delay), str(error)),
        )
        log.warning(
            "notification_retry_scheduled",
            attempts=attempts,
            delay_seconds=delay.total_seconds(),
            error=str(error),
        )
        report.retried += 1

    def _give_up(
        self,
        row: _Row,
        now: datetime,
        reason: str,
        report: DeliveryReport,
        log: Any,
        *,
        attempts: int | None = None,
    ) -> None:
        self._update(
            row.id,
            "status = 'failed', finished_at = ?, last_error = ?, claim_token = NULL",
            (_epoch(now), reason),
        )
        log.error(
            "notification_failed",
            attempts=row.attempts if attempts is None else attempts,
            error=reason,
        )
        report.failed += 1
        report.details.append(f"{row.notifier}: {reason}")

    def _mark_sent(
        self, row: _Row, now: datetime, delivery: Delivery, log: Any
    ) -> None:
        reference = json.dumps([list(pair) for pair in delivery.reference])
        assignments = (
            "status = 'sent', finished_at = ?, delivery = ?, claim_token = NULL"
        )
        if not self._update(row.id, assignments, (_epoch(now), reference)):
            log.warning("notification_claim_lost")
        if self._breaker(row.notifier).record_success():
            log.info("circuit_closed")
        log.info("notification_sent", attempts=row.attempts + 1)

    # -- storage ----------------------------------------------------------------

    def _due(self, now: datetime) -> list[_Row]:
        stale = _epoch(now - self._policy.claim_lease)
        rows = self._query(
            "SELECT id, notifier, notification, attempts, created_at FROM outbox"
            " WHERE (status = 'pending' AND next_attempt_at <= ?)"
            " OR (status = 'claimed' AND claimed_at <= ?)"
            " ORDER BY created_at, id",
            (_epoch(now), stale),
        )
        return [
            _Row(
                id=row[0],
                notifier=row[1],
                notification=Notification.from_dict(json.loads(row[2])),
                attempts=row[3],
                created_at=datetime.fromtimestamp(row[4], UTC),
            )
            for row in rows
        ]

    def _claim(self, row: _Row, now: datetime) -> bool:
        """Take the row, unless another outbox holds a live claim on it."""
        stale = _epoch(now - self._policy.claim_lease)
        claimed = self._change(
            "UPDATE outbox SET status = 'claimed', claimed_at = ?, claim_token = ?,"
            " attempts = attempts + 1 WHERE id = ? AND (status = 'pending'"
            " OR (status = 'claimed' AND claimed_at <= ?))",
            (_epoch(now), self._token, row.id, stale),
        )
        return claimed == 1

    def _waits_for_firing(self, row: _Row) -> bool:
        if row.notification.state is not NotificationState.RESOLVED:
            return False
        found = self._query(
            "SELECT 1 FROM outbox WHERE dedup_key = ? AND notifier = ? AND state = ?"
            " AND status IN ('pending', 'claimed')",
            (row.notification.dedup_key, row.notifier, str(NotificationState.FIRING)),
        )
        return bool(found)

    def _firing_of(self, row: _Row) -> Delivery | None:
        """The firing's delivery, so a resolve can update the same message."""
        if row.notification.state is not NotificationState.RESOLVED:
            return None
        found = self._query(
            "SELECT delivery FROM outbox WHERE dedup_key = ? AND notifier = ?"
            " AND state = ? AND status = 'sent'",
            (row.notification.dedup_key, row.notifier, str(NotificationState.FIRING)),
        )
        if not found or found[0][0] is None:
            return None
        pairs = tuple((key, value) for key, value in json.loads(found[0][0]))
        return Delivery(row.notifier, pairs)

    def _update(self, row_id: int, assignments: str, args: tuple[Any, ...]) -> bool:
        """Change a row this outbox holds the claim on; False if it lost it."""
        updated = self._change(
            f"UPDATE outbox SET {assignments} WHERE id = ? AND claim_token = ?",
            (*args, row_id, self._token),
        )
        return updated == 1

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _change(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def _breaker(self, notifier_name: str) -> CircuitBreaker:
        if notifier_name not in self._breakers:
            self._breakers[notifier_name] = CircuitBreaker(
                self._policy.breaker_threshold, self._policy.breaker_cool_down
            )
        return self._breakers[notifier_name]


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit: every statement is its own durable transaction, and the
    # claim is a single conditional UPDATE, so no explicit BEGIN is needed.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(_SCHEMA)
    return db


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _utc_now() -> datetime:
    return datetime.now(UTC)
