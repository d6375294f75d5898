"""The errors slo-engine raises on purpose; anything else is a bug.

SloEngineError
├── SpecError        a spec file is invalid: carries every problem found
├── RulesDriftError  committed rules differ from what the specs compile to
├── OutputError      rules could not be written
├── ConfigError      the daemon's config file is invalid: carries every problem
├── DaemonError      the daemon cannot run, e.g. another one holds its state file
├── QueryError       Prometheus could not be queried (SLO name, target)
├── HistoryError     a history, incidents or policy file is invalid
└── NotifyError      a notification could not be delivered (SLO, target)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "ConfigError",
    "DaemonError",
    "DeliveryError",
    "HistoryError",
    "NotifyError",
    "OutputError",
    "Problem",
    "PromtoolMissingError",
    "QueryError",
    "RulesDriftError",
    "SloEngineError",
    "SpecError",
]


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem: `file:line:col: field: message`.

    Lines and columns count from 1. A warning is shown but fails nothing.
    """

    path: str
    line: int
    column: int
    field: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        kind = "warning: " if self.warning else ""
        if self.field:
            return f"{where}: {kind}{self.field}: {self.message}"
        return f"{where}: {kind}{self.message}"


class SloEngineError(Exception):
    """Root of every error slo-engine raises on purpose."""


class SpecError(SloEngineError):
    """One or more spec files are invalid; `problems` are sorted by place."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class RulesDriftError(SloEngineError):
    """Rule files on disk differ from what their specs compile to."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class OutputError(SloEngineError):
    """Rules could not be written; nothing already on disk was changed."""


class ConfigError(SloEngineError):
    """The daemon's config file is invalid; `problems` are sorted by place."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class DaemonError(SloEngineError):
    """The daemon cannot run: its state file is locked or unusable."""


class PromtoolMissingError(SloEngineError):
    """`promtool` is not installed, so generated tests cannot run."""


class QueryError(SloEngineError):
    """Prometheus could not answer a query for an SLO."""

    def __init__(self, message: str, *, slo: str = "", target: str = "") -> None:
        self.slo = slo
        self.target = target
        super().__init__(message)


class HistoryError(SloEngineError):
    """A history, incidents or policy file given to a replay is invalid."""


class NotifyError(SloEngineError):
    """A notification could not be delivered to its target."""

    def __init__(self, message: str, *, slo: str = "", target: str = "") -> None:
        self.slo = slo
        self.target = target
        super().__init__(message)


class DeliveryError(NotifyError):
    """A channel did not take a notification; `retryable` says if trying again may help.

    `retry_after` is the wait the channel asked for (HTTP 429 `Retry-After`),
    if any. Messages never hold tokens, routing keys or webhook URLs.
    """

    def __init__(
        self,
        message: str,
        *,
        slo: str = "",
        target: str = "",
        retryable: bool = False,
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(message, slo=slo, target=target)
        self.retryable = retryable
        self.retry_after = retry_after
