"""Fixtures for the daemon: a real Prometheus with backfilled history, configs, ports."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from slo_engine.compiler import Format, compile_paths
from tests.e2e.harness import paced

# Loopback only, never through a proxy from the environment.
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STEP = timedelta(seconds=30)
HISTORY = timedelta(hours=7)
INCIDENT = timedelta(minutes=90)

SPEC = """\
version: slo-engine/v1
service: chat
labels: {team: llm}
slos:
  - name: availability
    objective: 99
    sli:
      ratio:
        bad: requests_total{job="chat",code="500"}
        total: requests_total{job="chat"}
    alerting:
      annotations: {runbook_url: https://runbooks.example.com/chat}
  - name: search
    objective: 99
    sli:
      ratio:
        bad: requests_total{job="search",code="500"}
        total: requests_total{job="search"}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with LOOPBACK.open(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll `condition` until it is truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {seconds} s")


@dataclass
class History:
    """Per-step event counts of every series, as backfilled into Prometheus."""

    end: datetime
    counts: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def openmetrics(self) -> str:
        steps = len(next(iter(self.counts.values())))
        lines = ["# TYPE requests counter"]
        for (job, code), per_step in self.counts.items():
            totals = np.cumsum(per_step)
            for index in range(steps):
                at = self.end - (steps - 1 - index) * STEP
                lines.append(
                    f'requests_total{{job="{job}",code="{code}"}} '
                    f"{totals[index]:.0f} {at.timestamp():.0f}"
                )
        lines.append("# EOF")
        return "\n".join(lines) + "\n"


def make_history(end: datetime) -> History:
    """Chat serves 10 req/s and fails 2 req/s for the last 90 minutes; search is fine."""
    steps = int(HISTORY / STEP)
    per_step = STEP.total_seconds()
    incident = int(INCIDENT / STEP)
    failing = np.zeros(steps)
    failing[-incident:] = 2 * per_step
    history = History(end)
    history.counts[("chat", "200")] = np.full(steps, 10 * per_step)
    history.counts[("chat", "500")] = failing
    history.counts[("search", "200")] = np.full(steps, 5 * per_step)
    history.counts[("search", "500")] = np.zeros(steps)
    return history


class Prometheus:
    """A real Prometheus on 127.0.0.1 with a temporary data folder."""

    def __init__(self, folder: Path, rules: Path | None) -> None:
        self.binary = shutil.which("prometheus")
        if self.binary is None:
            pytest.fail("prometheus is missing: apt-get install -y prometheus")
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "prometheus.yml"
        rule_files = f"rule_files: ['{rules}/*.yaml']\n" if rules else ""
        self.config.write_text(
            "global: {evaluation_interval: 1s}\n" + rule_files, encoding="utf-8"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def backfill(self, history: History) -> None:
        source = self.folder / "history.om"
        source.write_text(history.openmetrics(), encoding="utf-8")
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "-q",
                str(source),
                str(self.folder / "data"),
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(self.binary),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=30d",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._ready, 30, "prometheus start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def query(self, expr: str) -> list[dict]:
        import json
        import urllib.parse

        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        assert status == 200, body
        result: list[dict] = json.loads(body)["data"]["result"]
        return result

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited with {self.process.returncode}")
        try:
            return http_get(f"{self.url}/-/ready", timeout=1)[0] == 200
        except OSError:
            return False


def write_spec(folder: Path) -> Path:
    specs = folder / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    (specs / "chat.yaml").write_text(SPEC, encoding="utf-8")
    return specs


def write_rules(specs: Path, out: Path, *, events_groups: bool = True) -> Path:
    files, _ = compile_paths([specs], Format.PROMETHEUS)
    out.mkdir(exist_ok=True)
    for rules in files:
        text = paced(rules.text)
        if not events_groups:
            document = yaml.safe_load(text)
            document["groups"] = [
                g for g in document["groups"] if not g["name"].endswith("-events")
            ]
            text = yaml.safe_dump(document, sort_keys=False)
        (out / rules.relative_path).write_text(text, encoding="utf-8")
    return out


@contextlib.contextmanager
def running_prometheus(
    folder: Path,
    *,
    with_rules: bool,
    events_groups: bool = True,
    ready_when: str | None = None,
) -> Iterator[tuple[Prometheus, History]]:
    """Prometheus over a backfilled history, stopped on exit; with `ready_when`,
    entered only once that query returns something."""
    specs = write_spec(folder)
    rules = None
    if with_rules:
        rules = write_rules(specs, folder / "rules", events_groups=events_groups)
    prometheus = Prometheus(folder, rules)
    history = make_history(datetime.now(UTC).replace(microsecond=0))
    prometheus.backfill(history)
    prometheus.start()
    try:
        if ready_when is not None:
            query = ready_when
            wait_for(lambda: prometheus.query(query), 30, "first rule evaluation")
        yield prometheus, history
    finally:
        prometheus.stop()


@pytest.fixture(scope="session")
def prometheus_with_rules(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Prometheus, History]]:
    """Prometheus with the compiled rules loaded and evaluated once."""
    with running_prometheus(
        tmp_path_factory.mktemp("prom-rules"),
        with_rules=True,
        ready_when="slo:sli_error:ratio_rate30d",
    ) as running:
        yield running


@pytest.fixture
def prometheus_short_records(tmp_path: Path) -> Iterator[tuple[Prometheus, History]]:
    """Prometheus whose rules record only the short windows, as in the first
    minutes after loading, before the events groups have run."""
    with running_prometheus(
        tmp_path / "prom",
        with_rules=True,
        events_groups=False,
        ready_when="slo:sli_error:ratio_rate5m",
    ) as running:
        yield running


@pytest.fixture
def prometheus_raw(tmp_path: Path) -> Iterator[tuple[Prometheus, History]]:
    """Prometheus with the history but no rules: the daemon falls back to raw series."""
    with running_prometheus(tmp_path / "prom", with_rules=False) as running:
        yield running


def daemon_config(
    folder: Path,
    prometheus_url: str,
    specs: Path,
    *,
    notifiers: str,
    routes: str,
    extra: str = "",
) -> Path:
    """Write a daemon config for the tests; every wait in it is short."""
    text = f"""\
prometheus: {{url: "{prometheus_url}", timeout: 2s}}
specs: ["{specs}"]
state_file: state/slo.db
interval: 1s
listen: "127.0.0.1:{free_port()}"
query_retries: 1
retry_delay: 1s
unknown_after: 2
delivery:
  interval: 1s
  timeout: 1s
  base_delay: 1s
  max_delay: 2s
  claim_lease: 3s
  breaker_cool_down: 1s
notifiers:
{notifiers}
routes:
{routes}
{extra}"""
    path = folder / "daemon.yaml"
    path.write_text(text, encoding="utf-8")
    return path
