"""Measure what the compiled rules cost a real Prometheus, beside two other shapes.

One Prometheus holds 200 SLOs over counters of 50 series each with 7 days of
backfilled history. Three rule shapes for the same SLOs are loaded in turn:

- ours: an events group every 2m30s records the 5m bad and total rates and
  divides their sums over the long windows; the main group, at the global
  interval, holds the short windows and the alerts;
- average of ratios: one group per SLO at the global interval, long windows
  averaging the recorded 5m error ratio;
- whole-window increase: one group per SLO, long windows taking
  `increase()` of the raw series.

Each shape's history is backfilled at the density its own rules would have
written it: the average shape's 5m ratio at the global interval, our 5m
rates at the events interval rounded down to whole scrape steps (2m at the
default 60s: a little denser than 2m30s, so our figure errs high). The cost
is evaluation seconds per second of wall time, from Prometheus's own
metrics, shown per global interval; each shape's error in
`slo:error_budget_remaining:ratio` on uneven traffic is compared with numpy.

Run from the repository root: `python bench/rule_cost.py` (about 25 minutes
on 2 cores; `--help` lists the knobs).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slo_engine import conventions as names
from slo_engine.compiler import Format, compile_paths, promql
from slo_engine.compiler.rules import EVENTS_INTERVAL, RAW_RANGE_LIMIT, windows_of
from slo_engine.durations import format_duration
from slo_engine.model import SLO
from tests.e2e.harness import Exporter, Prometheus

TARGET_VS_AVERAGE = 1.2
TARGET_VS_INCREASE = 0.2
TARGET_BUDGET_ERROR = 0.005
INSTANCES = 25  # x ok/error = 50 series per SLO metric
BLOCK = 2 * 3600  # one OpenMetrics file per TSDB block: promtool re-reads a
# whole file once per block it writes, so one big file costs days of parsing
DAY, NIGHT = (6000.0, 0.002), (300.0, 0.08)  # events per minute, bad share


@dataclass(frozen=True)
class Shape:
    """One way to write the rules of every SLO."""

    name: str
    rules: str


def main() -> None:
    args = _arguments()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="rule-cost-"))
    try:
        _run(args, work)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> None:
    started = time.monotonic()
    spec = work / "bench.yaml"
    spec.write_text(_spec(args.slos))
    files, specs = compile_paths([spec], Format.PROMETHEUS)
    slos = list(specs[0].slos)
    shapes = [
        Shape("ours (sum of 5m rates)", files[0].text),
        Shape("average of 5m ratios", _reshape(files[0].text, slos, "average")),
        Shape("whole-window increase", _reshape(files[0].text, slos, "increase")),
    ]

    end = int(time.time()) // args.step * args.step - args.step
    timestamps = np.arange(end - args.days * 86400, end + 1, args.step)
    counters = _traffic(slos, timestamps, args.step)
    prometheus = Prometheus(work / "prometheus")
    _backfill(work, prometheus.data_dir, slos, timestamps, counters, args.step)
    _log(started, "history backfilled")

    exporter = Exporter()
    exporter.set_counters(
        {
            _raw(slo, o): float(c[o][-1]) / INSTANCES
            for slo, c in counters.items()
            for o in ("ok", "error")
        }
    )
    exporter.set_rates(
        {_raw(slo, "ok"): 100.0 / INSTANCES for slo in counters}
        | {_raw(slo, "error"): 0.5 / INSTANCES for slo in counters}
    )
    results = {}
    with exporter.running():
        prometheus.write_config(_config(work / "rules.yaml", exporter.target, args))
        (work / "rules.yaml").write_text("groups: []\n")
        prometheus.start()
        try:
            for shape in shapes:
                results[shape.name] = _measure(prometheus, work, shape, args)
                _log(started, f"measured {shape.name}")
            errors = _budget_errors(prometheus, shapes, slos, timestamps, counters)
        finally:
            prometheus.stop()
    _report(shapes, results, errors, args)
    _log(started, "done")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=200)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--step", type=int, default=60, help="seconds between samples")
    parser.add_argument(
        "--interval", type=int, default=60, help="global rule evaluation, seconds"
    )
    parser.add_argument("--cycles", type=int, default=6, help="cycles measured")
    parser.add_argument("--workdir", help="keep the data here (default: a temp dir)")
    return parser.parse_args()


def _log(started: float, message: str) -> None:
    print(f"[{time.monotonic() - started:6.0f}s] {message}", file=sys.stderr)


# ---- the SLOs and their three rule shapes ----------------------------------


def _spec(count: int) -> str:
    slos = [
        {
            "name": f"s{index:03d}",
            "objective": 99,
            "sli": {
                "ratio": {
                    "bad": f'bench_s{index:03d}_requests_total{{outcome="error"}}',
                    "total": f"bench_s{index:03d}_requests_total",
                }
            },
        }
        for index in range(count)
    ]
    return yaml.safe_dump(
        {"version": "slo-engine/v1", "service": "bench", "slos": slos}
    )


def _reshape(rules_text: str, slos: list[SLO], shape: str) -> str:
    """One group per SLO at the global interval, the 5m ratio read from raw
    series, and the long windows rewritten to the other shape."""
    document = yaml.safe_load(rules_text)
    groups = {group["name"]: group for group in document["groups"]}
    base_records = {
        names.record_bad_events(names.BASE_WINDOW),
        names.record_total_events(names.BASE_WINDOW),
    }
    reshaped = []
    for slo in slos:
        own = [names.group_name(slo.slo_id), names.events_group_name(slo.slo_id)]
        rules = [r for name in own if name in groups for r in groups[name]["rules"]]
        rewritten = {
            names.record_error_ratio(window): _other_expr(slo, window, shape)
            for window in windows_of(slo)
            if window > RAW_RANGE_LIMIT
        }
        records = [
            {**rule, "expr": rewritten.get(rule["record"], rule["expr"])}
            for rule in rules
            if "record" in rule and rule["record"] not in base_records
        ]
        alerts = [rule for rule in rules if "alert" in rule]
        reshaped.append({"name": own[0], "rules": records + alerts})
    return yaml.safe_dump({"groups": reshaped}, sort_keys=False)


def _other_expr(slo: SLO, window: timedelta, shape: str) -> str:
    if shape == "average":
        base = names.record_error_ratio(names.BASE_WINDOW)
        selector = promql.slo_selector(base, slo.slo_id)
        return f"avg_over_time({selector}[{format_duration(window)}])"
    return promql.error_ratio(slo.sli, window).replace("(rate(", "(increase(")


# ---- history ---------------------------------------------------------------


def _raw(slo_id: str, outcome: str, instance: int | None = None) -> str:
    metric = f"bench_{slo_id.removeprefix('bench-')}_requests_total"
    where = f',instance="i{instance:02d}"' if instance is not None else ""
    return f'{metric}{{outcome="{outcome}"{where}}}'


def _traffic(slos: list[SLO], timestamps: np.ndarray, step: int) -> dict[str, Any]:
    """Cumulative ok and error events per SLO: busy days, quiet bad nights."""
    rng = np.random.default_rng(7)
    hour = timestamps // 3600 % 24
    busy = (hour >= 8) & (hour < 20)
    per_step = step / 60
    counters = {}
    for slo in slos:
        total = rng.poisson(np.where(busy, DAY[0], NIGHT[0]) * per_step)
        bad = rng.binomial(total, np.where(busy, DAY[1], NIGHT[1]))
        total[0] = bad[0] = 0
        counters[slo.slo_id] = {
            "ok": np.cumsum(total - bad),
            "error": np.cumsum(bad),
        }
    return counters


def _backfill(
    work: Path,
    data_dir: Path,
    slos: list[SLO],
    timestamps: np.ndarray,
    counters: dict[str, Any],
    step: int,
) -> None:
    """Write raw series and the 5m records' history, one file per 2h block.

    The 5m records are computed here with the formula Prometheus uses for
    them at 1m-aligned times (tests/e2e checks the rules against numpy), as
    backfilling 600 records through promtool's range queries takes longer
    than the whole benchmark may.
    """
    lag = int(names.BASE_WINDOW.total_seconds()) // step
    events_every = max(1, int(EVENTS_INTERVAL.total_seconds()) // step)
    series: list[tuple[str, np.ndarray, slice]] = []
    for slo in slos:
        ok, bad = counters[slo.slo_id]["ok"], counters[slo.slo_id]["error"]
        for outcome, values in (("ok", ok), ("error", bad)):
            share = values / INSTANCES
            for instance in range(INSTANCES):
                series.append(
                    (_raw(slo.slo_id, outcome, instance), share, slice(0, None))
                )
        bad_rate = (bad[lag:] - bad[:-lag]) / (lag * step)
        total_rate = bad_rate + (ok[lag:] - ok[:-lag]) / (lag * step)
        labels = ",".join(f'{k}="{v}"' for k, v in _slo_labels(slo))
        records = (
            (names.record_bad_events(names.BASE_WINDOW), bad_rate, events_every),
            (names.record_total_events(names.BASE_WINDOW), total_rate, events_every),
            (names.record_error_ratio(names.BASE_WINDOW), bad_rate / total_rate, 1),
        )
        for record, values, every in records:
            thinned = np.full_like(values, np.nan)
            thinned[::every] = values[::every]
            series.append((f"{record}{{{labels}}}", thinned, slice(lag, None)))

    texts: dict[tuple[int, int], list[str]] = {}
    floats: dict[int, list[float]] = {}
    stamps = [str(int(t)) for t in timestamps]
    blocks = sorted({int(t) // BLOCK for t in timestamps})
    paths = []
    for block in blocks:
        inside = np.nonzero(timestamps // BLOCK == block)[0]
        path = work / f"history-{block}.txt"
        with path.open("w") as out:
            for name, values, span in series:
                offset = span.start or 0
                key = (id(values), block)
                if key not in texts:
                    rows = inside[inside >= offset].tolist()
                    if id(values) not in floats:
                        floats[id(values)] = values.tolist()
                    plain = floats[id(values)]
                    texts[key] = [
                        f"{plain[i - offset]!r} {stamps[i]}"
                        for i in rows
                        if plain[i - offset] == plain[i - offset]  # not NaN
                    ]
                lines = texts[key]
                if lines:
                    out.write(name + " " + f"\n{name} ".join(lines) + "\n")
            out.write("# EOF\n")
        texts.clear()
        paths.append(path)

    def convert(path: Path) -> None:
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "-q",
                str(path),
                str(data_dir),
            ],
            check=True,
            timeout=900,
            capture_output=True,
        )
        path.unlink()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(convert, paths))


def _slo_labels(slo: SLO) -> list[tuple[str, str]]:
    return [
        (names.LABEL_SLO_ID, slo.slo_id),
        (names.LABEL_SLO_NAME, slo.name),
        (names.LABEL_SLO_SERVICE, slo.service),
    ]


# ---- measuring -------------------------------------------------------------


def _config(rules: Path, target: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "global": {
            "scrape_interval": f"{args.step}s",
            "evaluation_interval": f"{args.interval}s",
        },
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "bench", "static_configs": [{"targets": [target]}]}
        ],
    }


_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$")


def _metrics(prometheus: Prometheus) -> dict[str, float]:
    """Prometheus's own metrics, summed over label sets."""
    with urllib.request.urlopen(f"{prometheus.url}/metrics", timeout=30) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            name, labels, value = match.groups()
            if 'quantile="' in (labels or ""):
                continue
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def _measure(
    prometheus: Prometheus, work: Path, shape: Shape, args: argparse.Namespace
) -> dict[str, float]:
    """Load `shape`, let it warm up, then average over `cycles` evaluations."""
    (work / "rules.yaml").write_text(shape.rules)
    prometheus.reload()
    groups = shape.rules.count("- name: ")
    time.sleep(2 * args.interval)

    before, started = _metrics(prometheus), time.monotonic()
    time.sleep(args.cycles * args.interval)
    after, elapsed = _metrics(prometheus), time.monotonic() - started

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    # Groups run at different intervals, so cost is evaluation time per
    # wall-clock second, shown per global interval ("cycle").
    cycles = elapsed / args.interval
    return {
        "cycles": cycles,
        "groups": groups,
        "group_seconds": delta("prometheus_rule_group_duration_seconds_sum") / cycles,
        "rule_seconds": delta("prometheus_rule_evaluation_duration_seconds_sum")
        / cycles,
        "last_duration": after.get("prometheus_rule_group_last_duration_seconds", 0.0),
        "missed": delta("prometheus_rule_group_iterations_missed_total"),
        "failures": delta("prometheus_rule_evaluation_failures_total"),
    }


