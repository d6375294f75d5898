"""Invariants of the burn-rate maths, the PromQL builders, and the loader."""

from __future__ import annotations

import promql_parser
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from slo_engine.compiler import all_rules, build_groups
from slo_engine.compiler.output import Format, render
from slo_engine.compiler.promql import quote, selector
from slo_engine.conventions import LABEL_NAME, METRIC_NAME
from slo_engine.durations import format_duration, parse_duration
from slo_engine.errors import SpecError
from slo_engine.model import SLO, Alerting, Matcher, Severity
from slo_engine.spec import SpecLoader
from slo_engine.spec.loader import SpecFile
from slo_engine.windows import DEFAULT_WINDOWS, default_policy, threshold
from tests import strategies


def make_slo(sli, objective: float = 0.999, window=None, min_events=None) -> SLO:
    from datetime import timedelta

    window = window or timedelta(days=30)
    return SLO(
        service="svc",
        name="slo",
        objective=objective,
        sli=sli,
        alerting=Alerting(name="SvcSloBudgetBurn"),
        policy=default_policy(window),
        window=window,
        min_events=min_events,
    )


@given(strategies.slo_windows, strategies.objectives_percent)
def test_threshold_is_burn_rate_times_budget(window, percent):
    budget = 1 - percent / 100
    for pair in default_policy(window):
        assert threshold(pair, budget) == pytest.approx(pair.burn_rate * budget)


@given(strategies.slo_windows)
def test_default_policy_keeps_each_pair_budget_share(window):
    policy = default_policy(window)

    shares = [pair.budget_share(window) for pair in policy]
    expected = [row.budget_share for row in DEFAULT_WINDOWS]
    assert shares == pytest.approx(expected, rel=1e-6)


@given(strategies.slo_windows)
def test_page_windows_are_shorter_and_burn_faster_than_ticket_windows(window):
    policy = default_policy(window)
    pages = [p for p in policy if p.severity is Severity.PAGE]
    tickets = [p for p in policy if p.severity is Severity.TICKET]

    assert max(p.long_window for p in pages) < min(t.long_window for t in tickets)
    assert min(p.burn_rate for p in pages) > max(t.burn_rate for t in tickets)
    assert all(p.short_window < p.long_window for p in policy)


@given(strategies.durations)
def test_durations_round_trip_through_prometheus_syntax(duration):
    text = format_duration(duration)

    assert parse_duration(text) == duration
    assert promql_parser.parse_duration(text) == duration


@given(strategies.yaml_text)
def test_quoted_label_value_round_trips_through_promql_parser(value):
    expr = promql_parser.parse(selector("metric", [Matcher("label", "=", value)]))

    assert [m.value for m in expr.matchers.matchers] == [value]
    assert quote(value).startswith('"')


@given(strategies.slis, strategies.objectives_percent, strategies.slo_windows)
def test_generated_names_are_valid_and_every_expression_parses(sli, percent, window):
    rules = all_rules(make_slo(sli, round(percent / 100, 12), window, min_events=10))

    for rule in rules:
        assert METRIC_NAME.match(rule.record or rule.alert)
        assert all(LABEL_NAME.match(name) for name, _ in rule.labels)
        assert {"slo_id", "slo_name", "slo_service"} <= dict(rule.labels).keys()
        promql_parser.parse(rule.expr)

    burn_alerts = [r for r in rules if r.alert and r.for_ is None]
    assert [
        (dict(r.labels)["severity"], dict(r.labels)["long_window"]) for r in burn_alerts
    ] == [
        (p.severity.value, format_duration(p.long_window))
        for p in default_policy(window)
    ]


@given(strategies.slis, strategies.yaml_text, strategies.yaml_text)
def test_rendered_yaml_reads_back_as_the_rule_groups(sli, description, label):
    slo = make_slo(sli)
    slo = SLO(
        **{**slo.__dict__, "description": description, "labels": (("team", label),)}
    )
    spec = SpecFile("x.yaml", "svc", (slo,), {"slo": (1, 1)})

    text = render(spec, Format.PROMETHEUS, "x.yaml", "x")
    document = yaml.safe_load(text)

    groups = build_groups(slo)
    assert [g["name"] for g in document["groups"]] == [g.name for g in groups]
    assert [g.get("interval") for g in document["groups"]] == [
        format_duration(g.interval) if g.interval else None for g in groups
    ]
    rules = [rule for g in document["groups"] for rule in g["rules"]]
    expected = all_rules(slo)
    assert [r.get("record") or r.get("alert") for r in rules] == [
        r.record or r.alert for r in expected
    ]
    assert [r["expr"] for r in rules] == [r.expr for r in expected]
    assert [r["labels"] for r in rules] == [dict(r.labels) for r in expected]
    assert [r.get("annotations", {}) for r in rules] == [
        dict(r.annotations) for r in expected
    ]
    assert render(spec, Format.PROMETHEUS, "x.yaml", "x") == text


@given(strategies.yaml_documents)
def test_loader_on_random_yaml_raises_only_spec_errors(data):
    problems = []
    try:
        SpecLoader().load_bytes(data, "random.yaml")
    except SpecError as error:
        problems = [str(problem) for problem in error.problems] or ["<none>"]

    assert all(problem.startswith("random.yaml:") for problem in problems)


@given(st.integers(min_value=1, max_value=10))
def test_alias_bomb_of_any_depth_is_refused(levels):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")

    with pytest.raises(SpecError) as caught:
        SpecLoader().load_bytes("\n".join(lines).encode(), "bomb.yaml")

    expands_to = 10 ** (levels + 1)
    too_large = any("too large" in str(p) for p in caught.value.problems)
    assert too_large == (expands_to > 200_000)
