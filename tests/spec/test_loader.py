"""The spec loader: every problem located, hostile input refused cleanly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slo_engine.errors import SpecError
from slo_engine.model import EventsSLI, LatencySLI, Layer, RatioSLI, RawSLI, ScoreSLI
from slo_engine.spec import SpecLoader, load_paths

VALID = b"""\
version: slo-engine/v1
service: chat
slos:
  - name: latency
    objective: 99
    sli:
      latency:
        metric: gen_ai_server_request_duration_seconds
        threshold: 2s
"""


def load(text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return SpecLoader().load_bytes(data, "slo.yaml")


def problems_of(text: str | bytes) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(text)
    return [str(problem) for problem in caught.value.problems]


def test_loader_valid_latency_spec_builds_model():
    spec = load(VALID)

    slo = spec.slos[0]
    assert slo.slo_id == "chat-latency"
    assert slo.objective == 0.99
    assert slo.window == timedelta(days=30)
    assert slo.layer is Layer.APPLICATION
    assert slo.sli == LatencySLI("gen_ai_server_request_duration_seconds", 2.0)
    assert [pair.burn_rate for pair in slo.policy] == [14.4, 6.0, 3.0, 1.0]


def test_loader_design_example_reads_every_sli_kind():
    spec = load("""\
version: slo-engine/v1
service: chat-assistant
labels: {team: llm-platform}
slos:
  - name: hallucination-rate
    layer: model
    objective: 99
    depends_on: []
    sli:
      ratio:
        bad: llm_eval_judgements_total{verdict="hallucinated"}
        total: llm_eval_judgements_total
      min_events: 50
  - name: retrieval-relevance
    layer: vector-db
    objective: 90
    sli:
      score: {metric: rag_retrieval_relevance_score, good_above: 0.7}
  - name: model-api-availability
    objective: 99.5
    sli:
      events:
        error_query: sum(rate(llm_requests_total{status=~"error|timeout"}[{{ window }}]))
        total_query: sum(rate(llm_requests_total[{{ window }}]))
  - name: up
    objective: 99
    sli:
      raw: {error_ratio_query: '1 - avg(avg_over_time(up[{{.window}}]))'}
""")

    kinds = [type(slo.sli) for slo in spec.slos]
    assert kinds == [RatioSLI, ScoreSLI, EventsSLI, RawSLI]
    assert spec.slos[0].min_events == 50
    assert spec.slos[0].labels == (("team", "llm-platform"),)
    assert spec.slos[3].sli == RawSLI("1 - avg(avg_over_time(up[{{ window }}]))")


def test_loader_unfireable_page_on_90_percent_warns_and_drops_pair():
    spec = load("""\
version: slo-engine/v1
service: rag
slos:
  - name: relevance
    objective: 90
    sli:
      score: {metric: rag_score, good_above: 0.7}
""")

    assert [str(w) for w in spec.warnings] == [
        "slo.yaml:5:16: warning: slos[0].objective: the page alert over 1h/5m can "
        "never fire: 14.4x the budget is an error ratio of 1.44, above 1; it is "
        "left out (set alerting.page_alert.disable or alerting.windows)"
    ]
    assert [pair.burn_rate for pair in spec.slos[0].policy] == [6.0, 3.0, 1.0]


def test_loader_seven_day_window_scales_burn_rates_to_same_budget_share():
    spec = load(VALID.replace(b"objective: 99\n", b"objective: 99\n    window: 7d\n"))

    policy = spec.slos[0].policy
    assert [pair.burn_rate for pair in policy] == [3.36, 1.4, 0.7, 0.233333333]
    shares = [round(pair.budget_share(timedelta(days=7)), 6) for pair in policy]
    assert shares == [0.02, 0.05, 0.1, 0.1]


def test_loader_many_problems_reports_all_sorted_by_line():
    text = """\
version: slo-engine/v1
service: chat
slos:
  - name: a
    objectiv: 99
    sli:
      latency: {metric: m, threshold: fast}
  - name: b
    objective: 150
    window: 1d
    sli:
      ratio: {bad: 'sum(rate(x[5m]))', total: y}
