"""Generate `promtool test rules` cases that prove each SLO's alerts behave.

Every SLO gets synthetic input series for its own metrics and, for each
window pair of its policy, an incident slightly above the pair's burn rate
(it must fire by the workbook's detection time and not before) and one
slightly below it (it must stay silent). SLOs with `min_events` get a
low-traffic case that must never page, and every SLO a case where its
series stop and the `NoData` alert must fire.

The expected alerts are not guessed: a small model of the generated rules
(`rate()` over the raw counters, ratios of sums over the recorded 5m rates)
computes every error ratio at every evaluation, so that each `exp_alerts`
lists exactly the alerts firing at that time, whichever pairs they are.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import promql_parser
import yaml

from slo_engine import conventions as names
from slo_engine.compiler.output import RulesFile
from slo_engine.compiler.rules import (
    NO_DATA_FOR,
    RAW_RANGE_LIMIT,
    all_rules,
    build_groups,
)
from slo_engine.durations import format_duration, parse_duration
from slo_engine.errors import PromtoolMissingError
from slo_engine.model import (
    SLO,
    BurnRateWindow,
    EventsSLI,
    LatencySLI,
    Matcher,
    RatioSLI,
    RawSLI,
    ScoreSLI,
    Selector,
    Severity,
)
from slo_engine.spec.loader import SpecFile
from slo_engine.windows import detection_time, threshold

__all__ = [
    "CaseFailure",
    "TestCase",
    "TestReport",
    "UnitTests",
    "UntestableError",
    "build_unit_tests",
    "run_unit_tests",
]

# An incident this many times the pair's threshold must fire; one at the
# lower factor must not. Close to 1 so that a wrong threshold shows.
ABOVE = 1.1
BELOW = 0.9

# Input series and rule evaluation share one step. Pairs whose long window
# spans days are tested on a coarser step: promtool evaluates every rule at
# every step, and a 1m step over three days costs seconds per case.
_FINE_STEP = timedelta(minutes=1)
_COARSE_STEP = timedelta(minutes=5)
_COARSE_FROM = timedelta(days=1)

# Relative distance from a threshold below which a comparison is too close
# to call: float rounding in Prometheus could go either way.
_TOO_CLOSE = 1e-6

_BASE = names.BASE_WINDOW


class UntestableError(ValueError):
    """The SLO's series cannot be synthesised; the message says why."""


@dataclass(frozen=True)
class TestCase:
    """One alert check: which group, alert and time, and what it proves."""

    __test__ = False  # not a pytest class, despite the name

    group: str
    alertname: str
    eval_time: timedelta
    condition: str


@dataclass(frozen=True)
class UnitTests:
    """The `promtool test rules` file for one SLO and the cases it holds."""

    __test__ = False

    slo_id: str
    text: str
    cases: tuple[TestCase, ...]


@dataclass(frozen=True)
class CaseFailure:
    """A generated case promtool reported as failed."""

    slo_id: str
    condition: str
    detail: str


