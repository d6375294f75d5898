"""Turn one SLO into its rule groups: SLI records, budget records and alerts.

Rules in a group run in order at one timestamp, so records come before the
records and alerts that read them. An SLO with event counts gets two groups:

- `slo-<id>-events`, every 2m30s: the bad and total event rates over 5m, and
  from them the long windows (1d, 3d, the SLO window) and the budget left;
- `slo-<id>`, at Prometheus's evaluation interval: the short windows from
  `rate()` over the raw series, the objective, and the alerts.

Recording the 5m rates every 2m30s covers every minute exactly twice, so a
sum over time of those samples is an exact ratio of sums, while storing a
fifth of the samples a 30s interval would: the long windows, which range
over days, read that much less. Samples at most 2m30s old are always within
Prometheus's 5m lookback, so the alerts read them as current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slo_engine import conventions as names
from slo_engine.compiler import promql
from slo_engine.durations import format_duration
from slo_engine.model import SLO, BurnRateWindow, Labels, RawSLI, Severity
from slo_engine.windows import threshold

__all__ = [
    "EVENTS_INTERVAL",
    "NO_DATA_FOR",
    "RAW_RANGE_LIMIT",
    "Rule",
    "RuleGroup",
    "all_rules",
    "build_groups",
    "events_in",
    "slo_labels",
    "windows_of",
]

# Windows up to this length read the raw series with rate(); longer ones are
# built from the recorded 5m rates so that no query ranges over raw series
# for days.
RAW_RANGE_LIMIT = timedelta(hours=6)

# Half the base window: each 5m rate overlaps the next by exactly half, so
# every instant is counted twice and sums over time stay exact.
EVENTS_INTERVAL = names.BASE_WINDOW / 2

# The SLI-missing alert waits this long so that a restart or one failed
# scrape does not page.
NO_DATA_FOR = timedelta(minutes=10)


@dataclass(frozen=True)
class Rule:
    """A recording rule (`record`) or an alerting rule (`alert`)."""

    expr: str
    record: str = ""
    alert: str = ""
    for_: timedelta | None = None
    labels: Labels = ()
    annotations: Labels = ()


@dataclass(frozen=True)
class RuleGroup:
    """A named list of rules that Prometheus evaluates in order.

    `interval` is None for Prometheus's global evaluation interval.
    """

    name: str
    rules: tuple[Rule, ...]
    interval: timedelta | None = None


def slo_labels(slo: SLO) -> Labels:
    """The labels every series and alert of `slo` carries."""
    own = {
        names.LABEL_SLO_SERVICE: slo.service,
        names.LABEL_SLO_NAME: slo.name,
        names.LABEL_SLO_ID: slo.slo_id,
    }
    return tuple(sorted({**dict(slo.labels), **own}.items()))


def windows_of(slo: SLO) -> tuple[timedelta, ...]:
    """Every window the SLO records, shortest first: the base 5m, the
    policy's long and short windows, and the SLO window itself."""
    windows = {names.BASE_WINDOW, slo.window}
    for pair in slo.policy:
        windows.update((pair.long_window, pair.short_window))
    return tuple(sorted(windows))


def build_groups(slo: SLO) -> tuple[RuleGroup, ...]:
    """The SLO's rule groups: the events group (when it has event counts),
    then the main group with the alerts."""
    labels = slo_labels(slo)
    windows = windows_of(slo)
    budget = [_ratio_record(slo, w, labels) for w in windows if w > RAW_RANGE_LIMIT]
    budget.append(_budget_remaining(slo, labels))

    main = [_ratio_record(slo, w, labels) for w in windows if w <= RAW_RANGE_LIMIT]
    if not promql.has_event_counts(slo.sli):
        # A raw ratio has no events to record: its long windows average the
        # main group's 5m ratio, in that group.
        main += budget
    main += _target_records(slo, labels)
    main += [_burn_alert(slo, pair) for pair in slo.policy]
    main.append(_no_data_alert(slo))
    main_group = RuleGroup(names.group_name(slo.slo_id), tuple(main))
    if not promql.has_event_counts(slo.sli):
        return (main_group,)

    events = (*_event_records(slo, labels), *budget)
    name = names.events_group_name(slo.slo_id)
    return (RuleGroup(name, events, EVENTS_INTERVAL), main_group)


def all_rules(slo: SLO) -> tuple[Rule, ...]:
    """Every rule of the SLO, its groups one after the other."""
    return tuple(rule for group in build_groups(slo) for rule in group.rules)


def _event_records(slo: SLO, labels: Labels) -> list[Rule]:
    base = names.BASE_WINDOW
    return [
        Rule(
            promql.bad_rate(slo.sli, base),
            record=names.record_bad_events(base),
            labels=labels,
        ),
        Rule(
            promql.total_rate(slo.sli, base),
            record=names.record_total_events(base),
            labels=labels,
        ),
    ]


