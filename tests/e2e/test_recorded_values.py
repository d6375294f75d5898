"""Recorded error ratios and budgets on a real Prometheus equal the event truth.

Eight days of synthetic traffic with busy days (few errors) and quiet nights
(many errors) are backfilled as raw counters; Prometheus then evaluates the
compiled rules over that history, and every `slo:sli_error:ratio_rate<w>` and
`slo:error_budget_remaining:ratio` is compared with numpy's count of the same
events.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from slo_engine import conventions as names
from slo_engine.compiler import Format, compile_paths
from slo_engine.compiler.rules import windows_of
from slo_engine.model import SLO

from .harness import (
    Prometheus,
    backfill_openmetrics,
    backfill_rules,
    reads_over_range,
    recording_levels,
    write_openmetrics,
)

SPEC = """\
version: slo-engine/v1
service: e2e
slos:
  - name: judged-answers
    objective: 99
    window: 7d
    sli:
      ratio:
        bad: llm_eval_judgements_total{verdict="hallucinated"}
        total: llm_eval_judgements_total
  - name: response-latency
    objective: 95
    sli:
      latency:
        metric: gen_ai_server_request_duration_seconds
        threshold: 2s
"""

STEP = 60  # seconds between samples, as a 1m scrape interval
DAYS = 8  # more than the 7d window, less than the 30d one
BASE_STEPS = int(names.BASE_WINDOW.total_seconds()) // STEP

# The agreed tolerance: a recorded ratio may differ from the truth by 0.5% of
# the error budget, so the budget left differs by at most 0.005.
TOLERANCE = 0.005

# Events per minute and the share of bad ones, by day (08:00-20:00 UTC) and
# night. Nights carry few events but a high bad share: an average of 5m ratios
# weighs each night minute as much as a day minute and so overstates errors.
TRAFFIC = {
    "e2e-judged-answers": {"day": (6000, 0.002), "night": (300, 0.08)},
    "e2e-response-latency": {"day": (3000, 0.01), "night": (200, 0.3)},
}
GOOD_BUCKETS = (("0.5", 0.5), ("1.0", 0.3), ("2.0", 0.2))
BAD_BUCKETS = (("5.0", 0.7), ("+Inf", 0.3))


@dataclass(frozen=True)
class Moment:
    """A time to check, as hours before the end of the history."""

    label: str
    hours_before_end: int


# The history ends at 06:00 UTC, at the end of a quiet night.
MOMENTS = (
    Moment("at the end of a quiet night", 0),
    Moment("at the end of a busy day", 10),
)


@dataclass(frozen=True)
class History:
    """What was backfilled and where it can be queried."""

    prometheus: Prometheus
    timestamps: np.ndarray
    bad: dict[str, np.ndarray]
    total: dict[str, np.ndarray]
    slos: dict[str, SLO]

    def at(self, moment: Moment) -> int:
        """The sample index of `moment`."""
        return len(self.timestamps) - 1 - moment.hours_before_end * 3600 // STEP

    def recorded(self, record: str, slo_id: str, at: float) -> tuple[float, float]:
        """The value of `record` seen at `at`, and when it was evaluated.

        Prometheus, and promtool after it, offsets each group's evaluations
        by a hash of the group, so a recorded sample is rarely on the minute
        grid of the raw samples: the truth must be taken at its own time.
        """
        selector = f'{record}{{slo_id="{slo_id}"}}'
        value = self.prometheus.value(selector, at)
        return value, self.prometheus.value(f"timestamp({selector})", at)

    def true_ratio(self, slo_id: str, at: float, window: timedelta) -> float:
        """Bad events over all events between the raw samples in [at - w, at].

        These are the samples `rate()` reads; it extrapolates bad and total
        events by the same factor, so their ratio is exactly this one.
        """
        origin = float(self.timestamps[0])
        first = int(np.ceil((at - window.total_seconds() - origin) / STEP))
        last = int(np.floor((at - origin) / STEP))
        bad, total = self.bad[slo_id], self.total[slo_id]
        first = max(first, 0)
        return float((bad[last] - bad[first]) / (total[last] - total[first]))

    def average_of_ratios(self, slo_id: str, end: int, window: timedelta) -> float:
        """The mean of the 5m ratios sampled each minute over the window."""
        bad, total = self.bad[slo_id], self.total[slo_id]
        ratios = (bad[BASE_STEPS:] - bad[:-BASE_STEPS]) / (
            total[BASE_STEPS:] - total[:-BASE_STEPS]
        )
        start = max(end - int(window.total_seconds()) // STEP, BASE_STEPS)
        return float(ratios[start - BASE_STEPS : end - BASE_STEPS + 1].mean())


def _counts(rng: np.random.Generator, busy: np.ndarray, slo_id: str) -> Any:
    day, night = TRAFFIC[slo_id]["day"], TRAFFIC[slo_id]["night"]
    total = rng.poisson(np.where(busy, day[0], night[0]))
    bad = rng.binomial(total, np.where(busy, day[1], night[1]))
    return bad, total


def _synthesize(end: int) -> tuple[np.ndarray, list[tuple[str, np.ndarray]], Any]:
    """Timestamps, the raw series to backfill, and per-SLO bad/total counters."""
    rng = np.random.default_rng(20240601)
    timestamps = np.arange(end - DAYS * 86400, end + 1, STEP)
    busy = (timestamps // 3600 % 24 >= 8) & (timestamps // 3600 % 24 < 20)
    busy[0] = False

    def cumulative(events: np.ndarray) -> np.ndarray:
        events = events.copy()
        events[0] = 0  # the counters start at zero with the history
        return np.cumsum(events)

    bad, total = _counts(rng, busy, "e2e-judged-answers")
    series = [
        ('llm_eval_judgements_total{verdict="hallucinated"}', cumulative(bad)),
        ('llm_eval_judgements_total{verdict="ok"}', cumulative(total - bad)),
    ]
    counters = {"e2e-judged-answers": (cumulative(bad), cumulative(total))}

    bad, total = _counts(rng, busy, "e2e-response-latency")
    metric = "gen_ai_server_request_duration_seconds"
    good_split = rng.multinomial(total - bad, [p for _, p in GOOD_BUCKETS])
    bad_split = rng.multinomial(bad, [p for _, p in BAD_BUCKETS])
    buckets = np.cumsum(np.hstack([good_split, bad_split]), axis=1)
    for column, (le, _) in enumerate(GOOD_BUCKETS + BAD_BUCKETS):
        series.append((f'{metric}_bucket{{le="{le}"}}', cumulative(buckets[:, column])))
    series.append((f"{metric}_count", cumulative(total)))
    counters["e2e-response-latency"] = (cumulative(bad), cumulative(total))
    return timestamps, series, counters


def _backfill_records(
    prometheus: Prometheus, rules_text: str, work: Path, history: tuple[int, int]
) -> None:
    """Backfill the recording rules, one dependency level at a time.

    Backfilled raw data is only raw series: recording rules never run over
    the past by themselves. `promtool tsdb create-blocks-from rules` asks the
    running server for each rule's values, so a level is loaded (server
    stopped, blocks moved in, started again) before the next is evaluated.
    Records that other rules read over a range (the 5m event rates) need the
    whole history; the rest only the minutes around the checked moments.
    """
    levels = recording_levels(rules_text)
    every_rule = [rule for level in levels for rule in level]
    start, end = history
    moments = [end - m.hours_before_end * 3600 for m in MOMENTS]
    for depth, level in enumerate(levels):
        ranged = [r for r in level if reads_over_range(every_rule, r["record"])]
        instant = [r for r in level if r not in ranged]
        blocks: list[Path] = []
        out = work / f"blocks-{depth}"
        if ranged:
            path = _rules_file(work / "backfill.yaml", ranged)
            blocks += backfill_rules(path, start, end, prometheus.url, out)
        for moment in moments if instant else []:
            path = _rules_file(work / "backfill.yaml", instant)
            blocks += backfill_rules(path, moment - STEP, moment, prometheus.url, out)

        prometheus.stop()
        for block in blocks:
            shutil.move(block, prometheus.data_dir / block.name)
        prometheus.start()


def _rules_file(path: Path, rules: list[dict[str, Any]]) -> Path:
    # Evaluations are offset by a hash of the group name and file, so every
    # level goes through one name and one file: like one live group, all
    # records then share their timestamps.
    path.write_text(yaml.safe_dump({"groups": [{"name": "backfill", "rules": rules}]}))
    return path


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, launch: Any) -> History:
    work = tmp_path_factory.mktemp("recorded-values")
    spec = work / "e2e.yaml"
    spec.write_text(SPEC)
    files, specs = compile_paths([spec], Format.PROMETHEUS)

    # The history ends at 06:00 UTC at least a day ago: wholly in the past,
    # and on the minute grid that promtool evaluates rules on.
    now = int(np.floor(np.datetime64("now", "s").astype(int)))
    end = (now // 86400 - 1) * 86400 + 6 * 3600
    timestamps, series, counters = _synthesize(end)
    write_openmetrics(work / "raw.txt", timestamps, series)

    prometheus = Prometheus(work / "prometheus")
    backfill_openmetrics(work / "raw.txt", prometheus.data_dir)
    launch(prometheus)
    _backfill_records(prometheus, files[0].text, work, (timestamps[0], end))

    return History(
        prometheus=prometheus,
        timestamps=timestamps,
        bad={slo_id: pair[0] for slo_id, pair in counters.items()},
        total={slo_id: pair[1] for slo_id, pair in counters.items()},
        slos={slo.slo_id: slo for slo in specs[0].slos},
    )


CASES = [
    pytest.param(slo_id, moment, id=f"{kind} SLI {moment.label}")
    for slo_id, kind in (
        ("e2e-judged-answers", "ratio"),
        ("e2e-response-latency", "latency"),
    )
    for moment in MOMENTS
]


@pytest.mark.parametrize(("slo_id", "moment"), CASES)
def test_recorded_error_ratios_equal_the_event_truth(
    history: History, slo_id: str, moment: Moment
) -> None:
    """Every window's recorded error ratio is the bad share of its events."""
    slo = history.slos[slo_id]
    index = history.at(moment)
    at = float(history.timestamps[index])
    allowed = TOLERANCE * slo.error_budget

    misses = []
    for window in windows_of(slo):
        record = names.record_error_ratio(window)
        recorded, evaluated = history.recorded(record, slo_id, at)
        truth = history.true_ratio(slo_id, evaluated, window)
        if abs(recorded - truth) > allowed:
            misses.append(f"{record}: recorded {recorded:.6g}, truth {truth:.6g}")
    assert not misses, f"off by more than {allowed:.3g}: {misses}"


