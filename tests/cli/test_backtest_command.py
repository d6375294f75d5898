"""`slo backtest`: replay from a CSV or Prometheus, exact exit codes and errors."""

from __future__ import annotations

import json
import socket

import pytest
import structlog
from click.testing import CliRunner

from slo_engine.cli import main

SPEC = """\
version: slo-engine/v1
service: chat
slos:
  - name: availability
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: llm_errors_total
        total: llm_requests_total
    alerting:
      windows:
        - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 14.4}
        - {severity: ticket, long_window: 6h, short_window: 30m, burn_rate: 3}
"""


@pytest.fixture(autouse=True)
def _keep_log_config():
    """The commands configure structlog for the process; restore it afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


POLICY = """\
- {severity: page, long_window: 30m, short_window: 5m, burn_rate: 5}
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "chat.yaml").write_text(SPEC)
    rows = ["timestamp,slo,good,bad"]
    for minute in range(12 * 60):
        bad = 30 if 300 <= minute < 360 else 0
        stamp = f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z"
        rows.append(f"{stamp},availability,{100 - bad},{bad}")
    (tmp_path / "history.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "incidents.yaml").write_text(
        "- {slo: chat-availability, start: '2026-01-01T05:00:00Z', end: '2026-01-01T06:00:00Z'}\n"
        "- {slo: availability, start: '2026-01-01T09:00:00Z', end: '2026-01-01T09:30:00Z'}\n"
    )
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path


def run(files, *args):
    spec = str(files / "chat.yaml")
    return CliRunner().invoke(main, ["backtest", spec, *args])


def test_csv_replay_reports_alerts_detection_and_misses(files):
    result = run(
        files,
        "--csv",
        str(files / "history.csv"),
        "--incidents",
        str(files / "incidents.yaml"),
    )

    assert result.exit_code == 0, result.output
    assert (
        "  chat-availability  page   1h/5m    2026-01-01T05:28:00Z -> 2026-01-01T06:02:00Z"
        in result.stdout
    )
    assert (
        "incident chat-availability at 2026-01-01T05:00:00Z: detected in 28m by a page"
        in result.stdout
    )
    assert "incident chat-availability at 2026-01-01T09:00:00Z: MISSED" in result.stdout
    assert "false pages       0" in result.stdout


def test_json_output_and_alternative_policy_side_by_side(files):
    result = run(
        files,
        "--csv",
        str(files / "history.csv"),
        "--policy",
        str(files / "policy.yaml"),
        "--format",
        "json",
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    default, alternative = report["policies"]
    assert default["name"] == "default"
    assert default["pages"] == 1
    assert alternative["name"] == "alternative"
    assert {a["long_window"] for a in alternative["alerts"]} == {"30m"}


def test_without_a_source_is_a_usage_error(files):
    result = run(files)

    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[-1]
        == "Error: give exactly one of --prometheus and --csv"
    )


def test_bad_time_is_a_usage_error(files):
    result = run(files, "--prometheus", "http://127.0.0.1:1", "--from", "yesterday")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--from': 'yesterday' is not an RFC 3339 time, 'now', or like '-30d'"
    )


def test_unknown_slo_in_csv_is_invalid_input(files):
    history = files / "bad.csv"
    history.write_text("timestamp,slo,good,bad\n2026-01-01T00:00:00Z,latency,1,0\n")

    result = run(files, "--csv", str(history))

    assert result.exit_code == 1
    assert result.stderr == f"{history}: unknown SLO 'latency'; use an SLO id or name\n"


def test_unreachable_prometheus_is_one_line_and_exit_1(files):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: refused

        result = run(files, "--prometheus", f"http://127.0.0.1:{port}", "--from", "-1h")

    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(
        f"Prometheus at http://127.0.0.1:{port} did not answer: "
    )
