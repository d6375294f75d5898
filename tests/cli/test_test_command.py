"""`slo test`: exit codes and the exact lines it writes to stderr."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from slo_engine.cli import main

SPEC = """\
    version: slo-engine/v1
    service: chat
    slos:
      - name: errors
        objective: 99
        sli:
          ratio:
            bad: http_requests_total{code=~"5.."}
            total: http_requests_total
        alerting:
          name: Burn
          windows:
            - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 14.4}
"""
UNTESTABLE = """\
      - name: api
        objective: 99
        sli:
          events:
            error_query: sum(increase(llm_errors_total[{{ window }}])) * 2
            total_query: sum(rate(llm_requests_total[{{ window }}]))
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "slo.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, ["test", *args])


def test_test_command_passing_specs_exit_0(tmp_path, promtool):
    result = invoke(str(write(tmp_path, SPEC)))

    assert result.exit_code == 0, result.stderr
    assert result.stderr == "5 of 5 alert checks passed, 0 SLOs skipped\n"


def test_test_command_out_keeps_rules_and_tests(tmp_path, promtool):
    out = tmp_path / "out"

    result = invoke(str(write(tmp_path, SPEC)), "--out", str(out))

    assert result.exit_code == 0, result.stderr
    assert (out / "rules" / "slo.yaml").is_file()
    assert (out / "tests" / "chat-errors.yaml").is_file()
    assert (out / "tests" / "chat-errors.rules.yaml").is_file()


def test_test_command_untestable_slo_is_skipped_with_reason(tmp_path, promtool):
    result = invoke(str(write(tmp_path, SPEC + UNTESTABLE)))

    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "skipped chat-api: error_query is not of the shape "
        "sum(rate(selector[{{ window }}]))",
        "5 of 5 alert checks passed, 1 SLOs skipped",
    ]


def test_test_command_hand_edited_rules_exit_1_naming_the_case(tmp_path, promtool):
    spec = write(tmp_path, SPEC)
    rules = tmp_path / "rules"
    CliRunner().invoke(main, ["compile", str(spec), "--out", str(rules)])
    text = (rules / "slo.yaml").read_text()
    (rules / "slo.yaml").write_text(text.replace("> 0.144", "> 0.2"))

    result = invoke(str(spec), "--rules", str(rules))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "FAILED chat-errors: pair 1 (page 1h/5m) at 15.84x burn fires by 54m33s "
        "(+1m) (at 1h7m)"
    )


def test_test_command_rules_missing_a_group_exit_1(tmp_path, promtool):
    spec = write(tmp_path, SPEC)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "slo.yaml").write_text("groups: []\n")

    result = invoke(str(spec), "--rules", str(rules))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "FAILED chat-errors: a rule group is missing (compile the specs again)",
        "0 of 1 alert checks passed, 0 SLOs skipped",
    ]


def test_test_command_twin_window_pairs_refused_as_invalid(tmp_path):
    twin = "            - {severity: page, long_window: 1h, short_window: 5m, burn_rate: 20}\n"

    result = invoke(str(write(tmp_path, SPEC + twin)))

    assert result.exit_code == 1
    assert result.stderr == (
        f"{tmp_path / 'slo.yaml'}:14:11: slos[0].alerting.windows[1]: another pair "
        "has the same severity and windows; keep one\n"
    )


def test_test_command_without_promtool_exit_1(tmp_path, monkeypatch):
    spec = write(tmp_path, SPEC)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    result = invoke(str(spec))

    assert result.exit_code == 1
    assert result.stderr == (
        "promtool not found; install it with `apt-get install prometheus`\n"
    )
