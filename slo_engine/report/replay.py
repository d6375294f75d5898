"""Show a backtest: every alert that would have fired, incidents, and a summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from slo_engine.durations import format_duration
from slo_engine.evaluate.backtest import (
    AlertEpisode,
    BacktestReport,
    IncidentOutcome,
    PolicyResult,
)
from slo_engine.model import Severity

__all__ = ["render_backtest_json", "render_backtest_text"]


def render_backtest_text(report: BacktestReport) -> str:
    """Alerts per policy, incident outcomes, and the policies side by side."""
    period = f"{_time(report.start)} to {_time(report.end)}"
    lines = [f"replayed {period} every {format_duration(report.step)}"]
    for result in report.results:
        lines += ["", f"{result.name} policy: {len(result.alerts)} alerts"]
        lines += [f"  {_alert_line(alert)}" for alert in result.alerts]
        for outcome in result.outcomes:
            lines.append(f"  {_outcome_line(outcome.incident.slo, outcome)}")
    lines += ["", *_summary(report.results, bool(report.incidents))]
    return "\n".join(lines)


def _alert_line(alert: AlertEpisode) -> str:
    end = _time(alert.end) if alert.end else "still firing"
    windows = f"{_span(alert.pair.long_window)}/{_span(alert.pair.short_window)}"
    spent = f"{alert.budget_consumed * 100:.1f}% of budget"
    return (
        f"{alert.slo_id}  {alert.severity.value:<6} {windows:<8} "
        f"{_time(alert.start)} -> {end}  {spent}"
    )


def _outcome_line(slo_id: str, outcome: IncidentOutcome) -> str:
    started = _time(outcome.incident.start)
    spent = f"spent {outcome.budget_consumed * 100:.1f}% of budget"
    if outcome.detected_by is None:
        return f"incident {slo_id} at {started}: MISSED ({spent})"
    detection = _span(outcome.detection_time)
    severity = outcome.detected_by.severity.value
    detected = f"detected in {detection} by a {severity}"
    return f"incident {slo_id} at {started}: {detected} ({spent})"


def _summary(results: Sequence[PolicyResult], scored: bool) -> list[str]:
    rows = [("", *(result.name for result in results))]
    rows.append(("pages", *(str(r.count(Severity.PAGE)) for r in results)))
    rows.append(("tickets", *(str(r.count(Severity.TICKET)) for r in results)))
    if scored:
        rows.append(("detected", *(_detected(r) for r in results)))
        rows.append(("missed", *(str(len(r.missed)) for r in results)))
        medians = (_span(r.median_detection) for r in results)
        rows.append(("median detection", *medians))
        rows.append(("false pages", *(str(len(r.false_pages)) for r in results)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [_padded(row, widths) for row in rows]


def _padded(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _detected(result: PolicyResult) -> str:
    return str(len(result.outcomes) - len(result.missed))


def _span(value: timedelta | None) -> str:
    if value is None:
        return "-"
    if value <= timedelta():
        return "0m"
    return format_duration(timedelta(seconds=int(value.total_seconds())))


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def render_backtest_json(report: BacktestReport) -> str:
    """The backtest as JSON: per policy, its alerts, incident outcomes, counts."""
    return json.dumps(
        {
            "start": _time(report.start),
            "end": _time(report.end),
            "step_seconds": report.step.total_seconds(),
            "policies": [_result_json(result) for result in report.results],
        },
        indent=2,
    )


def _result_json(result: PolicyResult) -> dict[str, object]:
    return {
        "name": result.name,
        "pages": result.count(Severity.PAGE),
        "tickets": result.count(Severity.TICKET),
        "alerts": [_alert_json(alert) for alert in result.alerts],
        "incidents": [
            {
                "slo": o.incident.slo,
                "start": _time(o.incident.start),
                "end": _time(o.incident.end),
                "missed": o.is_missed,
                "detection_seconds": (
                    None
                    if o.detection_time is None
                    else o.detection_time.total_seconds()
                ),
                "budget_consumed": o.budget_consumed,
            }
            for o in result.outcomes
        ],
        "false_pages": [_alert_json(alert) for alert in result.false_pages],
    }


def _alert_json(alert: AlertEpisode) -> dict[str, object]:
    return {
        "slo": alert.slo_id,
        "severity": alert.severity.value,
        "long_window": format_duration(alert.pair.long_window),
        "short_window": format_duration(alert.pair.short_window),
        "burn_rate": alert.pair.burn_rate,
        "start": _time(alert.start),
        "end": _time(alert.end) if alert.end else None,
        "budget_consumed": alert.budget_consumed,
    }
