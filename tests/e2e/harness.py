"""Run Debian's Prometheus and Alertmanager on loopback for end-to-end tests.

Everything here talks to real binaries on 127.0.0.1: processes start on free
ports with their own data folders and are always stopped, history is loaded
with `promtool tsdb create-blocks-from`, and a webhook receiver records what
Alertmanager delivers.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

__all__ = [
    "Alertmanager",
    "Delivery",
    "Exporter",
    "Prometheus",
    "Server",
    "WebhookReceiver",
    "backfill_openmetrics",
    "backfill_rules",
    "free_port",
    "get_json",
    "paced",
    "reads_over_range",
    "recording_levels",
    "wait_until",
    "write_openmetrics",
]

T = TypeVar("T")

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 30.0


def paced(rules_text: str, interval: str = "1s") -> str:
    """Compiled rules with the events groups' 2m30s interval set to `interval`.

    Prometheus starts a group at an offset of up to one interval, so a live
    test would wait minutes for the first long-window records; at the
    tests' pace they follow the data within seconds.
    """
    from slo_engine.compiler.rules import EVENTS_INTERVAL
    from slo_engine.durations import format_duration

    compiled = f"interval: {format_duration(EVENTS_INTERVAL)}"
    if compiled not in rules_text:
        raise ValueError("no events group in these rules")
    return rules_text.replace(compiled, f"interval: {interval}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str, params: dict[str, str] | None = None) -> Any:
    """GET `url` and decode its JSON body."""
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
        return json.load(response)


def wait_until(
    probe: Callable[[], T | None], timeout: float, interval: float = 0.25
) -> T | None:
    """Call `probe` until it returns something truthy or `timeout` runs out.

    Returns the last value, so a caller can assert on it and show it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Server:
    """One child process with a log file, a readiness URL and a clean stop."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        """Start on a fresh port and wait until `/-/ready` answers 200."""
        self.port = free_port()
        self._log = (self.workdir / f"{self.name}.log").open("ab")
        self._process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT
        )
        if not wait_until(self._is_ready, START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def _is_ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate, wait, and kill when it does not stop in time."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        elif process is not None:
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / f"{self.name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Prometheus(Server):
    """Debian's `prometheus` with its TSDB under `workdir/data`."""

    name = "prometheus"

    def __init__(self, workdir: Path, config: dict[str, Any] | None = None) -> None:
        super().__init__(workdir)
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.write_config(config or {"global": {"evaluation_interval": "1m"}})

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def command(self) -> list[str]:
        # Backfilled history can be days older than the newest sample, so
        # retention is set far out; the lifecycle API allows a reload.
        return [
            "prometheus",
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query; `at` is the evaluation time in Unix seconds."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = get_json(f"{self.url}/api/v1/query", params)
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str, at: float | None = None) -> float:
        """The single value of an instant query that must return one series."""
        result = self.query(expr, at)
        if len(result) != 1:
            raise AssertionError(f"{expr!r} at {at} gave {len(result)} series")
        return float(result[0]["value"][1])

    def reload(self) -> None:
        """Re-read the configuration and rule files (`--web.enable-lifecycle`)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT):
            pass

    def restart(self) -> None:
        """Stop and start again: the way to make it open newly added blocks."""
        self.stop()
        self.start()


class Alertmanager(Server):
    """Debian's `prometheus-alertmanager`, alone (no cluster gossip)."""

    name = "alertmanager"

    def __init__(self, workdir: Path, config_text: str) -> None:
        super().__init__(workdir)
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(config_text)

    def command(self) -> list[str]:
        # An empty cluster address turns off gossip, which would otherwise
        # listen on every interface.
        return [
            "prometheus-alertmanager",
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds, with its inhibition status."""
        alerts: list[dict[str, Any]] = get_json(f"{self.url}/api/v2/alerts")
        return alerts


# ---- history -------------------------------------------------------------


def write_openmetrics(
    path: Path, timestamps: np.ndarray, series: Iterable[tuple[str, np.ndarray]]
) -> None:
    """Write counter samples as OpenMetrics text, one series after another.

    Args:
        timestamps: sample times in Unix seconds, ascending.
        series: `name{labels}` and its values, one per timestamp.
    """
    stamps = [str(int(t)) for t in timestamps]
    with path.open("w") as out:
        for name, values in series:
            texts = [repr(float(v)) for v in values]
            lines = [f"{name} {v} {t}" for v, t in zip(texts, stamps, strict=True)]
            out.write("\n".join(lines))
            out.write("\n")
        out.write("# EOF\n")


def backfill_openmetrics(source: Path, data_dir: Path) -> None:
    """Turn an OpenMetrics file into TSDB blocks under `data_dir`."""
    _promtool("tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir))


def backfill_rules(
    rules_file: Path, start: float, end: float, url: str, out_dir: Path
) -> list[Path]:
    """Evaluate `rules_file`'s recording rules over [start, end] into blocks.

    promtool asks the live server at `url` with range queries at a 1m step;
    the blocks land in `out_dir` and are returned, for the caller to move
    into a stopped server's data folder.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.iterdir())
    _promtool(
        "tsdb",
        "create-blocks-from",
        "rules",
        f"--start={int(start)}",
        f"--end={int(end)}",
        f"--url={url}",
        f"--output-dir={out_dir}",
        "--eval-interval=60s",
        str(rules_file),
    )
    return sorted(set(out_dir.iterdir()) - before)


def _promtool(*args: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        raise RuntimeError("promtool is missing: apt-get install -y prometheus")
    done = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool {' '.join(args)} failed:\n{done.stderr}")


def recording_levels(rules_text: str) -> list[list[dict[str, Any]]]:
    """The recording rules of a rules file, grouped by dependency depth.

    Level 0 reads only raw series; level n reads records of levels below n.
    promtool backfills each rule with range queries against what the server
    already holds, so a level can only be backfilled once the levels below
    it are loaded.
    """
    rules = [
        rule
        for group in yaml.safe_load(rules_text)["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    names = {rule["record"] for rule in rules}
    reads = {
        id(rule): {n for n in names if n != rule["record"] and _reads(rule["expr"], n)}
        for rule in rules
    }

    # Depths settle in at most one pass per rule; records form no cycles.
    depth = dict.fromkeys(names, 0)
    for _ in rules:
        for rule in rules:
            below = [depth[name] + 1 for name in reads[id(rule)]]
            depth[rule["record"]] = max(below, default=0)

    levels: list[list[dict[str, Any]]] = []
    for rule in rules:
        index = depth[rule["record"]]
        levels.extend([] for _ in range(index + 1 - len(levels)))
        levels[index].append(rule)
    return levels


def _reads(expr: str, record: str) -> bool:
    return re.search(rf"(?<![\w:]){re.escape(record)}(?![\w:])", expr) is not None


def reads_over_range(rules: Iterable[dict[str, Any]], record: str) -> bool:
    """Whether any rule reads `record` through a range selector (`[1d]`)."""
    pattern = rf"(?<![\w:]){re.escape(record)}(\{{[^}}]*\}})?\["
    return any(re.search(pattern, rule["expr"]) for rule in rules)


# ---- loopback HTTP servers -----------------------------------------------


@dataclass
class Delivery:
    """One webhook POST: the path it came to and its JSON body."""

    path: str
    body: dict[str, Any]
    received: float = field(default_factory=time.time)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    receiver.deliveries.append(Delivery(self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet: the test reads `deliveries`, not the log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    @contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        with _serving(self._server):
            yield self


class Exporter:
    """A scrape target whose counters grow at rates the test sets and changes.

    Each series grows at its rate between scrapes, so Prometheus sees smooth
    counters; `set_rates` takes effect from the moment it is called.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = {}
        self._rates: dict[str, float] = {}
        self._since = time.monotonic()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                payload = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet: one request a second would flood the output."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def target(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def set_rates(self, rates: dict[str, float]) -> None:
        """Events per second for each `name{labels}` series from now on."""
        with self._lock:
            self._advance()
            self._rates.update(rates)
            for name in rates:
                self._values.setdefault(name, 0.0)

    def set_counters(self, values: dict[str, float]) -> None:
        """Set counter values, e.g. to continue where backfilled history ends."""
        with self._lock:
            self._advance()
            self._values.update(values)

    def render(self) -> str:
        with self._lock:
            self._advance()
            return "".join(f"{n} {v!r}\n" for n, v in sorted(self._values.items()))

    def _advance(self) -> None:
        now = time.monotonic()
        for name, rate in self._rates.items():
            self._values[name] += rate * (now - self._since)
        self._since = now

    @contextmanager
    def running(self) -> Iterator[Exporter]:
        with _serving(self._server):
            yield self


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(STOP_TIMEOUT)
