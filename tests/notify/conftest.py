"""Fixtures for the notifier tests: a fixed notification, golden files, Alertmanager."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from slo_engine.model import Severity
from slo_engine.notify import Notification, NotificationState

GOLDEN = Path(__file__).parent / "golden"
STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FIRED = STARTED + timedelta(minutes=3)
# Loopback only, never through a proxy from the environment.
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def make_notification(**changes: Any) -> Notification:
    """A page for the chat assistant's latency SLO, at fixed instants."""
    notification = Notification(
        slo_id="chat-assistant-response-latency",
        service="chat-assistant",
        slo_name="response-latency",
        severity=Severity.PAGE,
        state=NotificationState.FIRING,
        burn_rate=14.4,
        long_window=timedelta(hours=1),
        short_window=timedelta(minutes=5),
        error_budget_remaining=0.625,
        incident_started_at=STARTED,
        timestamp=FIRED,
        alert_name="ChatLatencyBudgetBurn",
        runbook_url="https://runbooks.example.com/chat-latency",
        labels=(("team", "llm-platform"),),
    )
    return replace(notification, **changes)


def resolved(notification: Notification, after: timedelta) -> Notification:
    """The resolve of `notification`, `after` its firing."""
    return replace(
        notification,
        state=NotificationState.RESOLVED,
        burn_rate=0.8,
        timestamp=notification.timestamp + after,
    )


@pytest.fixture
def notification() -> Notification:
    return make_notification()


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Compare a JSON document to `golden/<name>.json`; `--update-golden` rewrites."""
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, document: Any) -> None:
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        path = GOLDEN / f"{name}.json"
        if update:
            path.write_text(text, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == text

    return check


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def http_get_json(url: str) -> Any:
    with LOOPBACK.open(url, timeout=5) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1 (Debian `prometheus-alertmanager`)."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail(
            "alertmanager is missing: apt-get install -y prometheus-alertmanager"
        )
    folder = tmp_path_factory.mktemp("alertmanager")
    config = folder / "alertmanager.yml"
    config.write_text("route:\n  receiver: quiet\nreceivers:\n  - name: quiet\n")
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"alertmanager exited with {process.returncode}")
        try:
            with LOOPBACK.open(f"{url}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail("alertmanager was not ready within 20 s")
