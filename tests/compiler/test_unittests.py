"""Generated promtool unit tests: they pass on the compiled rules, per SLI
kind and policy, and they fail once the rules are tampered with."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from slo_engine import compiler
from slo_engine.compiler import Format
from slo_engine.compiler.unittests import (
    UntestableError,
    build_unit_tests,
    run_unit_tests,
)
from slo_engine.spec.loader import SpecLoader

# Most kinds run on a short custom policy to keep the suite fast; the
# default policy (up to 3d windows) is covered by the min_events and 7d cases.
SHORT_POLICY = """
    alerting:
      name: Burn
      windows:
        - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 14.4}
        - {severity: ticket, long_window: 6h, short_window: 30m, burn_rate: 6}
"""

KINDS = {
    "a ratio of bad events": """
    sli:
      ratio:
        bad: http_requests_total{code=~"5.."}
        total: http_requests_total
""",
    "a ratio of good events": """
    sli:
      ratio:
        good: llm_answers_total{verdict="grounded"}
        total: llm_answers_total
""",
    "a latency histogram": """
    sli:
      latency:
        metric: gen_ai_server_request_duration_seconds
        matchers: {service: chat}
        threshold: 2s
""",
    "a score histogram, good above": """
    sli:
      score:
        metric: rag_retrieval_relevance_score
        good_above: 0.7
""",
    "a score histogram, good below": """
    sli:
      score:
        metric: llm_toxicity_score
        matchers: {model: small}
        good_below: 0.25
""",
    "events queries": """
    sli:
      events:
        error_query: sum(rate(llm_requests_total{status=~"error|timeout"}[{{ window }}]))
        total_query: sum(rate(llm_requests_total[{{ window }}]))
""",
    "a raw error ratio": """
    sli:
      raw:
        error_ratio_query: sum(rate(llm_failures_total{kind="api"}[{{ window }}])) / sum(rate(llm_calls_total[{{ window }}]))
""",
}


def write_spec(
    folder: Path, body: str, objective: float = 99, window: str = ""
) -> Path:
    head = f"""\
        version: slo-engine/v1
        service: chat
        labels: {{team: llm}}
        slos:
          - name: target
            objective: {objective}
        """
    extra = f"    window: {window}\n" if window else ""
    path = folder / "slo.yaml"
    path.write_text(textwrap.dedent(head) + extra + body.lstrip("\n"))
    return path


def run(spec: Path, out: Path):
    files, specs = compiler.compile_paths([spec], Format.PROMETHEUS)
    return run_unit_tests(files, specs, out)


@pytest.mark.parametrize("kind", list(KINDS), ids=list(KINDS))
def test_run_unit_tests_each_sli_kind_passes(tmp_path, promtool, kind):
    """Every SLI kind gets series whose rates give the intended error ratios."""
    report = run(write_spec(tmp_path, KINDS[kind] + SHORT_POLICY), tmp_path / "out")

    assert report.skipped == ()
    assert report.failures == ()
    # Two pairs, three checks each, and the two NoData checks.
    assert report.cases == 8


def test_run_unit_tests_default_policy_with_min_events_passes(tmp_path, promtool):
    body = """
    sli:
      ratio:
        bad: llm_eval_judgements_total{verdict="hallucinated"}
        total: llm_eval_judgements_total
      min_events: 50
    alerting:
      name: Hallucinations
      labels: {route: llm-oncall}
      page_alert: {labels: {severity: critical}}
"""
    report = run(write_spec(tmp_path, body), tmp_path / "out")

    assert report.failures == ()
    assert report.cases == 4 * 3 + 1 + 2
    text = (tmp_path / "out" / "tests" / "chat-target.yaml").read_text()
    assert "traffic below min_events (50)" in text
    assert "severity: critical" in text
    assert "route: llm-oncall" in text


def test_run_unit_tests_seven_day_window_scales_factors_and_passes(tmp_path, promtool):
    body = KINDS["a latency histogram"]
    report = run(write_spec(tmp_path, body, 99.9, "7d"), tmp_path / "out")

    assert report.failures == ()
    text = (tmp_path / "out" / "tests" / "chat-target.yaml").read_text()
    # 14.4x over 30d is 3.36x over 7d; the incident above it is 1.1 times that.
    assert "pair 1 (page 1h/5m) at 3.696x burn" in text


def test_run_unit_tests_custom_windows_pass(tmp_path, promtool):
    body = """
    sli:
      ratio:
        bad: jobs_failed_total
        total: jobs_total
    alerting:
      windows:
        - {severity: ticket, long_window: 2h, short_window: 10m, burn_rate: 10}
        - {severity: page, long_window: 2h, short_window: 10m, burn_rate: 20}
        - {severity: ticket, long_window: 12h, short_window: 1h, burn_rate: 2}
"""
    report = run(write_spec(tmp_path, body, 99.5), tmp_path / "out")

    assert report.failures == ()
    assert report.cases == 3 * 3 + 2


def run_tampered(folder: Path, body: str, find: str, replace: str):
    """Compile, change the rules text, then run the tests generated from the spec."""
    files, specs = compiler.compile_paths([write_spec(folder, body)], Format.PROMETHEUS)
    (rules,) = files
    assert find in rules.text
    tampered = dataclasses.replace(rules, text=rules.text.replace(find, replace))
    return run_unit_tests([tampered], specs, folder / "out")


@pytest.mark.parametrize(
    ("find", "replace"),
    [
        pytest.param("> 0.144", "> 0.2", id="a page threshold raised"),
        pytest.param("> 0.144", "> 0.1", id="a page threshold lowered"),
        pytest.param('short_window: "5m"', 'short_window: "10m"', id="a label changed"),
        pytest.param("for: 10m", "for: 1h", id="the NoData delay lengthened"),
    ],
)
def test_generated_tests_tampered_rules_fail(tmp_path, promtool, find, replace):
    """The generated tests have teeth: a changed rule makes promtool fail."""
    body = KINDS["a ratio of bad events"] + SHORT_POLICY

    report = run_tampered(tmp_path, body, find, replace)

    assert report.failures != ()


def test_generated_tests_deleted_page_alert_fail(tmp_path, promtool):
    files, _ = compiler.compile_paths(
        [write_spec(tmp_path, KINDS["a latency histogram"] + SHORT_POLICY)],
        Format.PROMETHEUS,
    )
    text = files[0].text
    start = text.index("  - alert: Burn")
    page_alert = text[start : text.index("  - alert: Burn", start + 1)]

    report = run_tampered(
        tmp_path, KINDS["a latency histogram"] + SHORT_POLICY, page_alert, ""
    )

    conditions = {failure.condition for failure in report.failures}
    assert conditions == {"pair 1 (page 1h/5m) at 15.84x burn fires by 54m33s (+1m)"}


def test_build_unit_tests_unknown_query_shape_is_untestable(tmp_path):
    body = """
    sli:
      events:
        error_query: sum(increase(llm_errors_total[{{ window }}])) * 2
        total_query: sum(rate(llm_requests_total[{{ window }}]))
"""
    spec = SpecLoader().load(write_spec(tmp_path, body))

    with pytest.raises(UntestableError, match=r"^error_query is not of the shape"):
        build_unit_tests(spec.slos[0], "rules.yaml")
