"""`slo daemon`: APScheduler wiring that runs evaluation cycles and deliveries.

The jobs only call plain functions of `slo_engine.daemon.cycle`. The cycle
job runs once per interval, never two at once; a missed run is coalesced
into one, and each run is stamped with its slot on the interval grid, so a
retried run decides nothing twice. A second job drains the outbox between
cycles, so retries do not wait for the next evaluation. On SIGTERM the
running cycle finishes, the outbox gets one last pass, and the process
exits.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime

import structlog
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from slo_engine.daemon.config import DaemonConfig, load_config
from slo_engine.daemon.cycle import (
    CycleResult,
    DaemonContext,
    align,
    deliver,
    run_cycle,
)
from slo_engine.daemon.server import DaemonMetrics, StatusServer
from slo_engine.daemon.state import StateLock
from slo_engine.durations import format_duration

__all__ = [
    "CycleResult",
    "DaemonConfig",
    "DaemonContext",
    "load_config",
    "run",
    "run_cycle",
]

log = structlog.get_logger(__name__)


def run(config: DaemonConfig, *, once: bool = False) -> int:
    """Run the daemon until SIGTERM or SIGINT; with `once`, run one cycle.

    Returns the exit code: 0, or with `once` 1 when the cycle could not
    evaluate every SLO, the specs were invalid, or a notification was
    given up on.

    Raises:
        DaemonError: another daemon holds the state file.
        SpecError: the specs are invalid at start.
    """
    lock = StateLock(config.state_file)
    lock.acquire()
    try:
        context = DaemonContext(config)
        try:
            return _run_once(context) if once else _serve(context)
        finally:
            context.close()
    finally:
        lock.release()


def _run_once(context: DaemonContext) -> int:
    scheduled_at = align(context.clock(), context.config.interval)
    result = run_cycle(context, scheduled_at)
    return 0 if result.ok else 1


def _serve(context: DaemonContext) -> int:
    config = context.config
    metrics = DaemonMetrics(lambda: float(context.outbox.depth()))
    server = StatusServer(metrics, *config.listen)
    server.start()
    stop = threading.Event()
    _stop_on_signals(stop)

    scheduler = _scheduler(context, metrics)
    scheduler.start()
    host, port = server.address
    log.info(
        "daemon_started",
        listen=f"{host}:{port}",
        interval=format_duration(config.interval),
        slos=len(context.slos),
    )
    stop.wait()

    # Finish the running cycle, then give the outbox one last pass.
    log.info("daemon_stopping")
    scheduler.shutdown(wait=True)
    metrics.observe_delivery(deliver(context))
    server.stop()
    log.info("daemon_stopped", outbox_depth=context.outbox.depth())
    return 0


def _scheduler(context: DaemonContext, metrics: DaemonMetrics) -> BackgroundScheduler:
    config = context.config
    now = context.clock()
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        _cycle_job,
        IntervalTrigger(
            seconds=config.interval.total_seconds(),
            start_date=align(now, config.interval),
            timezone="UTC",
        ),
        args=(context, metrics),
        id="cycle",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=int(config.interval.total_seconds()) or 1,
        next_run_time=now,
    )
    scheduler.add_job(
        _delivery_job,
        IntervalTrigger(
            seconds=config.delivery_interval.total_seconds(), timezone="UTC"
        ),
        args=(context, metrics),
        id="delivery",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=int(config.delivery_interval.total_seconds()) or 1,
    )
    scheduler.add_listener(_job_crashed, EVENT_JOB_ERROR)
    return scheduler


def _cycle_job(context: DaemonContext, metrics: DaemonMetrics) -> None:
    scheduled_at: datetime = align(context.clock(), context.config.interval)
    metrics.observe(run_cycle(context, scheduled_at))


def _delivery_job(context: DaemonContext, metrics: DaemonMetrics) -> None:
    metrics.observe_delivery(deliver(context))


def _job_crashed(event: JobExecutionEvent) -> None:
    log.error("job_crashed", job=event.job_id, error=repr(event.exception))


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _: object) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
