"""Where every budget stands now: one row per SLO, as a table or as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import click

from slo_engine.durations import format_duration
from slo_engine.evaluate.prometheus import BudgetState, PrometheusEvaluator
from slo_engine.model import Layer, Severity
from slo_engine.spec.loader import load_paths

__all__ = ["StatusRow", "collect_status", "render_json", "render_table", "status_rows"]

_HOUR = timedelta(hours=1)
_SIX_HOURS = timedelta(hours=6)
_LAYERS = list(Layer)


@dataclass(frozen=True)
class StatusRow:
    """One SLO's budget at one instant, ready to show.

    Ratios are NaN when Prometheus had no data for them; `alert` is `page`,
    `ticket`, `ok` or `unknown` (no SLI data at all: never shown as healthy).
    """

    service: str
    slo: str
    layer: Layer
    objective: float
    sli: float
    budget_remaining: float
    time_left: timedelta | None
    burn_1h: float
    burn_6h: float
    alert: str


def collect_status(
    paths: Sequence[str | Path], url: str, at: datetime
) -> list[StatusRow]:
    """Load the specs under `paths` and read every budget from Prometheus at `at`.

    Raises:
        SpecError: a spec is invalid.
        QueryError: Prometheus could not be queried.
    """
    slos = [slo for spec in load_paths(paths) for slo in spec.slos]
    return status_rows(PrometheusEvaluator(url).evaluate(slos, at))


def status_rows(states: Sequence[BudgetState]) -> list[StatusRow]:
    """Rows grouped by layer, and within a layer the least budget left first."""
    rows = [_row(state) for state in states]
    return sorted(rows, key=_order)


def _row(state: BudgetState) -> StatusRow:
    slo = state.slo
    ratio = state.ratios.get(slo.window, math.nan)
    return StatusRow(
        service=slo.service,
        slo=slo.name,
        layer=slo.layer,
        objective=slo.objective,
        sli=1.0 - ratio,
        budget_remaining=state.budget_remaining,
        time_left=state.time_left(_HOUR),
        burn_1h=state.burn_rate(_HOUR),
        burn_6h=state.burn_rate(_SIX_HOURS),
        alert=_alert(state),
    )


def _alert(state: BudgetState) -> str:
    if not state.known:
        return "unknown"
    severities = {pair.severity for pair in state.firing()}
    for severity in (Severity.PAGE, Severity.TICKET):
        if severity in severities:
            return severity.value
    return "ok"


def _order(row: StatusRow) -> tuple[int, int, float, str, str]:
    # Unknown budgets sort first in their layer: no data is never healthy.
    unknown = math.isnan(row.budget_remaining)
    left = -math.inf if unknown else row.budget_remaining
    return (_LAYERS.index(row.layer), 0 if unknown else 1, left, row.service, row.slo)


# ---- rendering -----------------------------------------------------------------

_HEADERS = (
    "SERVICE",
    "SLO",
    "OBJECTIVE",
    "SLI",
    "BUDGET LEFT",
    "TIME LEFT",
    "BURN 1H",
    "BURN 6H",
    "ALERT",
)
_COLOURS = {"page": "red", "ticket": "yellow", "ok": "green", "unknown": "magenta"}


def render_table(rows: Sequence[StatusRow]) -> str:
    """A table grouped by layer, with ANSI colours (`click.echo` strips them
    when the output is not a terminal)."""
    cells = [_cells(row) for row in rows]
    widths = [
        max(len(text) for text in column)
        for column in zip(_HEADERS, *cells, strict=False)
    ]
    lines = [click.style(_line(_HEADERS, widths), bold=True)]
    layer = None
    for row, texts in zip(rows, cells, strict=True):
        if row.layer != layer:
            layer = row.layer
            lines.append(click.style(f"[{layer.value}]", bold=True))
        lines.append(click.style(_line(texts, widths), fg=_colour(row)))
    return "\n".join(lines)


def _colour(row: StatusRow) -> str:
    if row.alert != "ok":
        return _COLOURS[row.alert]
    # Healthy, but with under a quarter of the budget left: worth a look.
    return "yellow" if row.budget_remaining < 0.25 else "green"


def _line(texts: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(t.ljust(w) for t, w in zip(texts, widths, strict=True)).rstrip()


def _cells(row: StatusRow) -> tuple[str, ...]:
    return (
        row.service,
        row.slo,
        _percent(row.objective, 3),
        _percent(row.sli, 3),
        _percent(row.budget_remaining, 1),
        _duration(row.time_left),
        _burn(row.burn_1h),
        _burn(row.burn_6h),
        row.alert,
    )


def _percent(ratio: float, digits: int) -> str:
    return "-" if math.isnan(ratio) else f"{ratio * 100:.{digits}f}%"


def _burn(rate: float) -> str:
    return "-" if math.isnan(rate) else f"{rate:.2f}x"


def _duration(left: timedelta | None) -> str:
    if left is None:
        return "-"
    whole = timedelta(minutes=int(left.total_seconds() // 60))
    return format_duration(whole) if whole > timedelta() else "0m"


def render_json(rows: Sequence[StatusRow]) -> str:
    """The rows as a JSON list; NaN becomes null, durations are seconds."""
    return json.dumps([_json(row) for row in rows], indent=2)


def _json(row: StatusRow) -> dict[str, object]:
    return {
        "service": row.service,
        "slo": row.slo,
        "layer": row.layer.value,
        "objective": row.objective,
        "sli": _number(row.sli),
        "budget_remaining": _number(row.budget_remaining),
        "time_left_seconds": (
            None if row.time_left is None else row.time_left.total_seconds()
        ),
        "burn_rate_1h": _number(row.burn_1h),
        "burn_rate_6h": _number(row.burn_6h),
        "alert": row.alert,
    }


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value