"""
    assert problems_of(text) == [
        "slo.yaml:4:5: slos[0]: missing required key 'objective'",
        "slo.yaml:5:5: slos[0].objectiv: unknown key 'objectiv'; did you mean 'objective'?",
        "slo.yaml:7:39: slos[0].sli.latency.threshold: expected a number or a duration "
        "such as '2s', got 'fast'",
        "slo.yaml:9:16: slos[1].objective: must be a percent between 0 and 100 "
        "(exclusive), such as 99.9; got 150",
        "slo.yaml:10:13: slos[1].window: the SLO window 1d is shorter than the default "
        "policy's 3d ticket window; use a window of at least 3d or set alerting.windows",
        "slo.yaml:12:20: slos[1].sli.ratio.bad: expected a series selector such as "
        "'http_requests_total{code=~\"5..\"}', got the expression 'sum(rate(x[5m]))'",
    ]


def test_loader_window_shorter_than_policy_is_located():
    text = VALID.replace(b"objective: 99\n", b"objective: 99\n    window: 1d\n")

    assert problems_of(text) == [
        "slo.yaml:6:13: slos[0].window: the SLO window 1d is shorter than the default "
        "policy's 3d ticket window; use a window of at least 3d or set alerting.windows"
    ]


def test_loader_custom_windows_validated():
    text = (
        VALID
        + b"""\
    alerting:
      windows:
        - {severity: page, long_window: 1h, short_window: 30s, burn_rate: 10}
        - {severity: pager, long_window: 1h, short_window: 5m, burn_rate: 10}
        - {severity: ticket, long_window: 1h, short_window: 2h, burn_rate: 2}
"""
    )
    assert problems_of(text) == [
        "slo.yaml:12:59: slos[0].alerting.windows[0].short_window: must be at least "
        "1m, got 30s",
        "slo.yaml:13:22: slos[0].alerting.windows[1].severity: expected 'page' or "
        "'ticket', got 'pager'",
        "slo.yaml:14:61: slos[0].alerting.windows[2].short_window: must be shorter "
        "than long_window",
    ]


def test_loader_reserved_and_invalid_labels_refused():
    text = VALID.replace(b"slos:\n", b"labels: {slo_id: x, 9bad: y}\nslos:\n")

    assert problems_of(text) == [
        "slo.yaml:3:10: labels.slo_id: 'slo_id' is set by slo-engine itself; choose "
        "another label name",
        "slo.yaml:3:21: labels.9bad: '9bad' is not a valid label name (letters, "
        "digits and '_')",
    ]


def test_loader_unknown_layer_suggests_nearest():
    text = VALID.replace(b"objective: 99\n", b"objective: 99\n    layer: vectordb\n")

    assert problems_of(text) == [
        "slo.yaml:6:12: slos[0].layer: unknown layer 'vectordb'; expected one of "
        "application, orchestration, model, vector-db, infrastructure; did you "
        "mean 'vector-db'?"
    ]


def test_loader_events_query_without_window_placeholder_refused():
    text = VALID.replace(
        b"      latency:\n        metric: gen_ai_server_request_duration_seconds\n"
        b"        threshold: 2s\n",
        b"      events:\n        error_query: sum(rate(e[5m]))\n"
        b"        total_query: sum(rate(t[{{ window }}])\n",
    )

    assert problems_of(text) == [
        "slo.yaml:8:22: slos[0].sli.events.error_query: query must range over "
        "{{ window }}, as in 'sum(rate(http_requests_total[{{ window }}]))'",
        "slo.yaml:9:22: slos[0].sli.events.total_query: invalid PromQL: unclosed "
        "left parenthesis",
    ]


def test_loader_min_events_on_raw_sli_refused():
    text = VALID.replace(
        b"      latency:\n        metric: gen_ai_server_request_duration_seconds\n"
        b"        threshold: 2s\n",
        b"      raw: {error_ratio_query: 'x[{{ window }}]'}\n      min_events: 5\n",
    )

    assert problems_of(text) == [
        "slo.yaml:8:19: slos[0].sli.min_events: a raw error ratio has no event "
        "counts; use 'events' to set min_events"
    ]


def test_loader_sloth_prometheus_v1_file_loads():
    spec = load("""\
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
          routing_key: myteam
      ticket_alert:
        labels:
          severity: "slack"
          slack_channel: "#alerts-myteam"
