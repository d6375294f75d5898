"""The daemon's own metrics and its `/metrics`, `/healthz` and `/readyz` endpoints.

The HTTP server runs in a thread of the daemon, on 127.0.0.1 by default.
`/healthz` answers 200 while the process runs; `/readyz` answers 200 once
a cycle has evaluated the SLOs and as long as the last one did, 503
otherwise, so an orchestrator can tell a daemon that cannot reach
Prometheus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from slo_engine.daemon.cycle import CycleResult
from slo_engine.notify import DeliveryReport

__all__ = ["DaemonMetrics", "StatusServer"]


class DaemonMetrics:
    """The daemon's metrics, in a registry of their own (not the global one)."""

    def __init__(self, outbox_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.ready = False
        self.cycles = Counter(
            "slo_engine_cycles",
            "Evaluation cycles run, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "slo_engine_cycle_duration_seconds",
            "How long an evaluation cycle took.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.queries = Counter(
            "slo_engine_queries", "Queries sent to Prometheus.", registry=self.registry
        )
        self.sent = Counter(
            "slo_engine_notifications_sent",
            "Notifications a channel took.",
            registry=self.registry,
        )
        self.failed = Counter(
            "slo_engine_notifications_failed",
            "Notifications given up on after retries.",
            registry=self.registry,
        )
        self.retried = Counter(
            "slo_engine_notifications_retried",
            "Delivery attempts that failed and were scheduled again.",
            registry=self.registry,
        )
        self.unknown = Gauge(
            "slo_engine_slos_unknown",
            "SLOs whose budget could not be read in the last cycle.",
            registry=self.registry,
        )
        self.slos = Gauge(
            "slo_engine_slos", "SLOs evaluated per cycle.", registry=self.registry
        )
        self.firing = Gauge(
            "slo_engine_alerts_firing",
            "Pages and tickets open after the last cycle.",
            registry=self.registry,
        )
        self.specs_valid = Gauge(
            "slo_engine_specs_valid",
            "1 when the specs loaded in the last cycle; 0 when old ones are kept.",
            registry=self.registry,
        )
        depth = Gauge(
            "slo_engine_outbox_depth",
            "Notifications waiting in the outbox.",
            registry=self.registry,
        )
        depth.set_function(outbox_depth)

    def observe(self, result: CycleResult) -> None:
        """Count one cycle."""
        self.cycles.labels("ok" if result.error is None else "failed").inc()
        self.duration.observe(result.duration.total_seconds())
        self.queries.inc(result.queries)
        self.unknown.set(result.unknown)
        self.slos.set(result.slos)
        self.firing.set(result.firing)
        self.specs_valid.set(0 if result.spec_error else 1)
        self.observe_delivery(result.delivery)
        self.ready = result.error is None

    def observe_delivery(self, report: DeliveryReport) -> None:
        """Count one outbox pass."""
        self.sent.inc(report.sent)
        self.failed.inc(report.failed)
        self.retried.inc(report.retried)


class StatusServer:
    """`/metrics`, `/healthz` and `/readyz` over HTTP, served from a thread."""

    def __init__(self, metrics: DaemonMetrics, host: str, port: int) -> None:
        self._server = _Server((host, port), metrics)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.2,),
            name="slo-status-server",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        """The host and port it listens on (the port is chosen when 0 was given)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: DaemonMetrics) -> None:
        self.metrics = metrics
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/metrics":
            body = generate_latest(self.server.metrics.registry)
            self._answer(200, body, CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._answer(200, b"ok\n")
        elif path == "/readyz":
            ready = self.server.metrics.ready
            self._answer(200 if ready else 503, b"ready\n" if ready else b"not ready\n")
        else:
            self._answer(404, b"not found\n")

    def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: scrapes every few seconds would drown the log."""