def _ratio_record(slo: SLO, window: timedelta, labels: Labels) -> Rule:
    return Rule(
        _error_ratio(slo, window),
        record=names.record_error_ratio(window),
        labels=labels,
    )


def _error_ratio(slo: SLO, window: timedelta) -> str:
    if window <= RAW_RANGE_LIMIT:
        return promql.error_ratio(slo.sli, window)
    if isinstance(slo.sli, RawSLI):
        # Limitation: a raw ratio has no event counts to sum, so long windows
        # average the 5m ratio; uneven traffic skews it (see the README).
        base = promql.slo_selector(
            names.record_error_ratio(names.BASE_WINDOW), slo.slo_id
        )
        return f"avg_over_time({base}[{format_duration(window)}])"
    return promql.error_ratio_from_records(slo.slo_id, window)


def _target_records(slo: SLO, labels: Labels) -> list[Rule]:
    budget = promql.format_number(slo.error_budget)
    return [
        Rule(
            f"vector({promql.format_number(slo.objective)})",
            record=names.RECORD_OBJECTIVE,
            labels=labels,
        ),
        Rule(f"vector({budget})", record=names.RECORD_ERROR_BUDGET, labels=labels),
    ]


def _budget_remaining(slo: SLO, labels: Labels) -> Rule:
    budget = promql.format_number(slo.error_budget)
    period_ratio = promql.slo_selector(names.record_error_ratio(slo.window), slo.slo_id)
    return Rule(
        f"1 - {period_ratio} / {budget}",
        record=names.RECORD_ERROR_BUDGET_REMAINING,
        labels=labels,
    )


def _burn_alert(slo: SLO, pair: BurnRateWindow) -> Rule:
    limit = promql.format_number(threshold(pair, slo.error_budget))
    long_ratio = promql.slo_selector(
        names.record_error_ratio(pair.long_window), slo.slo_id
    )
    short_ratio = promql.slo_selector(
        names.record_error_ratio(pair.short_window), slo.slo_id
    )
    expr = f"{long_ratio} > {limit}\nand\n{short_ratio} > {limit}"
    if slo.min_events is not None:
        expr += f"\nand on()\n{events_in(slo, pair.long_window)} >= {slo.min_events}"

    long_text, short_text = (
        format_duration(pair.long_window),
        format_duration(pair.short_window),
    )
    target = slo.alerting.target(pair.severity)
    labels = {
        names.LABEL_SEVERITY: pair.severity.value,
        **dict(slo_labels(slo)),
        **dict(slo.alerting.labels),
        **dict(target.labels),
        names.LABEL_LONG_WINDOW: long_text,
        names.LABEL_SHORT_WINDOW: short_text,
    }
    summary = (
        f"{slo.service}/{slo.name} is burning its error budget at more than "
        f"{pair.burn_rate:g}x over {long_text} and {short_text}"
    )
    annotations = {"summary": summary, **_description(slo)}
    annotations.update({**dict(slo.alerting.annotations), **dict(target.annotations)})
    return Rule(
        expr,
        alert=slo.alerting.name,
        labels=tuple(sorted(labels.items())),
        annotations=tuple(sorted(annotations.items())),
    )


def events_in(slo: SLO, window: timedelta) -> str:
    """Events seen over `window`: the mean rate times the window's seconds."""
    seconds = promql.format_number(window.total_seconds())
    if window <= RAW_RANGE_LIMIT:
        return f"{promql.total_rate(slo.sli, window)} * {seconds}"
    base = promql.slo_selector(names.record_total_events(names.BASE_WINDOW), slo.slo_id)
    return f"avg_over_time({base}[{format_duration(window)}]) * {seconds}"


def _no_data_alert(slo: SLO) -> Rule:
    base = promql.slo_selector(names.record_error_ratio(names.BASE_WINDOW), slo.slo_id)
    ticket = slo.alerting.target(Severity.TICKET)
    labels = {
        names.LABEL_SEVERITY: Severity.TICKET.value,
        **dict(slo_labels(slo)),
        **dict(slo.alerting.labels),
        **dict(ticket.labels),
    }
    summary = (
        f"{slo.service}/{slo.name} has no SLI data; its error budget cannot be judged"
    )
    annotations = {
        "summary": summary,
        **_description(slo),
        **dict(slo.alerting.annotations),
    }
    return Rule(
        f"absent({base})",
        alert=names.no_data_alert_name(slo.alerting.name),
        for_=NO_DATA_FOR,
        labels=tuple(sorted(labels.items())),
        annotations=tuple(sorted(annotations.items())),
    )


def _description(slo: SLO) -> dict[str, str]:
    return {"description": slo.description} if slo.description else {}
