"""The README stays true: its spec examples load, its error lines are real."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from slo_engine.cli import main
from slo_engine.spec import SpecLoader

README = Path(__file__).parent.parent / "README.md"


def test_readme_spec_examples_load_without_problems():
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    specs = [block for block in blocks if "version: slo-engine/v1" in block]

    assert specs
    for block in specs:
        loaded = SpecLoader().load_bytes(block.encode(), "README.md")
        assert loaded.slos
        assert loaded.warnings == ()


def test_readme_error_example_is_what_check_prints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("specs").mkdir()
    Path("specs/chat.yaml").write_text(
        "version: slo-engine/v1\nservice: chat\nslos:\n  - name: availability\n"
        "    objective: 100\n    sli:\n      ratoi: {}\n"
    )
    example = re.search(r"```\n(specs/chat.yaml:.*?)```", README.read_text(), re.S)

    result = CliRunner().invoke(main, ["check", "specs"])

    assert example is not None
    assert result.stderr == example.group(1)