def _budget_errors(
    prometheus: Prometheus,
    shapes: list[Shape],
    slos: list[SLO],
    timestamps: np.ndarray,
    counters: dict[str, Any],
) -> dict[str, float]:
    """Worst error in the budget left, at the end of the last quiet night.

    Each shape's SLO-window expression is asked for at that time; its long
    windows read the backfilled history, as its rule would have.
    """
    at = int(timestamps[-1]) // 86400 * 86400 + 6 * 3600
    if at > timestamps[-1]:
        at -= 86400
    index = int(np.searchsorted(timestamps, at))
    errors = {}
    for shape in shapes:
        exprs = _window_exprs(shape.rules, names.record_error_ratio(slos[0].window))
        worst = 0.0
        for slo in slos[:5]:
            ok, bad = counters[slo.slo_id]["ok"], counters[slo.slo_id]["error"]
            truth = 1 - bad[index] / (bad[index] + ok[index]) / slo.error_budget
            ratio = prometheus.value(exprs[slo.slo_id], at)
            worst = max(worst, abs((1 - ratio / slo.error_budget) - truth))
        errors[shape.name] = worst
    return errors


def _window_exprs(rules_text: str, record: str) -> dict[str, str]:
    document = yaml.safe_load(rules_text)
    found = {}
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == record:
                found[rule["labels"][names.LABEL_SLO_ID]] = rule["expr"]
    return found


