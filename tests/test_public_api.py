"""Each package states its public surface with `__all__`, and every name exists."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import slo_engine


def public_modules() -> list[str]:
    names = ["slo_engine"]
    for info in pkgutil.walk_packages(slo_engine.__path__, "slo_engine."):
        leaf = info.name.rsplit(".", 1)[-1]
        if not leaf.startswith("_"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", public_modules())
def test_module_declares_all_and_every_name_resolves(name):
    module = importlib.import_module(name)

    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert missing == []
    assert module.__doc__, f"{name} has no module docstring"


def test_model_imports_no_io_libraries():
    source = Path(slo_engine.__file__).parent / "model.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])

    assert imported <= {"__future__", "enum", "dataclasses", "datetime", "typing"}
