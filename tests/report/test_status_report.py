"""`slo status` and `slo report` against a real Prometheus with backfilled history."""

from __future__ import annotations

import base64
import json
import re

import pytest
from click.testing import CliRunner

from slo_engine.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def status(stack, *args):
    return CliRunner().invoke(
        main, ["status", "--prometheus", stack.url, str(stack.specs), *args]
    )


def test_status_json_rows_are_grouped_by_layer_and_alert_state(stack):
    result = status(stack, "--format", "json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["layer"], r["service"], r["slo"]) for r in rows] == [
        ("application", "chat", "availability"),
        ("model", "retrieval", "judge"),
        ("vector-db", "retrieval", "relevance"),
    ]
    chat, judge, relevance = rows
    assert chat["alert"] == "page"
    assert judge["alert"] == "unknown"
    assert judge["budget_remaining"] is None
    assert relevance["alert"] == "ok"


def test_status_from_recording_rules_shows_the_recorded_values(stack):
    rows = json.loads(status(stack, "--format", "json").stdout)
    chat = rows[0]

    recorded = stack.prometheus.value(
        'slo:error_budget_remaining:ratio{slo_id="chat-availability"}'
    )
    burn_1h = (
        stack.prometheus.value('slo:sli_error:ratio_rate1h{slo_id="chat-availability"}')
        / 0.01
    )

    # Rules run every 2s, so allow for one evaluation between the queries.
    assert chat["budget_remaining"] == pytest.approx(recorded, rel=0.05)
    assert chat["burn_rate_1h"] == pytest.approx(burn_1h, rel=0.05)
    assert chat["burn_rate_1h"] == pytest.approx(30.0, rel=0.05)


def test_status_from_raw_series_matches_the_history(stack):
    rows = json.loads(status(stack, "--format", "json").stdout)
    relevance = rows[2]

    # 1 irrelevant retrieval in 500: a 0.2% error ratio against a 1% budget.
    assert relevance["sli"] == pytest.approx(0.998, abs=1e-4)
    assert relevance["budget_remaining"] == pytest.approx(0.8, abs=0.01)
    assert relevance["burn_rate_1h"] == pytest.approx(0.2, abs=0.01)
    assert relevance["burn_rate_6h"] == pytest.approx(0.2, abs=0.01)
    assert relevance["time_left_seconds"] == pytest.approx(4 * 86400, rel=0.05)


def test_status_table_is_plain_when_piped(stack):
    result = status(stack)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "\x1b[" not in result.stdout
    assert lines[0].split() == [
        "SERVICE",
        "SLO",
        "OBJECTIVE",
        "SLI",
        "BUDGET",
        "LEFT",
        "TIME",
        "LEFT",
        "BURN",
        "1H",
        "BURN",
        "6H",
        "ALERT",
    ]
    assert [line for line in lines if line.startswith("[")] == [
        "[application]",
        "[model]",
        "[vector-db]",
    ]
    assert lines[-1].split()[:5] == [
        "retrieval",
        "relevance",
        "99.000%",
        "99.800%",
        "80.0%",
    ]
    assert lines[-1].split()[-1] == "ok"


def test_status_table_is_coloured_on_a_terminal(stack):
    result = CliRunner().invoke(
        main, ["status", "--prometheus", stack.url, str(stack.specs)], color=True
    )

    assert "\x1b[31m" in result.stdout  # the paging SLO in red
    assert "\x1b[32m" in result.stdout  # the healthy one in green


def test_status_without_prometheus_is_a_usage_error(stack):
    result = CliRunner().invoke(main, ["status", str(stack.specs)])

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: missing option '--prometheus'"


def test_report_page_has_a_summary_and_two_plots_per_plotted_slo(stack, tmp_path):
    result = CliRunner().invoke(
        main,
        ["report", "--prometheus", stack.url, str(stack.specs), "--out", str(tmp_path)],
    )

    assert result.exit_code == 0, result.output
    assert result.stderr == f"wrote {tmp_path / 'index.html'}\n"
    page = (tmp_path / "index.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 6
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert page.count("<tr>") >= 4
    assert "http://" not in page.replace(stack.url, "")
    assert "https://" not in page
    chat = page[page.index('<section id="chat-availability">') :]
    assert '<td class="page">page</td>' in chat.split("</section>")[0]
