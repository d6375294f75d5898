"""Read YAML into a tree of values that remember their line and column.

Hostile input (huge files, invalid UTF-8, alias bombs, tabs, duplicate keys,
unknown tags) becomes a located `Problem`, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from slo_engine.errors import Problem, SpecError

__all__ = ["MAX_BYTES", "MAX_NODES", "Node", "parse_yaml"]

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
_MAX_DEPTH = 64

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class Node:
    """A YAML value with its position; mappings and sequences hold `Node`s."""

    value: Any
    line: int
    column: int
    key_lines: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)

    def plain(self) -> Any:
        """The value without positions: dicts, lists and scalars."""
        if isinstance(self.value, dict):
            return {key: child.plain() for key, child in self.value.items()}
        if isinstance(self.value, list):
            return [child.plain() for child in self.value]
        return self.value


def parse_yaml(data: bytes, path: str) -> tuple[Node, list[Problem]]:
    """Parse one YAML document; return its tree and the non-fatal problems.

    Raises:
        SpecError: the bytes are not one readable YAML document.
    """
    text = _decode(data, path)
    try:
        documents = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, path) from None
    except yaml.YAMLError as error:
        raise SpecError([Problem(path, 1, 1, "", f"invalid YAML: {error}")]) from None

    documents = [document for document in documents if document is not None]
    if not documents:
        message = "file is empty; expected a mapping with version, service and slos"
        raise SpecError([Problem(path, 1, 1, "", message)])
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        message = "expected one YAML document per file, found another here"
        raise SpecError([Problem(path, line, 1, "", message)])

    converter = _Converter(path)
    root = converter.convert(documents[0], depth=0)
    return root, converter.problems


def _decode(data: bytes, path: str) -> str:
    if len(data) > MAX_BYTES:
        message = f"file is {len(data)} bytes; spec files are limited to {MAX_BYTES}"
        raise SpecError([Problem(path, 1, 1, "", message)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        bad = data[error.start : error.start + 1]
        message = f"invalid UTF-8 byte {bad!r}; save the file as UTF-8"
        raise SpecError([Problem(path, line, column, "", message)]) from None
    return text.removeprefix("\ufeff")


def _syntax_error(error: yaml.MarkedYAMLError, path: str) -> SpecError:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = error.problem or error.context or "invalid YAML"
    if "tab" in problem or "'\\t'" in problem:
        problem += "; indent with spaces, YAML does not allow tabs"
    return SpecError([Problem(path, line, column, "", f"invalid YAML: {problem}")])


class _Converter:
    """Turn composed YAML nodes into `Node`s, counting to stop alias bombs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.count = 0
        self.constructor = yaml.SafeLoader("")
        self.scalar_builders: dict[str, Callable[..., Any]] = {
            tag: yaml.SafeLoader.yaml_constructors[tag] for tag in _SCALAR_TAGS
        }

    def convert(self, node: yaml.Node, depth: int) -> Node:
        self.count += 1
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if self.count > MAX_NODES or depth > _MAX_DEPTH:
            message = (
                f"document is too large or too deep (over {MAX_NODES} values or "
                f"{_MAX_DEPTH} levels); YAML aliases may be expanding without end"
            )
            raise SpecError([Problem(self.path, line, column, "", message)])

        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, line, column, depth)
        if isinstance(node, yaml.SequenceNode):
            items = [self.convert(item, depth + 1) for item in node.value]
            return Node(items, line, column)
        return Node(self._scalar(node, line, column), line, column)

    def _scalar(self, node: yaml.Node, line: int, column: int) -> Any:
        builder = self.scalar_builders.get(node.tag)
        if builder is None:
            message = f"YAML tag {node.tag!r} is not supported; write a plain value"
            self.problems.append(Problem(self.path, line, column, "", message))
            return None
        try:
            return builder(self.constructor, node)
        except (ValueError, yaml.YAMLError) as error:
            message = f"cannot read {node.value!r}: {error}"
            self.problems.append(Problem(self.path, line, column, "", message))
            return None

    def _mapping(
        self, node: yaml.MappingNode, line: int, column: int, depth: int
    ) -> Node:
        result = Node({}, line, column)
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key_column = key_node.start_mark.column + 1
            if not isinstance(key_node, yaml.ScalarNode):
                message = "mapping keys must be plain strings"
                self.problems.append(
                    Problem(self.path, key_line, key_column, "", message)
                )
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                message = "YAML merge keys ('<<') are not supported; repeat the keys"
                self.problems.append(
                    Problem(self.path, key_line, key_column, "", message)
                )
                continue
            key = str(key_node.value)
            if key in result.value:
                first = result.key_lines[key][0]
                message = f"duplicate key {key!r} (first defined on line {first})"
                self.problems.append(
                    Problem(self.path, key_line, key_column, "", message)
                )
                continue
            result.value[key] = self.convert(value_node, depth + 1)
            result.key_lines[key] = (key_line, key_column)
        return result
