"""Fixtures that start real servers for a test module and always stop them."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from .harness import Server

S = TypeVar("S", bound=Server)


@pytest.fixture(scope="module", autouse=True)
def _binaries() -> None:
    """The suite runs Debian's packages `prometheus` and `prometheus-alertmanager`."""
    for binary in ("prometheus", "promtool", "prometheus-alertmanager"):
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} is missing: apt-get install -y prometheus")


@pytest.fixture(scope="module")
def launch() -> Iterator[Callable[[S], S]]:
    """Start a server for this module; it is stopped when the module ends.

    A server is listed before it starts, so a failing test or a failed start
    still leaves no process behind.
    """
    started: list[Server] = []

    def start(server: S) -> S:
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()
