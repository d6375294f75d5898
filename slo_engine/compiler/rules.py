"""Turn one SLO into its rule group: SLI records, budget records and alerts.

Rules in a group run in order at one timestamp, so each SLO's records come
before the records and alerts that read them, and all see the same instant.
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
    "NO_DATA_FOR",
    "RAW_RANGE_LIMIT",
    "Rule",
    "RuleGroup",
    "build_group",
    "slo_labels",
    "windows_of",
]

# Windows up to this length read the raw series with rate(); longer ones are
# built from the recorded 5m rates so that no query ranges over raw series
# for days.
RAW_RANGE_LIMIT = timedelta(hours=6)

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
    """A named list of rules that Prometheus evaluates in order."""

    name: str
    rules: tuple[Rule, ...]


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


def build_group(slo: SLO) -> RuleGroup:
    """All rules of one SLO, in evaluation order."""
    rules = [*_sli_records(slo), *_budget_records(slo)]
    rules.extend(_burn_alert(slo, pair) for pair in slo.policy)
    rules.append(_no_data_alert(slo))
    return RuleGroup(names.group_name(slo.slo_id), tuple(rules))


def _sli_records(slo: SLO) -> list[Rule]:
    labels = slo_labels(slo)
    base = names.BASE_WINDOW
    rules: list[Rule] = []
    if promql.has_event_counts(slo.sli):
        rules.append(
            Rule(
                promql.bad_rate(slo.sli, base),
                record=names.record_bad_events(base),
                labels=labels,
            )
        )
        rules.append(
            Rule(
                promql.total_rate(slo.sli, base),
                record=names.record_total_events(base),
                labels=labels,
            )
        )

    for window in windows_of(slo):
        rules.append(
            Rule(
                _error_ratio(slo, window),
                record=names.record_error_ratio(window),
                labels=labels,
            )
        )
    return rules


def _error_ratio(slo: SLO, window: timedelta) -> str:
    if window == names.BASE_WINDOW and promql.has_event_counts(slo.sli):
        bad = promql.slo_selector(names.record_bad_events(window), slo.slo_id)
        total = promql.slo_selector(names.record_total_events(window), slo.slo_id)
        return f"{bad}\n/\n{total}"
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


def _budget_records(slo: SLO) -> list[Rule]:
    labels = slo_labels(slo)
    budget = promql.format_number(slo.error_budget)
    period_ratio = promql.slo_selector(names.record_error_ratio(slo.window), slo.slo_id)
    return [
        Rule(
            f"vector({promql.format_number(slo.objective)})",
            record=names.RECORD_OBJECTIVE,
            labels=labels,
        ),
        Rule(f"vector({budget})", record=names.RECORD_ERROR_BUDGET, labels=labels),
        Rule(
            f"1 - {period_ratio} / {budget}",
            record=names.RECORD_ERROR_BUDGET_REMAINING,
            labels=labels,
        ),
    ]


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
        expr += f"\nand on()\n{_events_in(slo, pair.long_window)} >= {slo.min_events}"

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


def _events_in(slo: SLO, window: timedelta) -> str:
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
