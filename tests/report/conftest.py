"""A real Prometheus with two days of backfilled LLM-app history, for status and report.

Reuses the end-to-end harness (`tests/e2e/harness.py`): Debian's prometheus
on a free loopback port, history written with `promtool tsdb
create-blocks-from openmetrics`, and the compiled rules of one spec file
loaded, so one service is read from recording rules and the other from raw
series.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import structlog

from slo_engine.compiler import Format, compile_paths
from tests.e2e.harness import (
    Prometheus,
    backfill_openmetrics,
    paced,
    wait_until,
    write_openmetrics,
)

CHAT = """\
version: slo-engine/v1
service: chat
slos:
  - name: availability
    layer: application
    description: 99% of chat requests succeed.
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: llm_errors_total{service="chat"}
        total: llm_requests_total{service="chat"}
    alerting:
      windows:
        - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 14.4}
        - {severity: ticket, long_window: 6h, short_window: 30m, burn_rate: 3}
"""
RETRIEVAL = """\
version: slo-engine/v1
service: retrieval
slos:
  - name: relevance
    layer: vector-db
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: rag_irrelevant_total
        total: rag_retrievals_total
    alerting:
      windows:
        - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 14.4}
        - {severity: ticket, long_window: 6h, short_window: 30m, burn_rate: 3}
  - name: judge
    layer: model
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: llm_judge_bad_total
        total: llm_judge_total
    alerting:
      windows:
        - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 14.4}
"""
HISTORY_MINUTES = 2 * 24 * 60
INCIDENT_MINUTES = 90


@dataclass(frozen=True)
class Stack:
    """The running Prometheus and the spec files it holds data for."""

    prometheus: Prometheus
    specs: Path
    now: float

    @property
    def url(self) -> str:
        return self.prometheus.url


def _history(end: float) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    minutes = np.arange(HISTORY_MINUTES)
    stamps = end - 60.0 * (HISTORY_MINUTES - 1 - minutes)
    chat_bad = np.where(minutes >= HISTORY_MINUTES - INCIDENT_MINUTES, 30.0, 0.5)
    series = [
        ('llm_requests_total{service="chat"}', np.cumsum(np.full(minutes.size, 100.0))),
        ('llm_errors_total{service="chat"}', np.cumsum(chat_bad)),
        ("rag_retrievals_total", np.cumsum(np.full(minutes.size, 50.0))),
        ("rag_irrelevant_total", np.cumsum(np.full(minutes.size, 0.1))),
    ]
    return stamps, series


@pytest.fixture(autouse=True)
def _keep_log_config():
    """The commands configure structlog for the process; restore it afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for binary in ("prometheus", "promtool"):
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} is missing: apt-get install -y prometheus")
    work = tmp_path_factory.mktemp("report-prometheus")
    specs = work / "specs"
    specs.mkdir()
    (specs / "chat.yaml").write_text(CHAT)
    (specs / "retrieval.yaml").write_text(RETRIEVAL)
    files, _ = compile_paths([specs / "chat.yaml"], Format.PROMETHEUS)
    (work / "chat.rules.yaml").write_text(paced(files[0].text))

    now = float(int(time.time()) // 60 * 60)
    stamps, series = _history(now - 60)
    write_openmetrics(work / "history.txt", stamps, series)
    prometheus = Prometheus(
        work / "server",
        {
            "global": {"evaluation_interval": "2s"},
            "rule_files": [str(work / "chat.rules.yaml")],
        },
    )
    backfill_openmetrics(work / "history.txt", prometheus.data_dir)

    prometheus.start()
    try:
        recorded = 'slo:sli_error:ratio_rate1d{slo_id="chat-availability"}'
        assert wait_until(lambda: prometheus.query(recorded), 60), prometheus.log_tail()
        yield Stack(prometheus, specs, now)
    finally:
        prometheus.stop()
