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
    slos = [slo for spec in specs for slo in spec.slos]
    groups = sum(len(compiler.build_groups(slo)) for slo in slos)
    counts = f"{len(slos)} SLOs, {groups} rule groups"
    click.echo(f"wrote {len(files)} rule files ({counts}) to {out}", err=True)
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


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """An RFC 3339 time, `now`, or a duration before now such as `-30d`."""
    from datetime import UTC, datetime

    from slo_engine.evaluate.history import parse_time

    try:
        return None if value is None else parse_time(value, datetime.now(UTC))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A Prometheus duration such as `1m` or `5m`."""
    from slo_engine.durations import parse_duration

    try:
        return None if value is None else parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


_PROMETHEUS = click.option(
    "--prometheus",
    metavar="URL",
    help="Prometheus base URL, e.g. http://127.0.0.1:9090",
)
_AT = click.option(
    "--at",
    callback=_time,
    default="now",
    show_default=True,
    help="Evaluate at this time.",
)


@main.command("status")
@_PATHS
@_PROMETHEUS
@_AT
@click.option(
    "--format", "output", type=click.Choice(["table", "json"]), default="table"
)
@_handles_errors
def status_command(
    paths: tuple[Path, ...], prometheus: str | None, at: Any, output: str
) -> None:
    """Show where every SLO's error budget stands, grouped by layer."""
    from slo_engine import logs, report

    logs.configure("WARNING")
    if not prometheus:
        raise click.UsageError("missing option '--prometheus'")
    rows = report.collect_status(paths, prometheus, at)
    text = report.render_json(rows) if output == "json" else report.render_table(rows)
    click.echo(text)


@main.command("report")
@_PATHS
@_PROMETHEUS
@_AT
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Write index.html here.",
)
@_handles_errors
def report_command(
    paths: tuple[Path, ...], prometheus: str | None, at: Any, out: Path
) -> None:
    """Write an HTML report: a summary table, burn-down and burn-rate plots."""
    from slo_engine import logs, report

    logs.configure("WARNING")
    if not prometheus:
        raise click.UsageError("missing option '--prometheus'")
    page = report.write_report(paths, prometheus, out, at)
    click.echo(f"wrote {page}", err=True)


@main.command("backtest")
@_PATHS
@_PROMETHEUS
@click.option(
    "--from", "start", callback=_time, help="Start of the history (Prometheus)."
)
@click.option("--to", "end", callback=_time, default="now", show_default=True)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read timestamp,slo,good,bad rows instead of Prometheus.",
)
@click.option(
    "--step",
    callback=_duration,
    help="Replay step; default 5m from Prometheus, 1m from CSV.",
)
@click.option(
    "--incidents",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Real incidents (YAML or CSV: slo, start, end) to score the policy on.",
)
@click.option(
    "--policy",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An alternative list of window pairs to compare side by side.",
)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@_handles_errors
def backtest_command(
    paths: tuple[Path, ...],
    prometheus: str | None,
    start: Any,
    end: Any,
    csv_file: Path | None,
    step: Any,
    incidents: Path | None,
    policy: Path | None,
    output: str,
) -> None:
    """Replay the SLOs' alert policies over history and score them on incidents."""
    from datetime import timedelta

    from slo_engine import logs
    from slo_engine.evaluate.backtest import HistorySource, run_backtest
    from slo_engine.report.replay import render_backtest_json, render_backtest_text

    logs.configure("WARNING")
    if (csv_file is None) == (prometheus is None):
        raise click.UsageError("give exactly one of --prometheus and --csv")
    if prometheus is not None and start is None:
        raise click.UsageError("--prometheus needs --from")
    default_step = timedelta(minutes=1 if csv_file else 5)
    source = HistorySource(step or default_step, csv_file, prometheus or "", start, end)
    result = run_backtest(paths, source, incidents, policy, show_progress=True)
    render = render_backtest_json if output == "json" else render_backtest_text
    click.echo(render(result))
