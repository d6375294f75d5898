"""The backtest fires at the minute Prometheus does, on the same history.

The rules come from the compiler, the input series are the synthetic
history written as counters, and `promtool test rules` checks the alert at
the backtest's first firing minute and its absence one step earlier.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import yaml

from slo_engine.compiler import Format, compile_paths
from slo_engine.evaluate.backtest import replay
from slo_engine.evaluate.history import History

SPEC = """\
version: slo-engine/v1
service: chat
slos:
  - name: availability
    objective: 99
    sli:
      ratio:
        bad: llm_errors_total
        total: llm_requests_total
    alerting:
      name: ChatAvailabilityBurn
      windows:
        - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 14.4}
        - {severity: page, long_window: 6h, short_window: 30m, burn_rate: 6}
"""
MINUTE = timedelta(minutes=1)
START = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_history(minutes, burn_from, bad_per_minute):
    """Per-minute counts: 60 requests, and errors from `burn_from` on."""
    total = np.full(minutes, 60.0)
    bad = np.zeros(minutes)
    bad[burn_from:] = bad_per_minute
    total[0] = bad[0] = 0.0  # the counters' first sample has no step before it
    return bad, total


def counter(counts):
    return " ".join(f"{value:g}" for value in np.cumsum(counts))


def alerts_at(rules, slo, minute, firing_pairs):
    expected = []
    for rule in rules:
        if rule.get("alert") != slo.alerting.name:
            continue
        windows = (rule["labels"]["long_window"], rule["labels"]["short_window"])
        if windows in firing_pairs:
            expected.append(
                {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}
            )
    return {
        "eval_time": f"{minute}m",
        "alertname": slo.alerting.name,
        "exp_alerts": expected,
    }


@pytest.mark.parametrize(
    ("burn_from", "bad_per_minute"),
    [
        pytest.param(120, 12.0, id="a 20x burn trips the 1h page"),
        pytest.param(150, 5.0, id="a 8.3x burn trips the 6h page"),
        pytest.param(100, 60.0, id="a total outage trips both"),
    ],
)
def test_backtest_first_firing_minute_matches_promtool(
    tmp_path, promtool, burn_from, bad_per_minute
):
    spec = tmp_path / "chat.yaml"
    spec.write_text(SPEC)
    files, specs = compile_paths([spec], Format.PROMETHEUS)
    (tmp_path / "rules.yaml").write_text(files[0].text)
    groups = yaml.safe_load(files[0].text)["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    slo = specs[0].slos[0]

    minutes = 8 * 60
    bad, total = synthetic_history(minutes, burn_from, bad_per_minute)
    history = History(START, MINUTE, (slo.slo_id,), bad[None], total[None])
    alerts = replay([slo], history)
    assert alerts, "the synthetic incident must fire in the backtest"
    first = min(alert.start for alert in alerts)
    minute = (first - START) // MINUTE

    def pairs_at(index):
        moment = START + index * MINUTE
        return {
            (
                "1h" if a.pair.long_window == timedelta(hours=1) else "6h",
                "5m" if a.pair.short_window == timedelta(minutes=5) else "30m",
            )
            for a in alerts
            if a.start <= moment and (a.end is None or moment < a.end)
        }

    checks = [alerts_at(rules, slo, m, pairs_at(m)) for m in (minute - 1, minute)]
    assert checks[0]["exp_alerts"] == []
    assert checks[1]["exp_alerts"] != []
    test_file = tmp_path / "agreement.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules.yaml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": [
                            {"series": "llm_requests_total", "values": counter(total)},
                            {"series": "llm_errors_total", "values": counter(bad)},
                        ],
                        "alert_rule_test": checks,
                    }
                ],
            },
            sort_keys=False,
        )
    )

    done = subprocess.run(
        [promtool, "test", "rules", test_file.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
