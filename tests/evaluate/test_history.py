"""Reading replay inputs: the CSV history, incidents, times and a policy file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from slo_engine.errors import HistoryError, SpecError
from slo_engine.evaluate.history import load_incidents, parse_time, read_csv
from slo_engine.model import SLO, Alerting, RatioSLI, Selector, Severity
from slo_engine.spec.policy import load_policy
from slo_engine.windows import default_policy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def slo(name):
    return SLO(
        service="chat",
        name=name,
        objective=0.99,
        sli=RatioSLI(total=Selector("t"), bad=Selector("b")),
        alerting=Alerting(name="A"),
        policy=default_policy(timedelta(days=30)),
    )


def test_csv_rows_land_on_the_step_that_ends_after_them(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(
        "timestamp,slo,good,bad\n"
        "2026-03-01T12:00:00Z,availability,90,10\n"
        "1772366430,chat-availability,5,1\n"  # 12:00:30: counts towards 12:01
        "2026-03-01T12:01:00+00:00,availability,4,0\n"
        "2026-03-01T12:03:00Z,latency,7,0\n"
    )

    history = read_csv(
        path, [slo("availability"), slo("latency")], timedelta(minutes=1)
    )

    assert history.start == NOW
    assert history.slo_ids == ("chat-availability", "chat-latency")
    assert np.array_equal(history.total, [[100, 10, 0, 0], [0, 0, 0, 7]])
    assert np.array_equal(history.bad, [[10, 1, 0, 0], [0, 0, 0, 0]])


def test_csv_with_negative_counts_names_the_row(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("timestamp,slo,good,bad\n2026-03-01T12:00:00Z,availability,1,-1\n")

    with pytest.raises(HistoryError, match=r"h\.csv:2: good and bad must be counts"):
        read_csv(path, [slo("availability")], timedelta(minutes=1))


def test_incidents_from_csv_and_yaml_agree(tmp_path):
    (tmp_path / "i.csv").write_text(
        "slo,start,end\navailability,2026-03-01T10:00:00Z,2026-03-01T11:00:00Z\n"
    )
    (tmp_path / "i.yaml").write_text(
        "incidents:\n  - {slo: chat-availability, start: 2026-03-01T10:00:00Z,"
        " end: '2026-03-01T11:00:00+00:00'}\n"
    )

    slos = [slo("availability")]
    assert load_incidents(tmp_path / "i.csv", slos) == load_incidents(
        tmp_path / "i.yaml", slos
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-30d", NOW - timedelta(days=30)),
        ("-1h30m", NOW - timedelta(minutes=90)),
        ("2026-02-01T00:00:00Z", datetime(2026, 2, 1, tzinfo=UTC)),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text, NOW) == expected


def test_parse_time_refuses_times_without_timezone():
    with pytest.raises(ValueError, match="has no timezone"):
        parse_time("2026-02-01T00:00:00", NOW)


def test_policy_file_reads_like_alerting_windows(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "- {severity: page, long_window: 30m, short_window: 5m, burn_rate: 5}\n"
        "- {severity: tickt, long_window: 1d, short_window: 2h, burn_rate: 1}\n"
    )

    with pytest.raises(SpecError) as error:
        load_policy(path)

    assert (
        str(error.value)
        == f"{path}:2:14: windows[1].severity: expected 'page' or 'ticket', got 'tickt'"
    )
    path.write_text(
        "- {severity: page, long_window: 30m, short_window: 5m, burn_rate: 5}\n"
    )
    (pair,) = load_policy(path)
    assert pair.severity is Severity.PAGE
    assert pair.long_window == timedelta(minutes=30)
