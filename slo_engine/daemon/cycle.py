"""One evaluation cycle: reload specs, evaluate budgets, move alerts, queue pages.

`run_cycle` is the plain function the scheduler calls; tests call it
directly with an injected clock, evaluator and notifiers. Every decision is
stamped with the cycle's scheduled time, so a retried run of the same cycle
decides the same notifications, which the state store and the outbox then
keep only once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog

from slo_engine.daemon import _notices
from slo_engine.daemon.alerts import AlertRecord, AlertStatus, Change, step
from slo_engine.daemon.config import DaemonConfig, build_notifiers
from slo_engine.daemon.state import Pending, StateStore
from slo_engine.durations import format_duration
from slo_engine.errors import QueryError, SpecError
from slo_engine.evaluate.prometheus import BudgetState, PrometheusEvaluator
from slo_engine.model import SLO, BurnRateWindow, Severity
from slo_engine.notify import DeliveryReport, Notifier, Outbox
from slo_engine.spec.loader import load_paths

__all__ = [
    "CycleResult",
    "DaemonContext",
    "Evaluator",
    "align",
    "deliver",
    "run_cycle",
]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


class Evaluator(Protocol):
    """What a cycle needs from `PrometheusEvaluator`; tests inject their own."""

    queries: int

    def evaluate(self, slos: Sequence[SLO], at: datetime) -> list[BudgetState]:
        """The budget state of every SLO at `at`; raises `QueryError`."""
        ...


@dataclass
class CycleResult:
    """What one cycle did; `ok` is the `--once` exit status."""

    scheduled_at: datetime
    slos: int = 0
    unknown: int = 0
    firing: int = 0
    notifications: int = 0
    queries: int = 0
    duration: timedelta = timedelta()
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    error: str | None = None
    spec_error: str | None = None

    @property
    def ok(self) -> bool:
        """Every SLO evaluated with valid specs, and nothing undeliverable."""
        return (
            self.error is None
            and self.spec_error is None
            and self.unknown == 0
            and self.delivery.failed == 0
        )


class DaemonContext:
    """Everything cycles share in one process: config, specs, store, outbox.

    Args:
        config: the daemon's config.
        evaluator: injected by tests; Prometheus from the config otherwise.
        notifiers: injected by tests; built from the config otherwise.
        clock: the current time (timezone-aware).
        sleep: waits between query retries; tests pass a no-op.

    Raises:
        SpecError: the specs are invalid at start.
    """

    def __init__(
        self,
        config: DaemonConfig,
        *,
        evaluator: Evaluator | None = None,
        notifiers: Sequence[Notifier] | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.clock = clock or _utc_now
        self.sleep = sleep
        self.evaluator = evaluator or _prometheus(config)
        self.slos: tuple[SLO, ...] = ()
        self.spec_error: str | None = None
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None
        self.reload_specs(strict=True)
        self.store = StateStore(config.state_file)
        channels = build_notifiers(config) if notifiers is None else notifiers
        self.outbox = Outbox(
            config.state_file, channels, policy=config.retry_policy, clock=self.clock
        )

    def close(self) -> None:
        """Close the state store and the outbox."""
        self.outbox.close()
        self.store.close()

    def reload_specs(self, *, strict: bool = False) -> None:
        """Load the specs again if a file changed; keep the last good ones on error.

        Raises:
            SpecError: the specs are invalid and `strict` is set (at start).
        """
        fingerprint = _fingerprint(self.config.specs)
        if fingerprint == self._fingerprint:
            return
        self._fingerprint = fingerprint
        try:
            specs = load_paths(self.config.specs)
        except SpecError as error:
            if strict:
                raise
            self.spec_error = str(error)
            problems = [str(problem) for problem in error.problems]
            log.error("specs_invalid", problems=problems, kept=len(self.slos))
            return
        self.slos = tuple(slo for spec in specs for slo in spec.slos)
        self.spec_error = None
        log.info("specs_loaded", slos=len(self.slos), files=len(specs))


def align(instant: datetime, interval: timedelta) -> datetime:
    """The scheduled time of the cycle `instant` belongs to: a multiple of `interval`.

    Cycles sit on a grid counted from the Unix epoch, so a run that is
    retried, delayed or coalesced still knows which cycle it is.
    """
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((instant - epoch) // interval) * interval


def run_cycle(context: DaemonContext, scheduled_at: datetime) -> CycleResult:
    """Run the cycle scheduled at `scheduled_at` and deliver what is due."""
    started = time.monotonic()
    result = CycleResult(scheduled_at)
    context.reload_specs()
    result.spec_error = context.spec_error
    slos = context.slos
    result.slos = len(slos)

    hand_over(context)
    states = _evaluate(context, slos, scheduled_at, result)
    decided = _decide(context, slos, states, scheduled_at, result)
    decided += _decide_evaluation(context, scheduled_at, result)
    result.notifications = len(decided)
    hand_over(context)

    result.delivery = deliver(context)
    result.duration = timedelta(seconds=time.monotonic() - started)
    counts = (result.queries, result.unknown, result.notifications)
    outcome = "ok" if result.error is None else "failed"
    context.store.stamp_cycle(scheduled_at, context.clock(), outcome, counts)
    _log_cycle(result)
    return result


def deliver(context: DaemonContext) -> DeliveryReport:
    """Send whatever the outbox holds that is due now."""
    return context.outbox.deliver_due(context.clock())


def hand_over(context: DaemonContext) -> None:
    """Move decided notices into the outbox, one row per routed notifier.

    A crash between the outbox write and forgetting the notice is harmless:
    the outbox ignores a second enqueue of the same notification.
    """
    for notice in context.store.pending():
        notification = _notices.restore(notice.notice)
        targets = context.config.notifiers_for(notification)
        if not targets:
            log.warning(
                "notification_unrouted",
                slo=notification.slo_id,
                severity=str(notification.severity),
            )
        for name in targets:
            context.outbox.enqueue(notification, name)
        context.store.handed_over(notice.key)


# ---- evaluation ----------------------------------------------------------------


def _evaluate(
    context: DaemonContext,
    slos: Sequence[SLO],
    at: datetime,
    result: CycleResult,
) -> list[BudgetState]:
    attempts = context.config.query_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            states = context.evaluator.evaluate(slos, at)
        except QueryError as error:
            result.queries += context.evaluator.queries
            result.error = str(error)
            log.warning("evaluation_failed", attempt=attempt, error=str(error))
            if attempt < attempts:
                context.sleep(context.config.retry_delay.total_seconds())
            continue
        result.queries += context.evaluator.queries
        result.error = None
        result.unknown = sum(1 for state in states if not state.known)
        return states

    result.unknown = len(slos)
    return [BudgetState(slo, at, known=False) for slo in slos]


# ---- the alert state machine ---------------------------------------------------


def _decide(
    context: DaemonContext,
    slos: Sequence[SLO],
    states: Sequence[BudgetState],
    at: datetime,
    result: CycleResult,
) -> list[Pending]:
    records = context.store.alerts()
    changed: list[AlertRecord] = []
    decided: list[Pending] = []
    for slo, state in zip(slos, states, strict=True):
        moves = _moves(context, slo, state, records, at)
        for record, change in moves:
            changed.append(record)
            if change is not None:
                notice = _notices.slo_notice(slo, state, record, change)
                decided.append(_notices.pending(notice))
        firing = [r for r, _ in moves if r.status is AlertStatus.FIRING]
        result.firing += len(firing)
        _log_slo(slo, state, firing)
    context.store.save(changed, decided)
    return decided


def _moves(
    context: DaemonContext,
    slo: SLO,
    state: BudgetState,
    records: dict[tuple[str, Severity], AlertRecord],
    at: datetime,
) -> list[tuple[AlertRecord, Change | None]]:
    """Step each enabled severity of `slo`; an unknown state makes no move."""
    if not state.known:
        return []
    pairs = sorted(state.firing(), key=lambda pair: -pair.burn_rate)
    moves = []
    for severity in Severity:
        if not slo.alerting.target(severity).enabled:
            continue
        record = records.get((slo.slo_id, severity), AlertRecord(slo.slo_id, severity))
        holding = tuple(pair for pair in pairs if pair.severity is severity)
        interval = context.config.reminder_interval
        moves.append(step(record, holding, at, interval))
    return moves


def _decide_evaluation(
    context: DaemonContext, at: datetime, result: CycleResult
) -> list[Pending]:
    """Open the cannot-evaluate ticket after enough failed cycles; resolve it after."""
    failed = _count_failed(context, at, result)
    key = (_notices.EVALUATION_ID, Severity.TICKET)
    record = context.store.alerts().get(key, AlertRecord(*key))
    holding: tuple[BurnRateWindow, ...] = ()
    if result.error is not None and failed >= context.config.unknown_after:
        holding = (_notices.evaluation_pair(context.config.interval, failed),)
    if result.error is not None and not holding:
        return []  # failing, but not for long enough: nothing to tell yet

    record, change = step(record, holding, at, context.config.reminder_interval)
    decided = []
    if change is not None:
        notice = _notices.evaluation_notice(record, change, at)
        decided.append(_notices.pending(notice))
        event = f"evaluation_ticket_{change}"
        if change is Change.RESOLVED:
            log.info(event, failed_cycles=failed)
        else:
            log.warning(event, failed_cycles=failed)
    context.store.save([record], decided)
    return decided


def _count_failed(context: DaemonContext, at: datetime, result: CycleResult) -> int:
    failed = context.store.failed_cycles()
    last = context.store.last_cycle()
    retried = last is not None and last[0] >= at
    if result.error is None:
        failed = 0
    elif not retried:
        failed += 1
    context.store.set_failed_cycles(failed)
    return failed


# ---- helpers -------------------------------------------------------------------


def _prometheus(config: DaemonConfig) -> PrometheusEvaluator:
    settings = config.prometheus
    return PrometheusEvaluator(
        settings.url,
        headers=settings.header_values() or None,
        auth=settings.auth(),
        timeout=settings.timeout,
    )


def _fingerprint(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """Name, modification time and size of every spec file: cheap change detection."""
    found = []
    for path in paths:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.suffix in (".yaml", ".yml") or file == path:
                try:
                    stat = file.stat()
                except OSError:
                    found.append((str(file), -1, -1))
                    continue
                found.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def _log_slo(slo: SLO, state: BudgetState, firing: list[AlertRecord]) -> None:
    log.info(
        "slo_evaluated",
        slo=slo.name,
        service=slo.service,
        known=state.known,
        budget_remaining=_rounded(state.budget_remaining),
        pairs_firing=[
            f"{format_duration(p.long_window)}/{format_duration(p.short_window)}"
            for p in state.firing()
        ],
        alerts_firing=[str(record.severity) for record in firing],
    )


def _log_cycle(result: CycleResult) -> None:
    log.info(
        "cycle_finished",
        scheduled_at=result.scheduled_at.isoformat(),
        slos=result.slos,
        unknown=result.unknown,
        firing=result.firing,
        notifications=result.notifications,
        queries=result.queries,
        sent=result.delivery.sent,
        failed=result.delivery.failed,
        seconds=round(result.duration.total_seconds(), 3),
        error=result.error,
    )


def _rounded(value: float) -> float | None:
    return None if value != value else round(value, 6)


def _utc_now() -> datetime:
    return datetime.now(UTC)
