"""Budget burn-down and burn-rate plots for the report, drawn with matplotlib's Agg.

Figures are built without `pyplot`, so no global state or display is
touched, and come back as base64 PNG ready for an `<img>` data URL.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
from matplotlib import dates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from slo_engine.evaluate.backtest import AlertEpisode
from slo_engine.evaluate.burn import FloatArray
from slo_engine.model import BurnRateWindow, Severity

__all__ = ["BurnSeries", "Times", "burn_down_png", "burn_rate_png"]

_ALERT_COLOURS = {Severity.PAGE: "#d62728", Severity.TICKET: "#ff7f0e"}
_SIZE = (9.0, 3.0)

# matplotlib's date converter ships without annotations.
_date_number = cast(Callable[[object], float], dates.date2num)

Times = npt.NDArray[np.datetime64]
"""Step end times in UTC, as naive `datetime64[s]` (matplotlib's date axis)."""


@dataclass(frozen=True)
class BurnSeries:
    """The burn rate over one window, step by step, and the pairs it feeds."""

    label: str
    values: FloatArray
    pairs: tuple[BurnRateWindow, ...]


def burn_down_png(
    times: Times,
    remaining: FloatArray,
    alerts: Sequence[AlertEpisode],
    title: str,
) -> str:
    """The share of the budget left over the window, with alerts shaded."""
    figure = Figure(figsize=_SIZE, dpi=100)
    axes = figure.add_subplot()
    axes.plot(times, remaining * 100, color="#1f77b4", linewidth=1.5)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_ylabel("budget left (%)")
    axes.set_title(title, fontsize=10)
    _mark_alerts(axes, times, alerts)
    return _png(figure)


def burn_rate_png(
    times: Times,
    series: Sequence[BurnSeries],
    alerts: Sequence[AlertEpisode],
    title: str,
) -> str:
    """Burn rates over the policy's long windows, each with its thresholds."""
    figure = Figure(figsize=_SIZE, dpi=100)
    axes = figure.add_subplot()
    for line in series:
        drawn = axes.plot(times, line.values, linewidth=1.2, label=line.label)
        for pair in line.pairs:
            axes.axhline(
                pair.burn_rate,
                color=drawn[0].get_color(),
                linestyle="--",
                linewidth=0.8,
            )
    axes.set_yscale("symlog", linthresh=1.0)
    axes.set_ylabel("burn rate (x budget)")
    axes.set_title(title, fontsize=10)
    if series:
        axes.legend(loc="upper left", fontsize=8)
    _mark_alerts(axes, times, alerts)
    return _png(figure)


def _mark_alerts(axes: Axes, times: Times, alerts: Sequence[AlertEpisode]) -> None:
    """Shade the time each alert fired, red for pages, orange for tickets."""
    if not len(times):
        return
    last = float(_date_number(times[-1]))
    for alert in alerts:
        start = float(_date_number(alert.start))
        end = last if alert.end is None else float(_date_number(alert.end))
        colour = _ALERT_COLOURS[alert.severity]
        axes.axvspan(start, end, color=colour, alpha=0.2, linewidth=0)
        axes.axvline(start, color=colour, linewidth=1.0)


def _png(figure: Figure) -> str:
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