@pytest.mark.parametrize(("slo_id", "moment"), CASES)
def test_recorded_budget_remaining_equals_the_event_truth(
    history: History, slo_id: str, moment: Moment
) -> None:
    """The budget left is 1 - (bad share over the SLO window) / budget."""
    slo = history.slos[slo_id]
    at = float(history.timestamps[history.at(moment)])
    record = names.RECORD_ERROR_BUDGET_REMAINING
    recorded, evaluated = history.recorded(record, slo_id, at)

    spent = history.true_ratio(slo_id, evaluated, slo.window) / slo.error_budget
    assert recorded == pytest.approx(1 - spent, abs=TOLERANCE)


@pytest.mark.parametrize(("slo_id", "moment"), CASES)
def test_average_of_ratios_would_miss_the_tolerance(
    history: History, slo_id: str, moment: Moment
) -> None:
    """The traffic is uneven enough that averaging 5m ratios gets it wrong.

    Without this, the tests above could pass on traffic where the wrong
    formula happens to give the right answer.
    """
    slo = history.slos[slo_id]
    index = history.at(moment)
    truth = history.true_ratio(slo_id, float(history.timestamps[index]), slo.window)
    average = history.average_of_ratios(slo_id, index, slo.window)

    budget_error = abs(average - truth) / slo.error_budget
    assert budget_error > 10 * TOLERANCE
