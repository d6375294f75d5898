"""The bundled example SLOs: valid, every layer and SLI kind, rules current."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from slo_engine.cli import main
from slo_engine.compiler import Format, compile_paths
from slo_engine.model import Layer
from slo_engine.spec import load_paths

ROOT = Path(__file__).parent.parent


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_bundled_specs_cover_every_layer_and_sli_kind():
    slos = [slo for spec in load_paths([ROOT / "slo_specs"]) for slo in spec.slos]

    assert {slo.layer for slo in slos} == set(Layer)
    kinds = {type(slo.sli).__name__ for slo in slos}
    assert kinds == {"RatioSLI", "LatencySLI", "ScoreSLI", "EventsSLI", "RawSLI"}
    assert any(slo.min_events for slo in slos)


def test_bundled_specs_have_no_warnings():
    assert [w for spec in load_paths([ROOT / "slo_specs"]) for w in spec.warnings] == []


def test_committed_rules_out_is_what_the_specs_compile_to(in_root):
    result = CliRunner().invoke(main, ["check", "slo_specs", "--rules", "rules_out"])

    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("fmt", list(Format))
def test_bundled_rules_pass_promtool_lint_in_every_format(
    fmt, promtool, tmp_path, in_root
):
    files, _ = compile_paths(["slo_specs"], fmt)
    paths = []
    for rules in files:
        text = rules.text
        if fmt is Format.PROMETHEUS_OPERATOR:
            # promtool reads the `spec` of a PrometheusRule as a rules file.
            text = yaml.safe_dump(yaml.safe_load(text)["spec"])
        elif fmt is Format.MIMIR:
            document = yaml.safe_load(text)
            assert document["namespace"] == Path(rules.relative_path).stem
            text = yaml.safe_dump({"groups": document["groups"]})
        path = tmp_path / rules.relative_path
        path.write_text(text)
        paths.append(str(path))

    result = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