""")

    slo = spec.slos[0]
    assert slo.alerting.name == "MyServiceHighErrorRate"
    assert ("severity", "pageteam") in slo.alerting.page.labels
    assert isinstance(slo.sli, EventsSLI)
    assert "[{{ window }}]" in slo.sli.error_query


def test_loader_sloth_plugin_named_as_unsupported():
    text = VALID.replace(
        b"      latency:\n        metric: gen_ai_server_request_duration_seconds\n"
        b"        threshold: 2s\n",
        b"      plugin: {id: sloth-common/kubernetes/apiserver/availability}\n",
    )

    assert problems_of(text) == [
        "slo.yaml:7:15: slos[0].sli.plugin: Sloth SLI plugins are not supported; "
        "write the plugin's queries as 'events'"
    ]


def test_loader_openslo_document_named_as_unsupported():
    assert problems_of("apiVersion: openslo/v1\nkind: SLO\n") == [
        "slo.yaml:1:1: apiVersion: Kubernetes-style documents (OpenSLO, Sloth's "
        "PrometheusServiceLevel) are not read yet; write 'version: slo-engine/v1' "
        "(see the README)"
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b"",
            "slo.yaml:1:1: file is empty; expected a mapping with version, service and slos",
            id="an empty file",
        ),
        pytest.param(
            b"- a\n- b\n",
            "slo.yaml:1:1: expected a mapping, got a list",
            id="a list where the mapping belongs",
        ),
        pytest.param(
            b"version: slo-engine/v1\nservice: \xff\xfe\n",
            "slo.yaml:2:10: invalid UTF-8 byte b'\\xff'; save the file as UTF-8",
            id="invalid UTF-8",
        ),
        pytest.param(
            b"version: slo-engine/v1\n\tservice: x\n",
            "slo.yaml:2:1: invalid YAML: found a tab character that violates "
            "indentation; indent with spaces, YAML does not allow tabs",
            id="a tab for indentation",
        ),
        pytest.param(
            b"version: a\nversion: b\n",
            "slo.yaml:2:1: duplicate key 'version' (first defined on line 1)",
            id="a duplicate key",
        ),
        pytest.param(
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n".encode()
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            ),
            "too large or too deep",
            id="an alias bomb",
        ),
        pytest.param(
            b"version: !!python/object:os.system x\n",
            "slo.yaml:1:10: YAML tag 'tag:yaml.org,2002:python/object:os.system' is "
            "not supported; write a plain value",
            id="a python tag",
        ),
        pytest.param(
            b"a: 1\n---\nb: 2\n",
            "slo.yaml:3:1: expected one YAML document per file, found another here",
            id="two documents",
        ),
    ],
)
def test_loader_hostile_input_gives_one_located_line(data, expected):
    problems = problems_of(data)

    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("slo.yaml:") for problem in problems)


def test_loader_huge_file_refused_before_parsing():
    problems = problems_of(b"#" * (5 * 1024 * 1024))

    assert problems == [
        "slo.yaml:1:1: file is 5242880 bytes; spec files are limited to 4194304"
    ]


def test_load_paths_checks_ids_and_dependencies_across_files(tmp_path):
    (tmp_path / "a.yaml").write_bytes(VALID)
    (tmp_path / "b.yaml").write_bytes(
        VALID.replace(b"objective: 99\n", b"objective: 99\n    depends_on: [other/x]\n")
    )

    with pytest.raises(SpecError) as caught:
        load_paths([tmp_path])

    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'b.yaml'}:4:5: depends_on: depends on 'other/x', which no "
        "loaded spec defines; name an SLO of this service, or 'service/slo' for another",
        f"{tmp_path / 'b.yaml'}:4:5: slos.name: SLO id 'chat-latency' is also "
        f"defined in {tmp_path / 'a.yaml'}",
    ]
