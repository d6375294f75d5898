"""Golden files: each case in tests/golden compiles to exactly its committed rules.

Refresh them only with `pytest --update-golden`, and review the diff like code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from slo_engine.compiler.output import Format, render
from slo_engine.spec import SpecLoader

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())
OUTPUTS = {
    Format.PROMETHEUS: "rules.yaml",
    Format.PROMETHEUS_OPERATOR: "rules.prometheus-operator.yaml",
    Format.MIMIR: "rules.mimir.yaml",
}


def compile_case(case: str, fmt: Format) -> str:
    spec = SpecLoader().load(GOLDEN / case / "slo.yaml")
    return render(spec, fmt, f"{case}/slo.yaml", case)


PAIRS = [(case, Format.PROMETHEUS) for case in CASES] + [
    ("llm-chat", Format.PROMETHEUS_OPERATOR),
    ("llm-chat", Format.MIMIR),
]


@pytest.mark.parametrize(
    ("case", "fmt"), PAIRS, ids=[f"{c}-{f.value}" for c, f in PAIRS]
)
def test_golden_case_compiles_to_committed_rules(case, fmt, request):
    expected_path = GOLDEN / case / OUTPUTS[fmt]
    actual = compile_case(case, fmt)

    if request.config.getoption("--update-golden"):
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.read_text(encoding="utf-8") == actual


def test_golden_cases_pass_promtool_lint(promtool, tmp_path):
    files = []
    for case in CASES:
        path = tmp_path / f"{case}.yaml"
        path.write_text(compile_case(case, Format.PROMETHEUS), encoding="utf-8")
        files.append(str(path))

    result = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
