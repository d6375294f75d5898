"""What the engine reasons about: SLOs, SLIs, objectives and burn-rate windows.

Everything here is frozen and free of I/O. The spec layer builds these values
from YAML; the compiler, the evaluator and the notifiers only read them.
Objectives are ratios (0.999), never percents; durations are `timedelta`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeAlias

__all__ = [
    "SLI",
    "SLO",
    "AlertTarget",
    "Alerting",
    "BurnRateWindow",
    "EventsSLI",
    "Labels",
    "LatencySLI",
    "Layer",
    "Matcher",
    "RatioSLI",
    "RawSLI",
    "ScoreSLI",
    "Selector",
    "Severity",
]

Labels: TypeAlias = tuple[tuple[str, str], ...]
"""Label pairs sorted by name, so that equal label sets compare equal."""


class Layer(enum.StrEnum):
    """Where in an LLM application the SLO lives."""

    APPLICATION = "application"
    ORCHESTRATION = "orchestration"
    MODEL = "model"
    VECTOR_DB = "vector-db"
    INFRASTRUCTURE = "infrastructure"


class Severity(enum.StrEnum):
    """Who is told: a page wakes someone, a ticket waits for working hours."""

    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a series selector, e.g. `status=~"5.."`."""

    name: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    """A metric name and its label matchers: one set of counter series."""

    metric: str
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class RatioSLI:
    """Counters of events: `total`, and either the `bad` or the `good` ones."""

    total: Selector
    bad: Selector | None = None
    good: Selector | None = None


@dataclass(frozen=True)
class LatencySLI:
    """A latency histogram; an event is good when it took at most `threshold`.

    `threshold` is in the histogram's unit (seconds for OpenTelemetry) and must
    be one of its bucket bounds.
    """

    metric: str
    threshold: float
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class ScoreSLI:
    """A histogram of scores; good above (or at most) `threshold`.

    With `good_above`, a score equal to the threshold is bad: histogram
    buckets count values less than or equal to their bound.
    """

    metric: str
    threshold: float
    good_above: bool
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class EventsSLI:
    """Raw PromQL rates of bad and total events; `{{ window }}` is filled in."""

    error_query: str
    total_query: str


@dataclass(frozen=True)
class RawSLI:
    """A raw PromQL error ratio; `{{ window }}` is filled in.

    Limitations:
        Without event counts, long windows average the 5m ratio over time,
        and `min_events` cannot apply.
    """

    error_ratio_query: str


SLI: TypeAlias = RatioSLI | LatencySLI | ScoreSLI | EventsSLI | RawSLI


@dataclass(frozen=True)
class BurnRateWindow:
    """One alert condition: burn faster than `burn_rate` over both windows."""

    severity: Severity
    long_window: timedelta
    short_window: timedelta
    burn_rate: float

    def budget_share(self, period: timedelta) -> float:
        """Share of the period's budget spent when the long window fires."""
        return self.burn_rate * (self.long_window / period)


@dataclass(frozen=True)
class AlertTarget:
    """The page or the ticket alert: extra labels, annotations, on or off."""

    labels: Labels = ()
    annotations: Labels = ()
    enabled: bool = True


@dataclass(frozen=True)
class Alerting:
    """How an SLO's alerts are named and labelled."""

    name: str
    labels: Labels = ()
    annotations: Labels = ()
    page: AlertTarget = field(default_factory=AlertTarget)
    ticket: AlertTarget = field(default_factory=AlertTarget)

    def target(self, severity: Severity) -> AlertTarget:
        """The page or ticket settings for `severity`."""
        return self.page if severity is Severity.PAGE else self.ticket


@dataclass(frozen=True)
class SLO:
    """A service level objective with everything needed to compile it."""

    service: str
    name: str
    objective: float
    sli: SLI
    alerting: Alerting
    policy: tuple[BurnRateWindow, ...]
    window: timedelta = timedelta(days=30)
    layer: Layer = Layer.APPLICATION
    description: str = ""
    labels: Labels = ()
    min_events: int | None = None
    depends_on: tuple[str, ...] = ()

    @property
    def slo_id(self) -> str:
        """The identifier every generated series carries: `<service>-<name>`."""
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> float:
        """The share of events allowed to be bad: 1 - objective."""
        return 1.0 - self.objective
