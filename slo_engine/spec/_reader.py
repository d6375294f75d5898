"""Located readers for YAML trees: each check that fails records a `Problem`.

The spec loader and the daemon's config loader build on `Reader`, so every
file slo-engine reads reports problems the same way: `file:line:col: field:
message`, all of them at once.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from datetime import timedelta

from slo_engine.conventions import LABEL_NAME, RESERVED_LABELS
from slo_engine.durations import parse_duration
from slo_engine.errors import Problem
from slo_engine.model import Labels
from slo_engine.spec._yaml import Node

__all__ = ["Reader", "describe", "join", "suggest"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class Reader:
    """Problem-collecting readers of `Node` values; subclasses read one format."""

    def __init__(self, path: str = "") -> None:
        self.problems: list[Problem] = []
        self.path = path

    # ---- reporting ------------------------------------------------------------

    def fail(self, node: Node, where: str, message: str) -> None:
        self.problems.append(Problem(self.path, node.line, node.column, where, message))

    def warn(self, node: Node, where: str, message: str) -> None:
        problem = Problem(self.path, node.line, node.column, where, message, True)
        self.problems.append(problem)

    # ---- generic readers ------------------------------------------------------

    def mapping(
        self,
        node: Node,
        where: str,
        allowed: tuple[str, ...],
        required: tuple[str, ...] = (),
    ) -> dict[str, Node] | None:
        if not node.is_mapping:
            self.fail(node, where, f"expected a mapping, got {describe(node)}")
            return None

        for key in node.value:
            if key not in allowed:
                line, column = node.key_lines[key]
                key_node = Node(key, line, column)
                self.fail(key_node, join(where, key), _unknown_key(key, allowed))
        for key in required:
            if key not in node.value:
                self.fail(node, where, f"missing required key {key!r}")
        fields: dict[str, Node] = node.value
        return fields

    def string(self, node: Node, where: str) -> str | None:
        if isinstance(node.value, str) and node.value.strip():
            return node.value
        self.fail(node, where, f"expected a non-empty string, got {describe(node)}")
        return None

    def name(self, node: Node, where: str) -> str | None:
        text = self.string(node, where)
        if text is not None and not _NAME.match(text):
            message = (
                f"{text!r} is not a valid name; use letters, digits, '-', '_' and '.', "
                "starting with a letter or digit"
            )
            self.fail(node, where, message)
            return None
        return text

    def number(self, node: Node, where: str) -> float | None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(node, where, f"expected a number, got {describe(node)}")
            return None
        if not math.isfinite(value):
            self.fail(node, where, f"expected a finite number, got {value!r}")
            return None
        return float(value)

    def duration(self, node: Node, where: str) -> timedelta | None:
        if not isinstance(node.value, str):
            message = f"expected a duration such as '30d' or '5m', got {describe(node)}"
            self.fail(node, where, message)
            return None
        try:
            return parse_duration(node.value)
        except ValueError as error:
            self.fail(node, where, str(error))
            return None

    def labels(self, node: Node, where: str, *, label_names: bool = True) -> Labels:
        fields = node.value if node.is_mapping else None
        if fields is None:
            self.fail(
                node,
                where,
                f"expected a mapping of names to values, got {describe(node)}",
            )
            return ()

        pairs = []
        for key, value in fields.items():
            line, column = node.key_lines[key]
            key_where = join(where, key)
            if label_names and not LABEL_NAME.match(key):
                message = f"{key!r} is not a valid label name (letters, digits and '_')"
                self.fail(Node(key, line, column), key_where, message)
                continue
            if label_names and key in RESERVED_LABELS:
                message = (
                    f"{key!r} is set by slo-engine itself; choose another label name"
                )
                self.fail(Node(key, line, column), key_where, message)
                continue
            if isinstance(value.value, bool) or not isinstance(value.value, str | int):
                self.fail(value, key_where, f"expected a string, got {describe(value)}")
                continue
            pairs.append((key, str(value.value)))
        return tuple(sorted(pairs))


def join(where: str, key: str) -> str:
    """`where.key`, or `key` at the top level."""
    return f"{where}.{key}" if where else key


def describe(node: Node) -> str:
    """What a value is, for messages: `a mapping`, `a list`, or its repr."""
    value = node.value
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the nearest choice, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    hint = suggest(key, allowed)
    if hint:
        return f"unknown key {key!r}{hint}"
    return f"unknown key {key!r}; expected one of {', '.join(allowed)}"
