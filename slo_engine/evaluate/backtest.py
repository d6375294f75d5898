"""Replay SLO alert policies over a history of event counts, and score them.

The replay evaluates every pair of every policy at every step with the same
maths as the compiled rules (`evaluate/burn.py`), turns the steps where a
pair holds into alert episodes, and matches them to real incidents: how
long each took to detect, which went unseen, which pages had no incident.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import structlog
from tqdm import tqdm

from slo_engine.evaluate.burn import BoolArray, iter_policy_rows, steps_in
from slo_engine.evaluate.history import (
    History,
    Incident,
    fetch_history,
    load_incidents,
    read_csv,
)
from slo_engine.model import SLO, BurnRateWindow, Severity
from slo_engine.spec.loader import load_paths
from slo_engine.spec.policy import load_policy

__all__ = [
    "AlertEpisode",
    "BacktestReport",
    "HistorySource",
    "IncidentOutcome",
    "PolicyResult",
    "backtest",
    "budget_spent",
    "episodes_of",
    "match_incidents",
    "replay",
    "run_backtest",
]

log = structlog.get_logger(__name__)

Progress = Callable[[int], object]


@dataclass(frozen=True)
class AlertEpisode:
    """One alert that would have fired: a pair holding over consecutive steps.

    `end` is when it would have resolved, or None when it still fired at the
    end of the history. `budget_consumed` is the share of the SLO window's
    error budget spent while it fired (bad events over the budget's events).
    """

    slo_id: str
    pair: BurnRateWindow
    start: datetime
    end: datetime | None
    budget_consumed: float

    @property
    def severity(self) -> Severity:
        """Whether this alert pages or opens a ticket."""
        return self.pair.severity


@dataclass(frozen=True)
class IncidentOutcome:
    """How a policy did on one real incident: detected when, or missed."""

    incident: Incident
    detected_by: AlertEpisode | None
    budget_consumed: float

    @property
    def is_missed(self) -> bool:
        """No alert fired while the incident lasted."""
        return self.detected_by is None

    @property
    def detection_time(self) -> timedelta | None:
        """From the incident's start to its first alert; 0 if already firing."""
        if self.detected_by is None:
            return None
        return max(self.detected_by.start - self.incident.start, timedelta())


@dataclass(frozen=True)
class PolicyResult:
    """What one policy would have done over the history."""

    name: str
    alerts: tuple[AlertEpisode, ...]
    outcomes: tuple[IncidentOutcome, ...] = ()
    false_pages: tuple[AlertEpisode, ...] = ()

    def count(self, severity: Severity) -> int:
        """How many alerts of `severity` would have fired."""
        return sum(1 for alert in self.alerts if alert.severity is severity)

    @property
    def missed(self) -> tuple[IncidentOutcome, ...]:
        """The incidents no alert saw."""
        return tuple(outcome for outcome in self.outcomes if outcome.is_missed)

    @property
    def median_detection(self) -> timedelta | None:
        """The median detection time of the detected incidents."""
        seconds = [
            o.detection_time.total_seconds()
            for o in self.outcomes
            if o.detection_time is not None
        ]
        return timedelta(seconds=statistics.median(seconds)) if seconds else None


@dataclass(frozen=True)
class BacktestReport:
    """The replay of the SLOs' own policies and, optionally, an alternative."""

    start: datetime
    end: datetime
    step: timedelta
    results: tuple[PolicyResult, ...]
    incidents: tuple[Incident, ...] = ()


def run_backtest(
    paths: Sequence[str | Path],
    source: HistorySource,
    incidents_file: Path | None = None,
    policy_file: Path | None = None,
    show_progress: bool = False,
) -> BacktestReport:
    """Load the specs, read their history, and replay their policies over it.

    `source` is a CSV file or a Prometheus query; with `policy_file`, its
    pairs are replayed in place of each SLO's own, side by side.

    Raises:
        SpecError: a spec or the policy file is invalid.
        HistoryError: the CSV or the incidents file is invalid.
        QueryError: Prometheus could not be queried.
    """
    slos = [slo for spec in load_paths(paths) for slo in spec.slos]
    history = source.read(slos)
    incidents = load_incidents(incidents_file, slos) if incidents_file else []
    alternative = load_policy(policy_file) if policy_file else None

    runs = len(slos) * (1 if alternative is None else 2)
    with tqdm(total=runs, unit="SLO", disable=None if show_progress else True) as bar:
        return backtest(slos, history, incidents, alternative, bar.update)


@dataclass(frozen=True)
class HistorySource:
    """Where a replay's history comes from: a CSV file, or Prometheus."""

    step: timedelta
    csv: Path | None = None
    prometheus: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def read(self, slos: Sequence[SLO]) -> History:
        """The history of `slos` on this source's step grid."""
        if self.csv is not None:
            return read_csv(self.csv, slos, self.step)
        if self.start is None or self.end is None:
            raise ValueError("a Prometheus history needs a start and an end")
        return fetch_history(self.prometheus, slos, self.start, self.end, self.step)


def backtest(
    slos: Sequence[SLO],
    history: History,
    incidents: Sequence[Incident] = (),
    alternative: tuple[BurnRateWindow, ...] | None = None,
    progress: Progress | None = None,
) -> BacktestReport:
    """Replay each SLO's policy, and `alternative` in its place when given."""
    policies = [("default", list(slos))]
    if alternative is not None:
        replaced = [dataclasses.replace(slo, policy=alternative) for slo in slos]
        policies.append(("alternative", replaced))

    results = []
    for name, replayed in policies:
        alerts = replay(replayed, history, progress)
        outcomes, false_pages = match_incidents(alerts, incidents, replayed, history)
        results.append(PolicyResult(name, tuple(alerts), outcomes, false_pages))
        log.info("backtest_replayed", policy=name, slos=len(slos), alerts=len(alerts))
    end = history.time_at(history.steps - 1)
    return BacktestReport(
        history.start, end, history.step, tuple(results), tuple(incidents)
    )


def replay(
    slos: Sequence[SLO], history: History, progress: Progress | None = None
) -> list[AlertEpisode]:
    """Every alert the SLOs' policies would have fired over `history`.

    SLOs that share a policy are evaluated together, one row of counts at a
    time with reused buffers; `progress` is told how many SLOs are done.
    """
    by_policy: dict[tuple[BurnRateWindow, ...], list[SLO]] = {}
    for slo in slos:
        by_policy.setdefault(slo.policy, []).append(slo)

    alerts: list[AlertEpisode] = []
    for policy, group in by_policy.items():
        rows = [(history.row(s.slo_id), s.error_budget, s.min_events) for s in group]
        by_row = {history.row(slo.slo_id): slo for slo in group}
        evaluated = iter_policy_rows(
            policy, rows, history.bad, history.total, history.step
        )
        for row, firing in evaluated:
            alerts.extend(_episodes(by_row[row], history, row, firing))
            if progress is not None:
                progress(1)
    return sorted(alerts, key=lambda a: (a.slo_id, a.start, a.pair.long_window))


def episodes_of(firing: BoolArray) -> list[tuple[int, int]]:
    """The runs of consecutive true steps: (first step, step after the last)."""
    if not firing.any():
        return []
    edges = np.flatnonzero(firing[1:] != firing[:-1]) + 1
    bounds = np.concatenate(([0], edges, [len(firing)]))
    runs = itertools.pairwise(bounds.tolist())
    return [(a, b) for a, b in runs if firing[a]]


def _episodes(
    slo: SLO, history: History, row: int, firing: list[BoolArray]
) -> Iterable[AlertEpisode]:
    for pair, holds in zip(slo.policy, firing, strict=True):
        for first, after in episodes_of(holds):
            end = history.time_at(after) if after < history.steps else None
            consumed = budget_spent(slo, history, first, after)
            yield AlertEpisode(slo.slo_id, pair, history.time_at(first), end, consumed)


def budget_spent(slo: SLO, history: History, first: int, after: int) -> float:
    """The share of the SLO window's error budget spent in steps `first:after`.

    The budget is counted in events: the error budget times the events of
    the SLO window that ends with the span.
    """
    row = history.row(slo.slo_id)
    window = steps_in(slo.window, history.step)
    bad = float(history.bad[row, first:after].sum())
    total = float(history.total[row, max(0, after - window) : after].sum())
    budget = slo.error_budget * total
    return bad / budget if budget > 0 else 0.0


def match_incidents(
    alerts: Sequence[AlertEpisode],
    incidents: Sequence[Incident],
    slos: Sequence[SLO],
    history: History,
) -> tuple[tuple[IncidentOutcome, ...], tuple[AlertEpisode, ...]]:
    """Pair incidents with the alerts that fired while they lasted.

    An alert detects an incident when it fires at some time between the
    incident's start and end (one already firing at the start detects it at
    once). A page that overlaps no incident of its SLO is a false page.
    Without incidents there is nothing to compare, and no page is false.
    """
    if not incidents:
        return (), ()
    by_id = {slo.slo_id: slo for slo in slos}
    alerts_of: dict[str, list[int]] = {}
    for index, alert in enumerate(alerts):
        alerts_of.setdefault(alert.slo_id, []).append(index)

    outcomes = []
    matched: set[int] = set()
    for incident in incidents:
        overlapping = [
            (alerts[index].start, index)
            for index in alerts_of.get(incident.slo, [])
            if _overlaps(alerts[index], incident)
        ]
        matched.update(index for _, index in overlapping)
        first = alerts[min(overlapping)[1]] if overlapping else None
        first_step, after = _steps_of(history, incident)
        consumed = budget_spent(by_id[incident.slo], history, first_step, after)
        outcomes.append(IncidentOutcome(incident, first, consumed))

    false_pages = tuple(
        alert
        for index, alert in enumerate(alerts)
        if alert.severity is Severity.PAGE and index not in matched
    )
    return tuple(outcomes), false_pages


def _overlaps(alert: AlertEpisode, incident: Incident) -> bool:
    still_firing = alert.end is None or alert.end > incident.start
    return alert.start <= incident.end and still_firing


def _steps_of(history: History, incident: Incident) -> tuple[int, int]:
    """The steps whose events fall within the incident: `first:after`."""
    first = -((history.start - incident.start) // history.step)
    after = (incident.end - history.start) // history.step + 1
    return max(first, 0), min(max(after, 0), history.steps)
