"""Read every SLO's error ratios from Prometheus in a few batched queries.

One instant query fetches every recorded `slo:sli_error:ratio_rate<w>` of
every SLO at once. Windows without a record (rules not loaded, or just
loaded) fall back to their raw expressions, batched one query per window
with `label_replace` tagging each SLO's result with its `slo_id`. Event
counts for `min_events` take one query per long window. Every query carries
an explicit time and timeout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
import structlog
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from slo_engine import conventions as names
from slo_engine.compiler import promql
from slo_engine.compiler.rules import events_in, windows_of
from slo_engine.durations import parse_duration
from slo_engine.errors import QueryError
from slo_engine.evaluate.burn import budget_remaining, burn_rate, time_left
from slo_engine.model import SLO, BurnRateWindow
from slo_engine.windows import threshold

__all__ = ["BudgetState", "PrometheusEvaluator"]

log = structlog.get_logger(__name__)

_RATIO_PREFIX = "slo:sli_error:ratio_rate"


@dataclass(frozen=True)
class BudgetState:
    """Where one SLO's error budget stands at one instant.

    `ratios` maps each window to its error ratio (NaN when there were no
    events). `known` is false when the SLI could not be read at all: such
    an SLO is unknown, never healthy.
    """

    slo: SLO
    at: datetime
    ratios: dict[timedelta, float] = field(default_factory=dict)
    events: dict[timedelta, float] = field(default_factory=dict)
    known: bool = True

    @property
    def budget_remaining(self) -> float:
        """Share of the SLO window's budget left; NaN when unknown."""
        ratio = self.ratios.get(self.slo.window, math.nan)
        return float(budget_remaining(ratio, self.slo.error_budget))

    def burn_rate(self, window: timedelta) -> float:
        """The burn rate over `window`; NaN when unknown."""
        ratio = self.ratios.get(window, math.nan)
        return float(burn_rate(ratio, self.slo.error_budget))

    def time_left(self, window: timedelta = timedelta(hours=1)) -> timedelta | None:
        """Time until the budget is gone at the burn over `window`."""
        return time_left(self.budget_remaining, self.burn_rate(window), self.slo.window)

    def firing(self) -> tuple[BurnRateWindow, ...]:
        """The policy's pairs whose condition holds, as the alert rules judge it."""
        return tuple(pair for pair in self.slo.policy if self._holds(pair))

    def _holds(self, pair: BurnRateWindow) -> bool:
        limit = threshold(pair, self.slo.error_budget)
        long_ratio = self.ratios.get(pair.long_window, math.nan)
        short_ratio = self.ratios.get(pair.short_window, math.nan)
        if not (long_ratio > limit and short_ratio > limit):
            return False
        if self.slo.min_events is None:
            return True
        return self.events.get(pair.long_window, 0.0) >= self.slo.min_events


class PrometheusEvaluator:
    """Evaluate many SLOs against one Prometheus through its HTTP API."""

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.queries = 0
        self._client = PrometheusConnect(
            url, headers=headers, auth=auth, disable_ssl=True
        )

    def evaluate(self, slos: Sequence[SLO], at: datetime) -> list[BudgetState]:
        """The budget state of every SLO at `at` (timezone-aware).

        Raises:
            QueryError: Prometheus could not be queried.
        """
        self.queries = 0
        recorded = self._recorded_ratios(at)
        # Rules not loaded, or loaded so recently that the events group has
        # not run yet: the windows without a record come from raw series.
        missing = [
            slo
            for slo in slos
            if not set(windows_of(slo)) <= recorded.get(slo.slo_id, {}).keys()
        ]
        if missing:
            for slo_id, raw in self._raw_ratios(missing, at).items():
                recorded[slo_id] = {**raw, **recorded.get(slo_id, {})}
        events = self._events(slos, at)

        states = []
        for slo in slos:
            ratios = recorded.get(slo.slo_id, {})
            known = any(not math.isnan(value) for value in ratios.values())
            state = BudgetState(slo, at, ratios, events.get(slo.slo_id, {}), known)
            states.append(state)
        return states

    # ---- queries -------------------------------------------------------------

    def _recorded_ratios(self, at: datetime) -> dict[str, dict[timedelta, float]]:
        result = self._query(f'{{__name__=~"{_RATIO_PREFIX}.+"}}', at)
        ratios: dict[str, dict[timedelta, float]] = {}
        for series in result:
            metric = series["metric"]
            window = _window_of(metric.get("__name__", ""))
            slo_id = metric.get(names.LABEL_SLO_ID)
            if window is not None and slo_id is not None:
                ratios.setdefault(slo_id, {})[window] = _value(series)
        return ratios

    def _raw_ratios(
        self, slos: Sequence[SLO], at: datetime
    ) -> dict[str, dict[timedelta, float]]:
        log.debug("raw_fallback_used", slos=[slo.slo_id for slo in slos])
        windows = sorted({w for slo in slos for w in windows_of(slo)})
        ratios: dict[str, dict[timedelta, float]] = {slo.slo_id: {} for slo in slos}
        for window in windows:
            parts = [
                _tagged(promql.error_ratio(slo.sli, window), slo.slo_id)
                for slo in slos
                if window in windows_of(slo)
            ]
            for series in self._query("\nor\n".join(parts), at):
                slo_id = series["metric"].get(names.LABEL_SLO_ID)
                if slo_id in ratios:
                    ratios[slo_id][window] = _value(series)
        return ratios

    def _events(
        self, slos: Sequence[SLO], at: datetime
    ) -> dict[str, dict[timedelta, float]]:
        counted = [slo for slo in slos if slo.min_events is not None]
        windows = sorted({pair.long_window for slo in counted for pair in slo.policy})
        events: dict[str, dict[timedelta, float]] = {}
        for window in windows:
            parts = [_tagged(events_in(slo, window), slo.slo_id) for slo in counted]
            for series in self._query("\nor\n".join(parts), at):
                slo_id = series["metric"].get(names.LABEL_SLO_ID, "")
                events.setdefault(slo_id, {})[window] = _value(series)
        return events

    def _query(self, query: str, at: datetime) -> list[dict[str, Any]]:
        if at.tzinfo is None:
            raise ValueError("evaluation times must be timezone-aware")
        self.queries += 1
        params = {"time": f"{at.timestamp():.3f}"}
        seconds = self.timeout.total_seconds()
        log.debug("query_sent", query=query, at=at.isoformat())
        try:
            result = self._client.custom_query(query, params=params, timeout=seconds)
        except (PrometheusApiClientException, requests.RequestException) as error:
            message = f"Prometheus at {self.url} did not answer: {_reason(error)}"
            raise QueryError(message, target=self.url) from None
        return list(result)


def _tagged(expr: str, slo_id: str) -> str:
    # Aggregated results carry no labels; tag each with its SLO to batch them.
    quoted = promql.quote(slo_id)
    return f'label_replace(({expr}), "{names.LABEL_SLO_ID}", {quoted}, "", "")'


def _window_of(record: str) -> timedelta | None:
    if not record.startswith(_RATIO_PREFIX):
        return None
    try:
        return parse_duration(record.removeprefix(_RATIO_PREFIX))
    except ValueError:
        return None


def _value(series: dict[str, Any]) -> float:
    return float(series["value"][1])


def _reason(error: Exception) -> str:
    # The client's messages can embed the full URL with credentials; keep the class
    # and the first line, which say what went wrong.
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text.split("?")[0][:200]
