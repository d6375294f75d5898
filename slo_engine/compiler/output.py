"""Render rule groups as YAML in each output format, and write them safely.

The YAML is emitted by hand rather than by a YAML library: the structure is
fixed and small, the output must be byte-stable, and hand-emitting is many
times faster for tens of thousands of rules. A test reads every output back
with PyYAML to prove it means what it says.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from slo_engine.compiler.rules import Rule, RuleGroup, build_groups
from slo_engine.conventions import GENERATED_HEADER
from slo_engine.durations import format_duration
from slo_engine.errors import OutputError
from slo_engine.model import Labels
from slo_engine.spec.loader import SpecFile

__all__ = [
    "Format",
    "RulesFile",
    "is_generated",
    "render",
    "rules_files",
    "write_atomically",
]

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_:./-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}
_K8S_NAME = re.compile(r"[^a-z0-9-]+")
# What YAML readers refuse to see unescaped (the YAML 1.1 printable set).
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


class Format(enum.StrEnum):
    """Where the rules go: Prometheus files, the Operator, or a Mimir ruler."""

    PROMETHEUS = "prometheus"
    PROMETHEUS_OPERATOR = "prometheus-operator"
    MIMIR = "mimir"


@dataclass(frozen=True)
class RulesFile:
    """One rules file to write: where it goes, what it holds, where it came from."""

    relative_path: str
    text: str
    source: str


def render(spec: SpecFile, fmt: Format, source: str, name: str) -> str:
    """The rules file for one spec file.

    Args:
        spec: the loaded spec file.
        fmt: the output format.
        source: the spec's path as shown in the header.
        name: a short name for the file, used by the Operator and Mimir.
    """
    groups = [group for slo in spec.slos for group in build_groups(slo)]
    lines = [GENERATED_HEADER, f"# Source: {source}"]
    if fmt is Format.PROMETHEUS:
        lines.append("groups:")
        lines.extend(_groups(groups, indent=""))
    elif fmt is Format.MIMIR:
        lines.append(f"namespace: {_scalar(name)}")
        lines.append("groups:")
        lines.extend(_groups(groups, indent=""))
    else:
        resource = _K8S_NAME.sub("-", name.lower()).strip("-")[:253] or "slo-rules"
        lines += [
            "apiVersion: monitoring.coreos.com/v1",
            "kind: PrometheusRule",
            "metadata:",
            f"  name: {_scalar(resource)}",
            "  labels:",
            "    app.kubernetes.io/managed-by: slo-engine",
            "spec:",
            "  groups:",
        ]
        lines.extend(_groups(groups, indent="  "))
    return "\n".join(lines) + "\n"


def rules_files(
    specs: Iterable[tuple[SpecFile, str, str]], fmt: Format
) -> list[RulesFile]:
    """Render each `(spec, source, relative output path)` into a `RulesFile`."""
    files = []
    for spec, source, relative in specs:
        name = Path(relative).with_suffix("").as_posix().replace("/", "-")
        files.append(RulesFile(relative, render(spec, fmt, source, name), source))
    return files


def is_generated(path: Path) -> bool:
    """Whether `path` is a rules file slo-engine wrote (its first line says so)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError:
        return False
    return first.decode("utf-8", "replace").rstrip("\r\n") == GENERATED_HEADER


def write_atomically(out_dir: Path, files: list[RulesFile]) -> list[Path]:
    """Write every file, then remove generated files no spec produces anymore.

    Each file is written to a temporary name in the same folder and renamed
    over the old one, so a reader never sees half a file. Nothing is renamed
    until every file is written. Returns the stale files that were removed.

    Limitations:
        Renames are atomic one file at a time: a crash between two renames
        leaves some files new and some old (each whole); compiling again
        converges.

    Raises:
        OutputError: a file could not be written; the old files stay as they were.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"{out_dir}: cannot create folder: {error.strerror}"
        ) from None

    staged: list[tuple[str, Path]] = []
    try:
        for rules in files:
            target = out_dir / rules.relative_path
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_stage(target, rules.text), target))
    except OSError as error:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"{out_dir}: cannot write rules: {error}") from None

    for done, (temporary, target) in enumerate(staged):
        try:
            os.replace(temporary, target)
        except OSError as error:
            for leftover, _ in staged[done:]:
                Path(leftover).unlink(missing_ok=True)
            message = f"{target}: cannot replace ({error.strerror}); {done} files were"
            raise OutputError(f"{message} already updated, run compile again") from None

    return _remove_stale(out_dir, {target.resolve() for _, target in staged})


def _stage(target: Path, text: str) -> str:
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary


def _remove_stale(out_dir: Path, keep: set[Path]) -> list[Path]:
    removed = []
    for path in sorted(out_dir.rglob("*.y*ml")):
        if path.resolve() not in keep and is_generated(path):
            path.unlink()
            removed.append(path)
    return removed


# ---- the YAML emitter ----------------------------------------------------------


def _groups(groups: list[RuleGroup], indent: str) -> list[str]:
    lines = []
    for group in groups:
        lines.append(f"{indent}- name: {_scalar(group.name)}")
        if group.interval is not None:
            lines.append(f"{indent}  interval: {format_duration(group.interval)}")
        lines.append(f"{indent}  rules:")
        for rule in group.rules:
            lines.extend(_rule(rule, indent + "    "))
    return lines


def _rule(rule: Rule, indent: str) -> list[str]:
    head = (
        f"record: {_scalar(rule.record)}"
        if rule.record
        else f"alert: {_scalar(rule.alert)}"
    )
    lines = [f"{indent[:-2]}- {head}"]
    lines.extend(_expr(rule.expr, indent))
    if rule.for_ is not None:
        lines.append(f"{indent}for: {format_duration(rule.for_)}")
    lines.extend(_mapping("labels", rule.labels, indent))
    lines.extend(_mapping("annotations", rule.annotations, indent))
    return lines


def _expr(expr: str, indent: str) -> list[str]:
    # PromQL is full of quotes and braces: a literal block keeps it readable.
    if _PLAIN.match(expr):
        return [f"{indent}expr: {expr}"]
    body = [
        f"{indent}  {line.rstrip()}" if line.strip() else ""
        for line in expr.split("\n")
    ]
    return [f"{indent}expr: |-", *body]


@functools.lru_cache(maxsize=4096)
def _mapping(key: str, values: Labels, indent: str) -> tuple[str, ...]:
    # Cached: every rule of an SLO repeats the same label block.
    if not values:
        return ()
    lines = [f"{indent}{key}:"]
    lines.extend(f"{indent}  {_scalar(k)}: {_scalar(v)}" for k, v in values)
    return tuple(lines)


@functools.lru_cache(maxsize=65536)
def _scalar(text: str) -> str:
    """A YAML scalar that reads back as exactly `text`, as a string."""
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    # A JSON string is a valid YAML double-quoted scalar with the same value;
    # characters YAML may not hold raw are escaped as \\u or \\U.
    quoted = json.dumps(text, ensure_ascii=False)
    return _NON_PRINTABLE.sub(_escape_char, quoted)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