def _report(
    shapes: list[Shape],
    results: dict[str, dict[str, float]],
    errors: dict[str, float],
    args: argparse.Namespace,
) -> None:
    print(
        f"{args.slos} SLOs x {2 * INSTANCES} series, {args.days}d history at "
        f"{args.step}s, rules every {args.interval}s, {args.cycles} cycles measured"
    )
    columns = ("group s/cycle", 13), ("rule s/cycle", 12), ("missed", 6)
    header = " ".join(f"{name:>{width}}" for name, width in columns)
    print(f"{'shape':28} {header} {'budget err':>10}")
    for shape in shapes:
        r = results[shape.name]
        print(
            f"{shape.name:28} {r['group_seconds']:13.4f} {r['rule_seconds']:12.4f} "
            f"{r['missed']:6.0f} {errors[shape.name]:10.5f}"
        )

    ours, average, increase = (results[s.name]["group_seconds"] for s in shapes)
    checks = [
        ("cost vs average of ratios", ours / average, TARGET_VS_AVERAGE),
        ("cost vs whole-window increase", ours / increase, TARGET_VS_INCREASE),
        ("budget error of ours", errors[shapes[0].name], TARGET_BUDGET_ERROR),
    ]
    for label, value, target in checks:
        verdict = "PASS" if value <= target else "MISS"
        print(f"{label:32} {value:8.4f} (target <= {target}) {verdict}")


if __name__ == "__main__":
    main()