@dataclass(frozen=True)
class TestReport:
    """What a run of the generated tests found."""

    __test__ = False

    cases: int = 0
    failures: tuple[CaseFailure, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    test_files: tuple[Path, ...] = field(default=())


# ---- series synthesis ------------------------------------------------------------

# A series' share of the events per step, as (total, bad) coefficients.
_TOTAL, _BAD, _GOOD = (1, 0), (0, 1), (1, -1)
_OTHER_VALUES = ("ok", "success", "good", "other", "200", "false", "")
_REGEX_GUESSES = ("x", "1", "500", "error", "true")


@dataclass(frozen=True)
class _Series:
    metric: str
    labels: tuple[tuple[str, str], ...]
    share: tuple[int, int]

    def notation(self) -> str:
        inner = ",".join(f"{k}={json.dumps(v)}" for k, v in self.labels)
        return f"{self.metric}{{{inner}}}"


def _series_of(slo: SLO) -> list[_Series]:
    """Series whose rates give exactly the intended bad and total events."""
    sli = slo.sli
    if isinstance(sli, LatencySLI | ScoreSLI):
        labels = {m.name: m.value for m in sli.matchers}
        bound = format(sli.threshold, "g")
        bad_is_bucket = isinstance(sli, ScoreSLI) and sli.good_above
        return [
            _Series(f"{sli.metric}_count", _sorted(labels), _TOTAL),
            _Series(
                f"{sli.metric}_bucket",
                _sorted({**labels, "le": bound}),
                _BAD if bad_is_bucket else _GOOD,
            ),
        ]
    if isinstance(sli, RatioSLI):
        if sli.bad is not None:
            return _split(sli.total, sli.bad, _BAD)
        assert sli.good is not None
        return _split(sli.total, sli.good, _GOOD)
    if isinstance(sli, EventsSLI):
        bad = _rate_selector(sli.error_query, "error_query")
        return _split(_rate_selector(sli.total_query, "total_query"), bad, _BAD)
    bad, total = _ratio_selectors(sli)
    return _split(total, bad, _BAD)


def _split(total: Selector, part: Selector, share: tuple[int, int]) -> list[_Series]:
    """A series for `part` (bad or good events) and one for the rest of `total`."""
    labels = _satisfying(part)
    if part.metric == total.metric:
        labels = {**_satisfying(total), **labels}
    first = _Series(part.metric, _sorted(labels), share)

    # When the part's series is also counted in total, the rest is the other part.
    rest_share = (1 - share[0], -share[1]) if _matches(total, first) else _TOTAL
    rest = _avoiding(total, part)
    series = [first, _Series(total.metric, _sorted(rest), rest_share)]
    for selector, wanted in ((total, _TOTAL), (part, share)):
        got = [s.share for s in series if _matches(selector, s)]
        if tuple(map(sum, zip(*got, strict=True))) != wanted:
            raise UntestableError(
                f"no series found that {_show(part)} and {_show(total)} "
                "split into bad and good events"
            )
    return series


def _satisfying(selector: Selector) -> dict[str, str]:
    labels: dict[str, str] = {}
    for matcher in selector.matchers:
        value = _value_for(matcher)
        if value is None:
            raise UntestableError(f"no label value satisfies {_show(selector)}")
        if value:
            labels[matcher.name] = value
    return labels


def _value_for(matcher: Matcher) -> str | None:
    """A value for the matcher's label that it accepts; "" leaves it out."""
    if matcher.op == "=":
        return matcher.value
    if matcher.op == "=~":
        # A simple alternation names its own literal values.
        guesses = [*matcher.value.strip("()").split("|"), *_REGEX_GUESSES, ""]
        return next((g for g in guesses if _accepts(matcher, g)), None)
    if _accepts(matcher, ""):
        return ""
    return next((g for g in _OTHER_VALUES if _accepts(matcher, g)), None)


def _avoiding(total: Selector, part: Selector) -> dict[str, str]:
    """Labels of a series `total` selects and `part` does not."""
    labels = _satisfying(total)
    if part.metric != total.metric:
        return labels
    for matcher in part.matchers:
        for value in (*_OTHER_VALUES, f"not_{matcher.value}"):
            candidate = {**labels, matcher.name: value}
            trial = _Series(total.metric, _sorted(candidate), _TOTAL)
            if _matches(total, trial) and not _matches(part, trial):
                return {k: v for k, v in candidate.items() if v}
    raise UntestableError(
        f"every series {_show(total)} selects is also in {_show(part)}"
    )


def _accepts(matcher: Matcher, value: str) -> bool:
    if matcher.op in ("=", "!="):
        return (value == matcher.value) == (matcher.op == "=")
    try:
        found = re.fullmatch(matcher.value, value) is not None
    except re.error:
        raise UntestableError(
            f"regex {matcher.value!r} is not one Python can evaluate"
        ) from None
    return found == (matcher.op == "=~")


def _matches(selector: Selector, series: _Series) -> bool:
    labels = dict(series.labels)
    return selector.metric == series.metric and all(
        _accepts(m, labels.get(m.name, "")) for m in selector.matchers
    )


def _sorted(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _show(selector: Selector) -> str:
    inner = ",".join(f"{m.name}{m.op}{json.dumps(m.value)}" for m in selector.matchers)
    return f"{selector.metric}{{{inner}}}"


# ---- reading user PromQL ---------------------------------------------------------

_OPS = {
    str(promql_parser.MatchOp.Equal): "=",
    str(promql_parser.MatchOp.NotEqual): "!=",
    str(promql_parser.MatchOp.Re): "=~",
    str(promql_parser.MatchOp.NotRe): "!~",
}
_SHAPE = "sum(rate(selector[{{ window }}]))"


def _parse(query: str) -> object:
    text = query.replace(names.WINDOW_PLACEHOLDER, "5m")
    return promql_parser.parse(text)


def _unparen(expr: object) -> object:
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    return expr


def _rate_selector(query: str, where: str) -> Selector:
    selector = _selector_of_sum_rate(_parse(query))
    if selector is None:
        raise UntestableError(f"{where} is not of the shape {_SHAPE}")
    return selector


def _ratio_selectors(sli: RawSLI) -> tuple[Selector, Selector]:
    expr = _unparen(_parse(sli.error_ratio_query))
    shape = f"{_SHAPE} / {_SHAPE}"
    if not isinstance(expr, promql_parser.BinaryExpr) or str(expr.op) != "/":
        raise UntestableError(f"error_ratio_query is not of the shape {shape}")
    bad = _selector_of_sum_rate(expr.lhs)
    total = _selector_of_sum_rate(expr.rhs)
    if expr.modifier is not None or bad is None or total is None:
        raise UntestableError(f"error_ratio_query is not of the shape {shape}")
    return bad, total


def _selector_of_sum_rate(expr: object) -> Selector | None:
    """The selector of `sum(rate(selector[w]))`, or None for any other shape."""
    expr = _unparen(expr)
    if not isinstance(expr, promql_parser.AggregateExpr) or str(expr.op) != "sum":
        return None
    if expr.modifier is not None and expr.modifier.labels:
        return None
    call = _unparen(expr.expr)
    if not isinstance(call, promql_parser.Call) or call.func.name != "rate":
        return None
    matrix = call.args[0]
    if not isinstance(matrix, promql_parser.MatrixSelector):
        return None
    vector = matrix.vector_selector
    if (
        vector.offset is not None
        or vector.at is not None
        or vector.matchers.or_matchers
    ):
        return None

    metric = vector.name
    matchers = []
    for parsed in vector.matchers.matchers:
        op = _OPS[str(parsed.op)]
        if parsed.name == "__name__" and op == "=":
            metric = parsed.value
        elif parsed.name != "__name__":
            matchers.append(Matcher(parsed.name, op, parsed.value))
    return None if metric is None else Selector(metric, tuple(matchers))


# ---- a model of the generated rules --------------------------------------------------


@dataclass(frozen=True)
class _Traffic:
    """Counters sampled every `step` from time 0; increments per step.

    `total[k]` and `bad[k]` are the events between sample k-1 and sample k
    (index 0 is unused). Counters start high so that `rate()` never
    extrapolates them to zero, which would skew bad and total differently.
    """

    step: timedelta
    total: tuple[float, ...]
    bad: tuple[float, ...]
    start: float

    @property
    def samples(self) -> int:
        return len(self.total)


def _traffic(
    step: timedelta, segments: Sequence[tuple[int, float, float]], start: float
) -> _Traffic:
    """Traffic of `(steps, total per step, bad per step)` segments, in order."""
    total, bad = [0.0], [0.0]
    for steps, per_step, bad_per_step in segments:
        total += [per_step] * steps
        bad += [bad_per_step] * steps
    return _Traffic(step, tuple(total), tuple(bad), start)


class _Model:
    """The error ratios and event counts the generated rules compute.

    It follows Prometheus 2.x: a range `[t - w, t]` holds both ends, and
    `rate()` extrapolates as `extrapolatedRate` in promql/functions.go does.
    """

    def __init__(self, traffic: _Traffic, raw: bool = False) -> None:
        self.traffic = traffic
        self.raw = raw
        self.step = traffic.step.total_seconds()
        self.counter_total = _cumulative(traffic.total, traffic.start)
        self.counter_bad = _cumulative(traffic.bad, traffic.start)
        self._base_cache: dict[int, tuple[float, float] | None] = {}

    def ratio(self, window: timedelta, k: int) -> float | None:
        """`slo:sli_error:ratio_rate<window>` at sample k; None when absent."""
        if window <= RAW_RANGE_LIMIT:
            rates = self._rates(window, k)
            return None if rates is None else _divide(rates[1], rates[0])
        points = self._base_points(window, k)
        if self.raw:
            ratios = [_divide(bad, total) for total, bad in points]
            known = [r for r in ratios if r is not None]
            return sum(known) / len(known) if known else None
        if not points:
            return None
        return _divide(sum(b for _, b in points), sum(t for t, _ in points))

    def events(self, window: timedelta, k: int) -> float:
        """Events over `window` as the `min_events` condition counts them."""
        seconds = window.total_seconds()
        if window <= RAW_RANGE_LIMIT:
            rates = self._rates(window, k)
            return 0.0 if rates is None else rates[0] * seconds
        points = self._base_points(window, k)
        return sum(t for t, _ in points) / len(points) * seconds if points else 0.0

    def _base_points(self, window: timedelta, k: int) -> list[tuple[float, float]]:
        first = max(0, k - int(window.total_seconds() // self.step))
        points = (self._base(i) for i in range(first, k + 1))
        return [p for p in points if p is not None]

    def _base(self, k: int) -> tuple[float, float] | None:
        if k not in self._base_cache:
            self._base_cache[k] = self._rates(_BASE, k)
        return self._base_cache[k]

    def _rates(self, window: timedelta, k: int) -> tuple[float, float] | None:
        """`rate()` of the total and bad counters over `window` at sample k."""
        span = window.total_seconds()
        first = max(0, k - int(span // self.step))
        last = min(k, self.traffic.samples - 1)
        if last - first < 1 or k * self.step - last * self.step > span:
            return None
        return (
            _rate(self.counter_total, first, last, k, self.step, span),
            _rate(self.counter_bad, first, last, k, self.step, span),
        )


def _cumulative(increments: tuple[float, ...], start: float) -> list[float]:
    values, current = [], start
    for increment in increments:
        current += increment
        values.append(current)
    return values


def _rate(
    counter: list[float], first: int, last: int, k: int, step: float, span: float
) -> float:
    increase = counter[last] - counter[first]
    sampled = (last - first) * step
    average = sampled / (last - first)
    to_start = first * step - (k * step - span)
    to_end = (k - last) * step
    if increase > 0 and counter[first] >= 0:
        to_start = min(to_start, sampled * counter[first] / increase)
    limit = average * 1.1
    interval = sampled
    interval += to_start if to_start < limit else average / 2
    interval += to_end if to_end < limit else average / 2
    return increase * (interval / sampled) / span


def _divide(bad: float, total: float) -> float | None:
    return bad / total if total > 0 else None


# ---- expectations ------------------------------------------------------------------


class _TooClose(Exception):
    """An error ratio sits on a threshold: the outcome is not certain."""


def _firing(slo: SLO, model: _Model, k: int) -> list[int]:
    """Indexes of the policy pairs whose alert fires at sample k."""
    fired = []
    for index, pair in enumerate(slo.policy):
        limit = threshold(pair, slo.error_budget)
        ratios = [model.ratio(pair.long_window, k), model.ratio(pair.short_window, k)]
        holds = [_above(r, limit) for r in ratios]
        if slo.min_events is not None:
            holds.append(
                _above(model.events(pair.long_window, k), slo.min_events, True)
            )
        if all(holds):
            fired.append(index)
    return fired


def _above(value: float | None, limit: float, inclusive: bool = False) -> bool:
    if value is None:
        return False
    if abs(value - limit) <= _TOO_CLOSE * max(abs(limit), 1e-12):
        raise _TooClose
    return value >= limit if inclusive else value > limit


# ---- building the test file ----------------------------------------------------------


@dataclass(frozen=True)
class _Check:
    alertname: str
    eval_time: timedelta
    expected: list[dict[str, object]]
    condition: str


@dataclass(frozen=True)
class _Group:
    name: str
    step: timedelta
    series: list[tuple[_Series, str]]
    checks: list[_Check]


def build_unit_tests(slo: SLO, rule_file: str) -> UnitTests:
    """The `promtool test rules` file that checks `slo`'s alerts.

    `rule_file` names the rules to load, relative to the test file's folder.

    Limitations:
        Series are synthesised for ratio, latency and score SLIs, and for
        `events` and `raw` SLIs whose queries have the shape
        `sum(rate(selector[{{ window }}]))` (for `raw`: one such sum divided
        by another) over plain selectors. Equality matchers give labels;
        regex matchers take a literal alternative of a simple `a|b`
        alternation, or a guess such as `x` that the regex accepts. Other
        query shapes, and alert annotations with templates
        (`{{ $value }}`), raise `UntestableError`.

    Raises:
        UntestableError: the SLO's series cannot be synthesised.
    """
    if any("{{" in value for _, value in _annotations_all(slo)):
        raise UntestableError(
            "alert annotations use templates, whose text promtool expands"
        )
    series = _series_of(slo)
    step = _step_for(slo)
    groups = []
    for index in range(len(slo.policy)):
        groups += _pair_groups(slo, index, series, step)
    if slo.min_events is not None:
        groups.append(_low_traffic_group(slo, series, step))
    groups.append(_no_data_group(slo, series, step))

    cases = tuple(
        TestCase(g.name, c.alertname, c.eval_time, c.condition)
        for g in groups
        for c in g.checks
    )
    return UnitTests(slo.slo_id, _render(rule_file, step, groups), cases)


def _step_for(slo: SLO) -> timedelta:
    windows = {_BASE, *(w for p in slo.policy for w in (p.long_window, p.short_window))}
    longest = max((p.long_window for p in slo.policy), default=_BASE)
    coarse_fits = all(w % _COARSE_STEP == timedelta() for w in windows)
    return _COARSE_STEP if coarse_fits and longest > _COARSE_FROM else _FINE_STEP


def _pair_groups(
    slo: SLO, index: int, series: list[_Series], step: timedelta
) -> list[_Group]:
    """An incident just above the pair's burn rate, and one just below it."""
    pair = slo.policy[index]
    limit = threshold(pair, slo.error_budget)
    per_step = _events_per_step(slo, limit)
    high = _quantised(min(ABOVE * limit, (1 + limit) / 2), per_step)
    low = _quantised(BELOW * limit, per_step)
    detection = detection_time(pair, high / slo.error_budget)
    # Long windows built from the recorded 5m rates trail the raw series by
    # up to one base window: allow for it on top of the workbook's time.
    lag = _BASE if pair.long_window > RAW_RANGE_LIMIT else timedelta()

    # The incident starts once the long window at detection holds only
    # clean, fully recorded traffic, as the workbook's maths assume.
    clean = max(pair.long_window - detection, pair.short_window) + _BASE + step
    start = _steps(clean, step, up=True)
    fire = start + _steps(detection + lag, step, up=True)
    early = start + _steps(detection, step, up=False) - 1

    label = _pair_label(index, pair)
    workbook = format_duration(_whole_seconds(detection))
    above = f"{label} at {_burn(high, slo)} burn"
    model = _Model(_incident(step, start, fire, per_step, high), _is_raw(slo))
    checks = [
        _burn_check(
            slo,
            model,
            early,
            index,
            f"{above} is silent before {workbook}",
            fires=False,
            nudge=-1,
        ),
        _burn_check(
            slo,
            model,
            fire,
            index,
            f"{above} fires by {workbook} (+{format_duration(lag + step)})",
            fires=True,
        ),
    ]
    groups = [_group(slo, above, series, model, checks)]

    below = f"{label} at {_burn(low, slo)} burn"
    model = _Model(_incident(step, start, fire, per_step, low), _is_raw(slo))
    check = _burn_check(slo, model, fire, index, f"{below} stays silent", fires=False)
    groups.append(_group(slo, below, series, model, [check]))
    return groups


def _group(
    slo: SLO, what: str, series: list[_Series], model: _Model, checks: list[_Check]
) -> _Group:
    name = f"{slo.slo_id}: {what}"
    step = model.traffic.step
    return _Group(name, step, _notations(series, model.traffic), checks)


def _low_traffic_group(slo: SLO, series: list[_Series], step: timedelta) -> _Group:
    """Every event bad, but fewer than `min_events` in any long window."""
    assert slo.min_events is not None
    longest = max((p.long_window for p in slo.policy), default=_BASE)
    room = slo.min_events / 2 / (longest / step + 1)
    per_step = 10.0 ** math.floor(math.log10(room))
    widest = max((p.short_window for p in slo.policy), default=_BASE)
    at = _steps(widest + _BASE, step, up=True) + 1

    # The same traffic would trip every pair if min_events were not set.
    model = _Model(_traffic(step, [(at, per_step, per_step)], per_step * 1000))
    if len(_firing(replace(slo, min_events=None), model, at)) != len(slo.policy):
        raise RuntimeError(f"{slo.slo_id}: 100% errors do not trip every pair")
    if _firing(slo, model, at):
        raise RuntimeError(f"{slo.slo_id}: the low traffic reaches min_events")

    what = f"traffic below min_events ({slo.min_events})"
    check = _Check(slo.alerting.name, at * step, [], f"{what} never pages")
    return _group(slo, what, series, model, [check])


def _no_data_group(slo: SLO, series: list[_Series], step: timedelta) -> _Group:
    """The SLI's series stop: after the base window and `for`, NoData fires."""
    last = _steps(NO_DATA_FOR + 2 * _BASE, step, up=True)
    model = _Model(_traffic(step, [(last, 1000.0, 0.0)], 1e6))
    group = _group(slo, "SLI series stop", series, model, [])
    # A stale marker is what Prometheus writes when a target disappears.
    group.series[:] = [(one, f"{values} stale") for one, values in group.series]

    alert = names.no_data_alert_name(slo.alerting.name)
    stop = last * step
    fires = last + _steps(_BASE + NO_DATA_FOR, step, up=True) + 1
    expected = [_alert(_no_data_labels(slo), _no_data_annotations(slo))]
    group.checks.extend(
        [
            _Check(alert, stop, [], f"{alert} is silent while the SLI has data"),
            _Check(
                alert,
                fires * step,
                expected,
                f"{alert} fires after the series stop at {format_duration(stop)}",
            ),
        ]
    )
    return group


def _burn_check(
    slo: SLO,
    model: _Model,
    k: int,
    index: int,
    condition: str,
    *,
    fires: bool,
    nudge: int = 1,
) -> _Check:
    """An `alert_rule_test` at sample k listing every pair firing then.

    Pair `index` must fire (or not) as `fires` says; the model checks it, so
    a wrong expectation is never written. Sample k is nudged off any
    threshold it sits on, by `nudge` samples at a time.
    """
    for _ in range(5):
        try:
            fired = _firing(slo, model, k)
            break
        except _TooClose:
            k += nudge
    else:
        raise RuntimeError(f"{slo.slo_id}: every candidate time sits on a threshold")

    if (index in fired) != fires:
        raise RuntimeError(f"{slo.slo_id}: the model contradicts {condition!r}")
    annotations = _burn_annotations(slo)
    expected = [_alert(_burn_labels(slo, slo.policy[i]), annotations[i]) for i in fired]
    return _Check(slo.alerting.name, k * model.traffic.step, expected, condition)


def _incident(
    step: timedelta, start: int, end: int, per_step: float, ratio: float
) -> _Traffic:
    segments = [
        (start, per_step, 0.0),
        (end - start, per_step, round(ratio * per_step)),
    ]
    return _traffic(step, segments, per_step * 1000)


def _is_raw(slo: SLO) -> bool:
    return isinstance(slo.sli, RawSLI)


def _events_per_step(slo: SLO, limit: float) -> float:
    """Events per step: enough that the intended ratio is exact to 1/1000."""
    wanted = max(1e6, 1000 / limit, 10 * (slo.min_events or 0))
    return 10.0 ** math.ceil(math.log10(wanted))


def _quantised(ratio: float, per_step: float) -> float:
    return round(ratio * per_step) / per_step


def _steps(span: timedelta, step: timedelta, *, up: bool) -> int:
    count = span / step
    return math.ceil(count) if up else math.floor(count)


def _whole_seconds(span: timedelta) -> timedelta:
    return timedelta(seconds=round(span.total_seconds()))


def _burn(ratio: float, slo: SLO) -> str:
    return f"{ratio / slo.error_budget:.4g}x"


def _pair_label(index: int, pair: BurnRateWindow) -> str:
    windows = (
        f"{format_duration(pair.long_window)}/{format_duration(pair.short_window)}"
    )
    return f"pair {index + 1} ({pair.severity.value} {windows})"


# ---- expected labels and annotations ----------------------------------------------


def _slo_labels(slo: SLO) -> dict[str, str]:
    own = {
        names.LABEL_SLO_SERVICE: slo.service,
        names.LABEL_SLO_NAME: slo.name,
        names.LABEL_SLO_ID: slo.slo_id,
    }
    return {**dict(slo.labels), **own}


def _burn_labels(slo: SLO, pair: BurnRateWindow) -> dict[str, str]:
    """The labels DESIGN.md promises on a burn alert, built from the model."""
    return {
        names.LABEL_SEVERITY: pair.severity.value,
        **_slo_labels(slo),
        **dict(slo.alerting.labels),
        **dict(slo.alerting.target(pair.severity).labels),
        names.LABEL_LONG_WINDOW: format_duration(pair.long_window),
        names.LABEL_SHORT_WINDOW: format_duration(pair.short_window),
    }


def _no_data_labels(slo: SLO) -> dict[str, str]:
    return {
        names.LABEL_SEVERITY: Severity.TICKET.value,
        **_slo_labels(slo),
        **dict(slo.alerting.labels),
        **dict(slo.alerting.target(Severity.TICKET).labels),
    }


def _burn_annotations(slo: SLO) -> list[dict[str, str]]:
    """Annotations are prose, not contract: take them from the built rules.

    `build_groups` emits one burn alert per policy pair, in policy order.
    """
    rules = all_rules(slo)
    return [dict(r.annotations) for r in rules if r.alert == slo.alerting.name]


def _no_data_annotations(slo: SLO) -> dict[str, str]:
    alert = names.no_data_alert_name(slo.alerting.name)
    rules = all_rules(slo)
    return next((dict(r.annotations) for r in rules if r.alert == alert), {})


def _annotations_all(slo: SLO) -> Iterator[tuple[str, str]]:
    for rule in all_rules(slo):
        yield from rule.annotations


def _alert(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, object]:
    entry: dict[str, object] = {"exp_labels": dict(sorted(labels.items()))}
    if annotations:
        entry["exp_annotations"] = dict(sorted(annotations.items()))
    return entry


# ---- rendering ---------------------------------------------------------------------


def _notations(series: list[_Series], traffic: _Traffic) -> list[tuple[_Series, str]]:
    """Each series' values in promtool's expanding notation (`a+bxn`)."""
    lines = []
    for one in series:
        increments = [
            one.share[0] * total + one.share[1] * bad
            for total, bad in zip(traffic.total[1:], traffic.bad[1:], strict=True)
        ]
        lines.append((one, _expand(traffic.start, increments)))
    return lines


def _expand(start: float, increments: list[float]) -> str:
    tokens = [_number(start)]
    value, index = start, 0
    while index < len(increments):
        step = increments[index]
        run = 1
        while index + run < len(increments) and increments[index + run] == step:
            run += 1
        value += step
        tokens.append(
            _number(value)
            if run == 1
            else f"{_number(value)}+{_number(step)}x{run - 1}"
        )
        value += step * (run - 1)
        index += run
    return " ".join(tokens)


def _number(value: float) -> str:
    # promtool's series notation has no room for exponents next to `+` and `x`.
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.12f}".rstrip("0").rstrip(".")


def _render(rule_file: str, step: timedelta, groups: list[_Group]) -> str:
    document = {
        "rule_files": [rule_file],
        "evaluation_interval": format_duration(step),
        "tests": [
            {
                "name": group.name,
                "interval": format_duration(group.step),
                "input_series": [
                    {"series": one.notation(), "values": values}
                    for one, values in group.series
                ],
                "alert_rule_test": [
                    {
                        "eval_time": format_duration(check.eval_time),
                        "alertname": check.alertname,
                        "exp_alerts": check.expected,
                    }
                    for check in group.checks
                ],
            }
            for group in groups
        ],
    }
    header = f"{names.GENERATED_HEADER}\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=1000)


# ---- running promtool ----------------------------------------------------------------

_FAILED_GROUP = re.compile(r"^\s+name: (?P<name>.*),\s*$")
_FAILED_ALERT = re.compile(r"^\s+alertname: (?P<alert>.*), time: (?P<time>[^,]+),\s*$")


def run_unit_tests(
    files: Sequence[RulesFile], specs: Sequence[SpecFile], out_dir: Path
) -> TestReport:
    """Write the rules and a test file per SLO under `out_dir`, run promtool.

    The compiled files go to `out_dir/rules/`; `out_dir/tests/` holds, per
    SLO, `<slo_id>.yaml` (the tests) and `<slo_id>.rules.yaml` (its group).
    SLOs whose series cannot be synthesised are skipped, with the reason.

    Raises:
        PromtoolMissingError: promtool is not on the PATH.
    """
    promtool = shutil.which("promtool")
    if promtool is None:
        raise PromtoolMissingError(
            "promtool not found; install it with `apt-get install prometheus`"
        )
    rules_dir, tests_dir = out_dir / "rules", out_dir / "tests"
    tests_dir.mkdir(parents=True, exist_ok=True)
    for rules in files:
        target = rules_dir / rules.relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rules.text, encoding="utf-8")

    planned, skipped, missing = _plan(files, specs, tests_dir)
    with ThreadPoolExecutor() as pool:
        outputs = list(pool.map(lambda p: _promtool(promtool, p[0]), planned))

    failures = [
        failure
        for (path, tests), output in zip(planned, outputs, strict=True)
        for failure in _failures(tests, output)
    ]
    failures += [
        CaseFailure(slo_id, "a rule group is missing", "compile the specs again")
        for slo_id in missing
    ]
    return TestReport(
        cases=sum(len(tests.cases) for _, tests in planned) + len(missing),
        failures=tuple(failures),
        skipped=tuple(skipped),
        test_files=tuple(path for path, _ in planned),
    )


def _plan(
    files: Sequence[RulesFile], specs: Sequence[SpecFile], tests_dir: Path
) -> tuple[list[tuple[Path, UnitTests]], list[tuple[str, str]], list[str]]:
    groups = {
        group["name"]: group
        for rules in files
        for group in (yaml.safe_load(rules.text) or {}).get("groups") or []
    }
    planned, skipped, missing = [], [], []
    for slo in (slo for spec in specs for slo in spec.slos):
        # Each SLO is tested against its own groups, cut from the compiled
        # file: SLOs share nothing, and promtool then evaluates one SLO's
        # groups per step instead of every SLO of the file.
        wanted = [group.name for group in build_groups(slo)]
        own = [groups[name] for name in wanted if name in groups]
        if len(own) != len(wanted):
            missing.append(slo.slo_id)
            continue
        # promtool evaluates a file's groups in random order at each step,
        # so the groups are merged, in order, into one: the alerts then read
        # the long windows of the same step, as the model expects. (In
        # Prometheus they may lag by up to one events-group interval.)
        merged = {
            "name": own[-1]["name"],
            "rules": [r for g in own for r in g["rules"]],
        }
        rules_path = tests_dir / f"{slo.slo_id}.rules.yaml"
        rules_path.write_text(yaml.safe_dump({"groups": [merged]}, sort_keys=False))
        try:
            tests = build_unit_tests(slo, rules_path.name)
        except UntestableError as error:
            skipped.append((slo.slo_id, str(error)))
            continue
        path = tests_dir / f"{slo.slo_id}.yaml"
        path.write_text(tests.text, encoding="utf-8")
        planned.append((path, tests))
    return planned, skipped, missing


def _promtool(promtool: str, path: Path) -> tuple[int, str]:
    result = subprocess.run(
        [promtool, "test", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def _failures(tests: UnitTests, output: tuple[int, str]) -> list[CaseFailure]:
    """The cases promtool's report names as failed, or the whole file."""
    code, text = output
    if code == 0:
        return []
    cases = {(c.group, c.alertname, c.eval_time): c for c in tests.cases}
    found, group = [], ""
    for line in text.splitlines():
        if match := _FAILED_GROUP.match(line):
            group = match["name"]
        elif match := _FAILED_ALERT.match(line):
            key = (group, match["alert"], _parse_time(match["time"]))
            case = cases.get(key)
            condition = case.condition if case else f"{group}: {match['alert']}"
            found.append(CaseFailure(tests.slo_id, condition, f"at {match['time']}"))
    if not found:
        detail = " ".join(line.strip() for line in text.splitlines() if line.strip())
        found.append(
            CaseFailure(tests.slo_id, "promtool could not run the tests", detail)
        )
    return found


def _parse_time(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError:
        return timedelta(-1)
