"""The HTML report: a summary table and, per SLO, burn-down and burn-rate plots.

One self-contained page: the plots are embedded PNG data URLs and the style
is inline, so the page opens without any network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import numpy as np

from slo_engine import conventions as names
from slo_engine.compiler.rules import windows_of
from slo_engine.durations import format_duration
from slo_engine.evaluate.backtest import AlertEpisode, replay
from slo_engine.evaluate.burn import budget_remaining, burn_rate, error_ratio, steps_in
from slo_engine.evaluate.history import History, fetch_history
from slo_engine.evaluate.prometheus import PrometheusEvaluator
from slo_engine.model import SLO, RawSLI
from slo_engine.report import plots
from slo_engine.report.status import StatusRow, status_rows
from slo_engine.spec.loader import load_paths

__all__ = ["SloSection", "plot_step", "render_report", "write_report"]

REPORT_NAME = "index.html"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SloSection:
    """One SLO's part of the report: its plots (base64 PNG) and alerts."""

    slo: SLO
    burn_down: str = ""
    burn_rates: str = ""
    alerts: tuple[AlertEpisode, ...] = ()
    note: str = ""


def write_report(
    paths: Sequence[str | Path], url: str, out: Path, at: datetime
) -> Path:
    """Query Prometheus for the specs under `paths` and write the report to `out`.

    Raises:
        SpecError: a spec is invalid.
        QueryError: Prometheus could not be queried.
        OSError: the report could not be written.
    """
    slos = [slo for spec in load_paths(paths) for slo in spec.slos]
    rows = status_rows(PrometheusEvaluator(url).evaluate(slos, at))
    sections = [_section(slo, url, at) for slo in slos]

    out.mkdir(parents=True, exist_ok=True)
    target = out / REPORT_NAME
    target.write_text(render_report(rows, sections, at), encoding="utf-8")
    return target


def plot_step(slo: SLO) -> timedelta:
    """The finest step every window of the SLO divides, at most 5m."""
    seconds = math.gcd(*(int(w.total_seconds()) for w in windows_of(slo)))
    return min(timedelta(seconds=seconds), names.BASE_WINDOW)


def _section(slo: SLO, url: str, at: datetime) -> SloSection:
    if isinstance(slo.sli, RawSLI):
        return SloSection(slo, note="a raw SLI has no event counts to plot")
    # Budget left at the window's start needs one more window of history.
    step = plot_step(slo)
    end = at - (at - _EPOCH) % step  # on the step grid, as the rules evaluate
    history = fetch_history(url, [slo], end - 2 * slo.window, end, step)
    return _plotted(slo, history)


def _plotted(slo: SLO, history: History) -> SloSection:
    bad, total = history.bad[0], history.total[0]
    shown = slice(max(0, history.steps - steps_in(slo.window, history.step)), None)
    times = _times(history)[shown]
    alerts = tuple(
        alert
        for alert in replay([slo], history)
        if alert.end is None or alert.end > history.time_at(shown.start or 0)
    )

    ratio = error_ratio(bad, total, steps_in(slo.window, history.step))
    remaining = np.asarray(budget_remaining(ratio, slo.error_budget))[shown]
    series = []
    for window in sorted({pair.long_window for pair in slo.policy}):
        long_ratio = error_ratio(bad, total, steps_in(window, history.step))
        rates = np.asarray(burn_rate(long_ratio, slo.error_budget))[shown]
        pairs = tuple(p for p in slo.policy if p.long_window == window)
        series.append(plots.BurnSeries(format_duration(window), rates, pairs))

    title = f"{slo.service}/{slo.name}"
    return SloSection(
        slo,
        burn_down=plots.burn_down_png(
            times, remaining, alerts, f"{title}: budget left"
        ),
        burn_rates=plots.burn_rate_png(times, series, alerts, f"{title}: burn rate"),
        alerts=alerts,
    )


def _times(history: History) -> plots.Times:
    start = np.datetime64(history.start.replace(tzinfo=None) - _offset(history), "s")
    step = np.timedelta64(int(history.step.total_seconds()), "s")
    return start + step * np.arange(history.steps)


def _offset(history: History) -> timedelta:
    return history.start.utcoffset() or timedelta()


def render_report(
    rows: Sequence[StatusRow], sections: Sequence[SloSection], at: datetime
) -> str:
    """The report page for `rows` and `sections`, generated at `at`."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("slo_engine.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = _percent
    environment.filters["duration"] = _duration
    environment.filters["minute"] = _minute
    template = environment.get_template("report.html.j2")
    return template.render(rows=rows, sections=sections, at=at.isoformat())


def _minute(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def _percent(ratio: float, digits: int = 2) -> str:
    return "-" if math.isnan(ratio) else f"{ratio * 100:.{digits}f}%"


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    whole = timedelta(minutes=int(value.total_seconds() // 60))
    return format_duration(whole) if whole > timedelta() else "0m"
