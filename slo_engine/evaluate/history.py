"""Per-step event counts for replays, from Prometheus or a CSV file, and incidents.

A `History` holds, for each SLO, the bad and total events of each step on a
regular time grid: entry `i` counts the events in the step that ends at
`start + i x step`, which is how `evaluate/burn.py` reads its arrays.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import requests
import structlog
import yaml
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from slo_engine import conventions as names
from slo_engine.compiler import promql
from slo_engine.durations import format_duration, parse_duration
from slo_engine.errors import HistoryError, QueryError
from slo_engine.evaluate.burn import FloatArray
from slo_engine.model import SLO, RawSLI

__all__ = [
    "Counts",
    "History",
    "Incident",
    "fetch_history",
    "load_incidents",
    "parse_time",
    "read_csv",
    "write_csv",
]

log = structlog.get_logger(__name__)

Counts = npt.NDArray[np.floating[Any]]
"""Events per step, one SLO per row: float64, or float32 for whole counts
below 2**24 (exact, and half the memory; sums are taken in float64)."""

# Prometheus refuses range queries of more than 11,000 points per series.
_POINTS_PER_QUERY = 10_000
_RELATIVE = re.compile(r"^-(.+)$")


@dataclass(frozen=True)
class History:
    """Bad and total events per step for several SLOs on one time grid."""

    start: datetime
    step: timedelta
    slo_ids: tuple[str, ...]
    bad: Counts
    total: Counts

    @property
    def steps(self) -> int:
        """How many steps the grid has."""
        return int(self.bad.shape[1])

    def time_at(self, index: int) -> datetime:
        """When step `index` ends."""
        return self.start + index * self.step

    def row(self, slo_id: str) -> int:
        """The row of `slo_id` in `bad` and `total`."""
        return self.slo_ids.index(slo_id)


@dataclass(frozen=True)
class Incident:
    """A real incident of one SLO, as the team recorded it."""

    slo: str
    start: datetime
    end: datetime


def parse_time(text: str, now: datetime) -> datetime:
    """An RFC 3339 time, `now`, or a duration before now such as `-30d`.

    Raises:
        ValueError: the text is none of these, or has no timezone.
    """
    if text == "now":
        return now
    relative = _RELATIVE.match(text)
    if relative is not None:
        return now - parse_duration(relative.group(1))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        message = f"{text!r} is not an RFC 3339 time, 'now', or like '-30d'"
        raise ValueError(message) from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone; add 'Z' or an offset")
    return moment


# ---- CSV ---------------------------------------------------------------------


def read_csv(path: Path, slos: Sequence[SLO], step: timedelta) -> History:
    """Read `timestamp,slo,good,bad` rows into a history on a `step` grid.

    `timestamp` is RFC 3339 or Unix seconds; the row's events happened in the
    step that ends at it, so a row between grid points counts towards the
    next one. `slo` is an SLO id (`<service>-<name>`) or a name that is unique
    among the loaded SLOs. Rows of one SLO and step add up; steps without a
    row have no events.

    Raises:
        HistoryError: the file cannot be read, or a row is invalid.
    """
    frame = _read_frame(path, ("timestamp", "slo", "good", "bad"))
    ids = _slo_lookup(slos)
    unknown = sorted(set(frame["slo"]) - set(ids))
    if unknown:
        raise HistoryError(f"{path}: unknown SLO {unknown[0]!r}; use an SLO id or name")

    counts = frame[["good", "bad"]].apply(pd.to_numeric, errors="coerce").astype(float)
    if counts.isna().any().any() or (counts < 0).any().any():
        row = int(counts[(counts.isna() | (counts < 0)).any(axis=1)].index[0]) + 2
        raise HistoryError(f"{path}:{row}: good and bad must be counts of at least 0")

    grid = _on_grid(_timestamps(frame["timestamp"], path), step)
    frame = pd.DataFrame(
        {
            "slo": frame["slo"].map(ids),
            "at": grid,
            "bad": counts["bad"],
            "total": counts["good"] + counts["bad"],
        }
    )
    return _pivot(frame, [slo.slo_id for slo in slos], step)


def _read_frame(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise HistoryError(f"{path}: cannot read CSV: {error}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        expected = ",".join(columns)
        message = f"{path}: missing column {missing[0]!r}; expected {expected}"
        raise HistoryError(message)
    return frame


def _slo_lookup(slos: Sequence[SLO]) -> dict[str, str]:
    by_name: dict[str, list[str]] = {}
    for slo in slos:
        by_name.setdefault(slo.name, []).append(slo.slo_id)
    lookup = {name: ids[0] for name, ids in by_name.items() if len(ids) == 1}
    lookup.update({slo.slo_id: slo.slo_id for slo in slos})
    return lookup


def _timestamps(values: pd.Series[str], path: Path) -> pd.Series[Any]:
    numeric = pd.to_numeric(values, errors="coerce")
    parsed = pd.to_datetime(numeric, unit="s", utc=True)
    text = numeric.isna()
    if text.any():
        parsed[text] = pd.to_datetime(
            values[text], utc=True, errors="coerce", format="ISO8601"
        )
    if parsed.isna().any():
        row = int(parsed[parsed.isna()].index[0]) + 2
        raise HistoryError(f"{path}:{row}: timestamp must be RFC 3339 or Unix seconds")
    return parsed


def _on_grid(times: pd.Series[Any], step: timedelta) -> pd.Series[Any]:
    grid: pd.Series[Any] = times.dt.ceil(pd.Timedelta(step))
    return grid


def _pivot(frame: pd.DataFrame, slo_ids: list[str], step: timedelta) -> History:
    if frame.empty:
        raise HistoryError("the history holds no rows")
    first, last = frame["at"].min(), frame["at"].max()
    index = pd.date_range(first, last, freq=pd.Timedelta(step))
    arrays = {}
    for column in ("bad", "total"):
        table = frame.pivot_table(
            index="slo", columns="at", values=column, aggfunc="sum", fill_value=0.0
        )
        table = table.reindex(index=slo_ids, columns=index, fill_value=0.0)
        arrays[column] = table.to_numpy(dtype=np.float64)
    start = first.to_pydatetime()
    return History(start, step, tuple(slo_ids), arrays["bad"], arrays["total"])


# ---- Prometheus --------------------------------------------------------------


def fetch_history(
    url: str,
    slos: Sequence[SLO],
    start: datetime,
    end: datetime,
    step: timedelta = names.BASE_WINDOW,
    timeout: timedelta = timedelta(seconds=30),
) -> History:
    """Per-step event counts of every SLO between `start` and `end` from Prometheus.

    With a 5m step the recorded `slo:sli_*_events:rate5m` series are read
    (each sample then counts exactly one step's events); SLOs without them,
    and other steps, read `rate()` of the raw series over one step.

    Limitations:
        `raw` SLIs have no event counts and cannot be replayed. A step shorter
        than twice the scrape interval gives `rate()` too few samples.

    Raises:
        QueryError: Prometheus did not answer, or an SLI is `raw`.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("history bounds must be timezone-aware")
    for slo in slos:
        if isinstance(slo.sli, RawSLI):
            message = (
                f"{slo.slo_id}: a raw SLI has only a ratio, no event counts to "
                "replay; write it as an `events` SLI"
            )
            raise QueryError(message, slo=slo.slo_id, target=url)

    count = int((end - start) / step) + 1
    client = _RangeClient(url, step, timeout)
    bad = np.zeros((len(slos), count))
    total = np.zeros((len(slos), count))
    rows = {slo.slo_id: row for row, slo in enumerate(slos)}
    for first in range(0, count, _POINTS_PER_QUERY):
        last = min(first + _POINTS_PER_QUERY, count) - 1
        span = (start + first * step, start + last * step)
        for slo_id, column, values in client.counts(slos, span):
            if slo_id in rows:  # recorded series of other SLOs come along
                target = bad if column == "bad" else total
                target[rows[slo_id], first : last + 1] = values
    ids = tuple(slo.slo_id for slo in slos)
    return History(start, step, ids, np.minimum(bad, total), total)


class _RangeClient:
    """Range queries for event rates, turned into events per step."""

    def __init__(self, url: str, step: timedelta, timeout: timedelta) -> None:
        self.url = url
        self.step = step
        self.timeout = timeout
        self._client = PrometheusConnect(url, disable_ssl=True)

    def counts(
        self, slos: Sequence[SLO], span: tuple[datetime, datetime]
    ) -> list[tuple[str, str, FloatArray]]:
        found: list[tuple[str, str, FloatArray]] = []
        covered: dict[str, int] = {}
        wanted = promql.quote("|".join(re.escape(slo.slo_id) for slo in slos))
        if self.step == names.BASE_WINDOW:
            for column, record in (
                ("bad", names.record_bad_events(self.step)),
                ("total", names.record_total_events(self.step)),
            ):
                query = f"{record}{{{names.LABEL_SLO_ID}=~{wanted}}}"
                for slo_id, values, first in self._series(query, span):
                    found.append((slo_id, column, values))
                    covered[slo_id] = covered.get(slo_id, 0) + first

        # Recorded series start when their rules were loaded; an SLO whose
        # records do not reach back to the span's start reads raw series.
        recorded = {slo_id for slo_id, count in covered.items() if count == 2}
        raw = [slo for slo in slos if slo.slo_id not in recorded]
        for column in ("bad", "total") if raw else ():
            rate = promql.bad_rate if column == "bad" else promql.total_rate
            parts = [_tagged(rate(slo.sli, self.step), slo.slo_id) for slo in raw]
            for slo_id, values, _ in self._series("\nor\n".join(parts), span):
                found.append((slo_id, column, values))
        return found

    def _series(
        self, query: str, span: tuple[datetime, datetime]
    ) -> list[tuple[str, FloatArray, bool]]:
        """Events per step of each series, and whether it has the first step."""
        seconds = self.step.total_seconds()
        points = int((span[1] - span[0]) / self.step) + 1
        series = []
        for result in self._query(query, span):
            values = np.full(points, np.nan)
            for at, value in result["values"]:
                index = round((float(at) - span[0].timestamp()) / seconds)
                if 0 <= index < points:
                    values[index] = float(value) * seconds
            slo_id = result["metric"].get(names.LABEL_SLO_ID, "")
            first = bool(np.isfinite(values[0]))
            series.append((slo_id, np.nan_to_num(values, nan=0.0, posinf=0.0), first))
        return series

    def _query(
        self, query: str, span: tuple[datetime, datetime]
    ) -> list[dict[str, Any]]:
        log.debug("range_query_sent", query=query, start=span[0].isoformat())
        try:
            result = self._client.custom_query_range(
                query,
                start_time=span[0],
                end_time=span[1],
                step=format_duration(self.step),
                timeout=self.timeout.total_seconds(),
            )
        except (PrometheusApiClientException, requests.RequestException) as error:
            reason = str(error).splitlines()[0][:200] if str(error) else ""
            message = f"Prometheus at {self.url} did not answer: {reason or error!r}"
            raise QueryError(message, target=self.url) from None
        return list(result)


def _tagged(expr: str, slo_id: str) -> str:
    # Aggregated results carry no labels; tag each with its SLO to batch them.
    quoted = promql.quote(slo_id)
    return f'label_replace(({expr}), "{names.LABEL_SLO_ID}", {quoted}, "", "")'


# ---- incidents -----------------------------------------------------------------


def load_incidents(path: Path, slos: Sequence[SLO]) -> list[Incident]:
    """Read real incidents from YAML (a list of `{slo, start, end}`) or CSV.

    Raises:
        HistoryError: the file cannot be read, or an entry is invalid.
    """
    entries: list[dict[Any, Any]]
    if path.suffix in (".yaml", ".yml"):
        entries = _yaml_entries(path)
    else:
        entries = _read_frame(path, ("slo", "start", "end")).to_dict("records")

    ids = _slo_lookup(slos)
    incidents = []
    for number, entry in enumerate(entries, 1):
        where = f"{path}: incident {number}"
        slo = str(entry.get("slo", ""))
        if slo not in ids:
            raise HistoryError(f"{where}: unknown SLO {slo!r}; use an SLO id or name")
        start, end = (
            _incident_time(entry.get(key), where, key) for key in ("start", "end")
        )
        if end < start:
            raise HistoryError(f"{where}: end is before start")
        incidents.append(Incident(ids[slo], start, end))
    return sorted(incidents, key=lambda incident: (incident.slo, incident.start))


def _yaml_entries(path: Path) -> list[dict[Any, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise HistoryError(f"{path}: cannot read incidents: {error}") from None
    if isinstance(data, dict) and "incidents" in data:
        data = data["incidents"]
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise HistoryError(f"{path}: expected a list of {{slo, start, end}} entries")
    return data


def _incident_time(value: object, where: str, key: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            message = f"{where}: {key} {value!r} is not an RFC 3339 time"
            raise HistoryError(message) from None
    if moment.tzinfo is None:
        raise HistoryError(f"{where}: {key} {value!r} has no timezone")
    return moment.astimezone(UTC)


def write_csv(path: Path, history: History) -> None:
    """Write a history in the format `read_csv` reads (one row per SLO and step)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "slo", "good", "bad"])
        for row, slo_id in enumerate(history.slo_ids):
            for index in range(history.steps):
                at = history.time_at(index).isoformat().replace("+00:00", "Z")
                bad = history.bad[row, index]
                good = history.total[row, index] - bad
                writer.writerow([at, slo_id, f"{good:g}", f"{bad:g}"])
