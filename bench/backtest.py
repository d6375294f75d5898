"""Replay 1,000 SLOs over 90 days of 1-minute steps and print the time and peak memory.

Target (issue 5): at most 5 s and 4 GB on a 2-core machine. The floor printed
beside it is one numpy pass over the same data: the running sums of bad and
total events of every SLO, which any rolling-window replay must compute.

    python bench/backtest.py [--slos 1000] [--days 90]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from slo_engine import logs
from slo_engine.evaluate.backtest import backtest
from slo_engine.evaluate.history import History, Incident
from slo_engine.model import SLO, Alerting, RatioSLI, Selector
from slo_engine.windows import default_policy

TARGET_SECONDS = 5.0
TARGET_MB = 4096.0
STEP = timedelta(minutes=1)
START = datetime(2026, 1, 1, tzinfo=UTC)
OBJECTIVES = (0.99, 0.995, 0.999)
INCIDENTS_PER_SLO = 3


def peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_slos(count: int) -> list[SLO]:
    """`count` SLOs with the workbook policy on a 30-day window."""
    return [
        SLO(
            service=f"svc{i // 100}",
            name=f"slo-{i}",
            objective=OBJECTIVES[i % len(OBJECTIVES)],
            sli=RatioSLI(
                total=Selector("requests_total"), bad=Selector("errors_total")
            ),
            alerting=Alerting(name=f"Slo{i}BudgetBurn"),
            policy=default_policy(timedelta(days=30)),
            min_events=50 if i % 2 else None,
        )
        for i in range(count)
    ]


def make_history(
    slos: list[SLO], steps: int, seed: int = 5
) -> tuple[History, list[Incident]]:
    """Counts as float32 (exact for whole counts below 2**24), with incidents."""
    rng = np.random.default_rng(seed)
    total = np.empty((len(slos), steps), dtype=np.float32)
    bad = np.empty((len(slos), steps), dtype=np.float32)
    incidents = []
    for row, slo in enumerate(slos):
        total[row] = rng.integers(80, 120, size=steps, dtype=np.int16)
        bad[row] = rng.integers(0, 2000, size=steps, dtype=np.int16) < 2
        for _ in range(INCIDENTS_PER_SLO):
            first = int(rng.integers(0, steps - 600))
            length = int(rng.integers(10, 600))
            bad[row, first : first + length] = total[row, first : first + length] * 0.2
            incidents.append(
                Incident(
                    slo.slo_id,
                    START + first * STEP,
                    START + (first + length - 1) * STEP,
                )
            )
    ids = tuple(slo.slo_id for slo in slos)
    return History(START, STEP, ids, bad, total), incidents


def floor_pass(history: History) -> float:
    """One pass: running sums of bad and total events, row by row."""
    buffer = np.empty(history.steps)
    started = time.perf_counter()
    for row in range(len(history.slo_ids)):
        np.cumsum(history.bad[row], dtype=np.float64, out=buffer)
        np.cumsum(history.total[row], dtype=np.float64, out=buffer)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    logs.configure("WARNING")

    steps = args.days * 24 * 60
    slos = make_slos(args.slos)
    history, incidents = make_history(slos, steps)
    data_mb = (history.bad.nbytes + history.total.nbytes) / 2**20
    floor = floor_pass(history)

    started = time.perf_counter()
    report = backtest(slos, history, incidents)
    elapsed = time.perf_counter() - started
    peak = peak_mb()

    (result,) = report.results
    print(
        f"{args.slos} SLOs x {args.days} days x 1m steps = {args.slos * steps:,} steps"
    )
    print(f"input: {data_mb:.0f} MB of float32 counts")
    print(
        f"alerts: {len(result.alerts)}, incidents: {len(result.outcomes)}, "
        f"missed: {len(result.missed)}, false pages: {len(result.false_pages)}"
    )
    print(f"floor (one numpy pass, running sums): {floor:.2f} s")
    print(f"backtest: {elapsed:.2f} s, peak memory {peak:.0f} MB")
    print(f"target: {TARGET_SECONDS:.0f} s and {TARGET_MB:.0f} MB")
    return 0 if elapsed <= TARGET_SECONDS and peak <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
