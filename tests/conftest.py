"""Shared test set-up: Hypothesis profiles and the path to promtool."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci", parent=settings.get_profile("default"), max_examples=200
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="Rewrite golden files (rules, notifier payloads) from the current code.",
    )


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary; the suite needs it (Debian package `prometheus`)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: apt-get install -y prometheus")
    return path
