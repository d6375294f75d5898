"""The `slo` command: parse flags, call one service function, pick the exit code.

Exit codes: 0 fine, 1 invalid input or a failed check, 2 usage error.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from slo_engine import compiler
from slo_engine.compiler import Format
from slo_engine.errors import Problem, SloEngineError, SpecError
from slo_engine.spec.loader import load_paths

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

_PATHS = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(path_type=Path)
)
_RULES_FORMAT = click.option(
    "--rules-format",
    type=click.Choice([f.value for f in Format]),
    default=Format.PROMETHEUS.value,
    show_default=True,
    help="Format the rules in --rules were compiled to.",
)


def _handles_errors(command: F) -> F:
    """Print `SloEngineError`s as their located lines and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SloEngineError as error:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.echo(str(error), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="slo-engine", prog_name="slo")
def main(debug: bool) -> None:
    """slo-engine: SLOs and error budgets for LLM applications, as Prometheus rules."""


@main.command("compile")
@_PATHS
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one rules file per spec file here.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in Format]),
    default=Format.PROMETHEUS.value,
    show_default=True,
)
@_handles_errors
def compile_command(paths: tuple[Path, ...], out: Path | None, fmt: str) -> None:
    """Compile SLO spec files (or folders of them) into Prometheus rules."""
    files, specs = compiler.compile_paths(paths, Format(fmt))
    _print_warnings(specs)

    if out is None:
        click.echo("---\n".join(rules.text for rules in files), nl=False)
        return
    removed = compiler.write_atomically(out, files)
    groups = sum(len(spec.slos) for spec in specs)
    click.echo(
        f"wrote {len(files)} rule files ({groups} rule groups) to {out}", err=True
    )
    for path in removed:
        click.echo(f"removed {path}: no spec compiles to it anymore", err=True)


@main.command("check")
@_PATHS
@click.option(
    "--rules",
    type=click.Path(file_okay=False, path_type=Path),
    help="Fail when this folder differs from what the specs compile to.",
)
@_RULES_FORMAT
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
)
def check_command(
    paths: tuple[Path, ...], rules: Path | None, rules_format: str, output: str
) -> None:
    """Validate SLO specs, and with --rules, that committed rules are current."""
    problems: list[Problem] = []
    try:
        if rules is None:
            specs = load_paths(paths)
        else:
            files, specs = compiler.compile_paths(paths, Format(rules_format))
            problems.extend(compiler.drift(files, rules))
        problems.extend(w for spec in specs for w in spec.warnings)
    except SpecError as error:
        problems.extend(error.problems)

    _report(problems, output)
    if any(not problem.warning for problem in problems):
        sys.exit(1)


def _print_warnings(specs: Sequence[Any]) -> None:
    for spec in specs:
        for warning in spec.warnings:
            click.echo(str(warning), err=True)


def _report(problems: list[Problem], output: str) -> None:
    ordered = sorted(problems)
    if output == "json":
        entries = [
            {
                "file": p.path,
                "line": p.line,
                "column": p.column,
                "field": p.field,
                "message": p.message,
                "severity": "warning" if p.warning else "error",
            }
            for p in ordered
        ]
        click.echo(json.dumps(entries, indent=2))
    elif output == "github":
        for p in ordered:
            kind = "warning" if p.warning else "error"
            text = f"{p.field}: {p.message}" if p.field else p.message
            text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            click.echo(f"::{kind} file={p.path},line={p.line},col={p.column}::{text}")
    else:
        for p in ordered:
            click.echo(str(p), err=True)
        errors = sum(1 for p in ordered if not p.warning)
        if not errors:
            click.echo("all SLO specs are valid", err=True)


@main.command("test")
@_PATHS
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the rules and generated tests here instead of a temporary folder.",
)
@click.option(
    "--rules",
    type=click.Path(file_okay=False, path_type=Path),
    help="Test the rule files in this folder (e.g. committed ones), not new ones.",
)
@_handles_errors
def test_command(paths: tuple[Path, ...], out: Path | None, rules: Path | None) -> None:
    """Generate promtool unit tests for the specs' alerts and run them."""
    files, specs = compiler.compile_paths(paths, Format.PROMETHEUS)
    _print_warnings(specs)
    if rules is not None:
        files = compiler.read_rules(files, rules)
    with tempfile.TemporaryDirectory(prefix="slo-test-") as scratch:
        report = compiler.run_unit_tests(files, specs, out or Path(scratch))

    for slo_id, reason in report.skipped:
        click.echo(f"skipped {slo_id}: {reason}", err=True)
    for failure in report.failures:
        line = f"FAILED {failure.slo_id}: {failure.condition} ({failure.detail})"
        click.echo(line, err=True)
    passed = report.cases - len(report.failures)
    summary = f"{passed} of {report.cases} alert checks passed"
    click.echo(f"{summary}, {len(report.skipped)} SLOs skipped", err=True)
    if report.failures:
        sys.exit(1)


@main.command("daemon")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The daemon's YAML config.",
)
@click.option(
    "--once", is_flag=True, help="Run one cycle; exit 1 if it could not do it all."
)
@_handles_errors
def daemon_command(config_path: Path, once: bool) -> None:
    """Evaluate error budgets on a schedule and page when they burn too fast."""
    from slo_engine import daemon, logs

    config = daemon.load_config(config_path)
    logs.configure(config.log_level.upper())
    sys.exit(daemon.run(config, once=once))
