"""The burn-rate window table and its maths, shared by the compiler and the evaluator.

Source: Google SRE Workbook, chapter 5 "Alerting on SLOs", section 6
"Multiwindow, Multi-Burn-Rate Alerts" (https://sre.google/workbook/alerting-on-slos/).
The workbook states its policy for a 30-day window as burn rates; the table
below keeps the budget share each pair stands for, from which the burn rate
follows for any window: burn rate = share x SLO window / long window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slo_engine.model import BurnRateWindow, Severity

__all__ = [
    "DEFAULT_WINDOWS",
    "WindowSpec",
    "default_policy",
    "detection_time",
    "threshold",
]


@dataclass(frozen=True)
class WindowSpec:
    """A row of the window table: who is told, over which windows, for what share."""

    severity: Severity
    long_window: timedelta
    short_window: timedelta
    budget_share: float


# Severity, long window, short window, share of the budget spent when it fires.
# For a 30-day window the shares give the workbook's 14.4x, 6x, 3x and 1x.
DEFAULT_WINDOWS: tuple[WindowSpec, ...] = (
    WindowSpec(Severity.PAGE, timedelta(hours=1), timedelta(minutes=5), 0.02),
    WindowSpec(Severity.PAGE, timedelta(hours=6), timedelta(minutes=30), 0.05),
    WindowSpec(Severity.TICKET, timedelta(days=1), timedelta(hours=2), 0.10),
    WindowSpec(Severity.TICKET, timedelta(days=3), timedelta(hours=6), 0.10),
)


def default_policy(period: timedelta) -> tuple[BurnRateWindow, ...]:
    """The workbook policy for an SLO window of `period`.

    Each burn rate is scaled so that the pair still fires after the same share
    of the budget is spent: 14.4x over 1h on 30 days becomes 3.36x on 7 days.
    """
    return tuple(
        BurnRateWindow(
            severity=row.severity,
            long_window=row.long_window,
            short_window=row.short_window,
            burn_rate=round(row.budget_share * (period / row.long_window), 9),
        )
        for row in DEFAULT_WINDOWS
    )


def threshold(window: BurnRateWindow, error_budget: float) -> float:
    """The error ratio above which `window` fires: burn rate x error budget."""
    return window.burn_rate * error_budget


def detection_time(window: BurnRateWindow, burn: float) -> timedelta:
    """How long an incident burning at `burn` takes to trip the long window.

    From the workbook: detection time = long window x burn rate / burn, for a
    burn at least the pair's burn rate starting from a clean window.
    """
    if burn < window.burn_rate:
        raise ValueError(f"burn {burn!r} is below the pair's rate {window.burn_rate!r}")
    return window.long_window * (window.burn_rate / burn)
