"""Build the PromQL of an SLO's rules: event rates, ratios and label escaping.

Every label value that reaches PromQL goes through `quote`, so a value with
quotes, backslashes or newlines cannot change the meaning of a query.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import timedelta

from slo_engine.conventions import (
    LABEL_SLO_ID,
    WINDOW_PLACEHOLDER,
    record_bad_events,
    record_total_events,
)
from slo_engine.durations import format_duration
from slo_engine.model import (
    SLI,
    EventsSLI,
    LatencySLI,
    Matcher,
    RatioSLI,
    RawSLI,
    ScoreSLI,
    Selector,
)

__all__ = [
    "bad_rate",
    "bucket_bound_regex",
    "format_number",
    "has_event_counts",
    "quote",
    "selector",
    "slo_selector",
    "total_rate",
]

# PromQL strings take Go's escapes; these are the characters that need one.
_ESCAPES = str.maketrans(
    {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)


def quote(value: str) -> str:
    """Quote a label value as a PromQL double-quoted string."""
    return f'"{value.translate(_ESCAPES)}"'


def format_number(value: float) -> str:
    """A stable, short rendering of a float: 12 significant digits."""
    if not math.isfinite(value):
        raise ValueError(f"cannot render {value!r} in PromQL")
    return format(value, ".12g")


def selector(metric: str, matchers: Iterable[Matcher]) -> str:
    """`metric{a="b",c=~"d"}`, with matchers sorted and values escaped."""
    ordered = sorted(matchers, key=lambda m: (m.name, m.op, m.value))
    inner = ",".join(f"{m.name}{m.op}{quote(m.value)}" for m in ordered)
    return f"{metric}{{{inner}}}" if inner else metric


def slo_selector(record: str, slo_id: str) -> str:
    """A recorded series of one SLO: `record{slo_id="..."}`."""
    return f"{record}{{{LABEL_SLO_ID}={quote(slo_id)}}}"


def bucket_bound_regex(bound: float) -> str:
    """A regex matching the ways exporters write a bucket bound: `2`, `2.0`.

    Client libraries differ (`2` from Go, `2.0` from Python and Prometheus 3),
    so the `le` matcher accepts each spelling of the same number.
    """
    spellings = {repr(float(bound)), format(bound, "g")}
    if float(bound).is_integer():
        spellings.add(str(int(bound)))
    return "|".join(re.escape(text) for text in sorted(spellings))


def has_event_counts(sli: SLI) -> bool:
    """Whether bad and total event rates exist, or only a ratio (raw SLIs)."""
    return not isinstance(sli, RawSLI)


def _rate(target: Selector | str, window: timedelta) -> str:
    text = (
        target if isinstance(target, str) else selector(target.metric, target.matchers)
    )
    return f"sum(rate({text}[{format_duration(window)}]))"


def _or_zero(expr: str) -> str:
    # A counter of bad events often has no series until the first bad event;
    # read that as zero bad events rather than as no data.
    return f"({expr} or on() vector(0))"


def _fill(template: str, window: timedelta) -> str:
    return template.replace(WINDOW_PLACEHOLDER, format_duration(window))


def _histogram(metric: str, suffix: str, matchers: tuple[Matcher, ...]) -> Selector:
    return Selector(f"{metric}_{suffix}", matchers)


def _bucket(metric: str, matchers: tuple[Matcher, ...], bound: float) -> Selector:
    le = Matcher("le", "=~", bucket_bound_regex(bound))
    return Selector(f"{metric}_bucket", (*matchers, le))


def total_rate(sli: SLI, window: timedelta) -> str:
    """All events per second over `window`."""
    if isinstance(sli, RatioSLI):
        return _rate(sli.total, window)
    if isinstance(sli, LatencySLI | ScoreSLI):
        return _rate(_histogram(sli.metric, "count", sli.matchers), window)
    if isinstance(sli, EventsSLI):
        return f"({_fill(sli.total_query, window)})"
    raise ValueError("a raw SLI has no event counts")


def bad_rate(sli: SLI, window: timedelta) -> str:
    """Bad events per second over `window`."""
    if isinstance(sli, RatioSLI):
        if sli.bad is not None:
            return _or_zero(_rate(sli.bad, window))
        assert sli.good is not None
        return f"({_rate(sli.total, window)} - {_or_zero(_rate(sli.good, window))})"
    if isinstance(sli, LatencySLI) or (
        isinstance(sli, ScoreSLI) and not sli.good_above
    ):
        # Good events sit at or below the bound; everything else is bad.
        count = _rate(_histogram(sli.metric, "count", sli.matchers), window)
        good = _rate(_bucket(sli.metric, sli.matchers, sli.threshold), window)
        return f"({count} - {good})"
    if isinstance(sli, ScoreSLI):
        return _rate(_bucket(sli.metric, sli.matchers, sli.threshold), window)
    if isinstance(sli, EventsSLI):
        return _or_zero(f"({_fill(sli.error_query, window)})")
    raise ValueError("a raw SLI has no event counts")


def error_ratio(sli: SLI, window: timedelta) -> str:
    """The share of bad events over `window`, straight from the raw series."""
    if isinstance(sli, RawSLI):
        return f"({_fill(sli.error_ratio_query, window)})"
    return f"{bad_rate(sli, window)}\n/\n{total_rate(sli, window)}"


def error_ratio_from_records(slo_id: str, window: timedelta) -> str:
    """The share of bad events over a long window, as a ratio of sums.

    The 5m event rates are recorded first; summing each over the window and
    dividing weighs every minute by its traffic, unlike an average of ratios.
    """
    base = timedelta(minutes=5)
    span = format_duration(window)
    bad = slo_selector(record_bad_events(base), slo_id)
    total = slo_selector(record_total_events(base), slo_id)
    return f"sum_over_time({bad}[{span}])\n/\nsum_over_time({total}[{span}])"


__all__ += ["error_ratio", "error_ratio_from_records"]
