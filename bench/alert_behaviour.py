"""How the default alert policy behaves at 99.9% over 30 days: detection and
reset times per burn rate, low traffic under `min_events`, and missing data.

The figures come from the rules' own maths evaluated on a one-minute grid
(`rate()` over raw counters up to 6h, ratios of sums of the recorded 5m rates
beyond), and one row is cross-checked by running promtool on the compiled
rules. Run: `python bench/alert_behaviour.py`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import yaml

from slo_engine.compiler.output import Format, render
from slo_engine.compiler.rules import NO_DATA_FOR, RAW_RANGE_LIMIT, all_rules
from slo_engine.conventions import BASE_WINDOW, no_data_alert_name
from slo_engine.model import SLO, Alerting, Matcher, RatioSLI, Selector, Severity
from slo_engine.spec.loader import SpecFile
from slo_engine.windows import default_policy, detection_time, threshold

MINUTE = timedelta(minutes=1)
BURNS = (1000, 100, 20, 10, 5)
PER_MINUTE = 100_000  # events per minute in the burn-rate rows
HEALTHY = 3 * 24 * 60 + 10  # minutes of clean traffic before each incident


def bench_slo(min_events: int | None = None) -> SLO:
    return SLO(
        service="bench",
        name="api",
        objective=0.999,
        sli=RatioSLI(
            total=Selector("requests_total"),
            bad=Selector("requests_total", (Matcher("code", "=", "500"),)),
        ),
        alerting=Alerting("BenchBudgetBurn"),
        policy=default_policy(timedelta(days=30)),
        min_events=min_events,
    )


# ---- the rules' maths on a minute grid ------------------------------------------


def window_ratio(bad: np.ndarray, total: np.ndarray, window: timedelta) -> np.ndarray:
    """The recorded error ratio over `window` at every minute (NaN: absent)."""
    counter_bad, counter_total = np.cumsum(bad), np.cumsum(total)
    if window <= RAW_RANGE_LIMIT:
        return _diff(counter_bad, window) / _diff(counter_total, window)
    # Long windows: sums of the 5m rates over window + 1 samples (both ends).
    rate_bad, rate_total = (
        _diff(counter_bad, BASE_WINDOW),
        _diff(counter_total, BASE_WINDOW),
    )
    span = int(window / MINUTE) + 1
    return _moving_sum(rate_bad, span) / _moving_sum(rate_total, span)


def window_events(total: np.ndarray, window: timedelta) -> np.ndarray:
    return _diff(np.cumsum(total), window)


def _diff(counter: np.ndarray, window: timedelta) -> np.ndarray:
    """Increase over the window; a window reaching before the first sample uses
    what there is (rate() extrapolates bad and total alike, so ratios hold)."""
    lag = int(window / MINUTE)
    earlier = np.concatenate((np.full(lag, counter[0]), counter))[: len(counter)]
    out = counter - earlier
    out[0] = np.nan
    return out


def _moving_sum(values: np.ndarray, span: int) -> np.ndarray:
    sums = np.cumsum(np.nan_to_num(values))
    earlier = np.concatenate((np.zeros(span), sums))[: len(sums)]
    return sums - earlier


def firing(slo: SLO, bad: np.ndarray, total: np.ndarray) -> dict[int, np.ndarray]:
    """For each policy pair, whether its alert fires at every minute."""
    fired = {}
    for index, pair in enumerate(slo.policy):
        limit = threshold(pair, slo.error_budget)
        with np.errstate(invalid="ignore", divide="ignore"):
            long = window_ratio(bad, total, pair.long_window) > limit
            short = window_ratio(bad, total, pair.short_window) > limit
        holds = long & short
        if slo.min_events is not None:
            holds &= window_events(total, pair.long_window) >= slo.min_events
        fired[index] = holds
    return fired


def incident(
    burn: float, minutes: int, per_minute: float, after: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    ratio = min(burn * 0.001, 1.0)
    total = np.full(HEALTHY + minutes + after, float(per_minute))
    bad = np.zeros_like(total)
    # Increment k is what happened in minute (k-1, k]: the incident starts at
    # HEALTHY, and an alert firing at index HEALTHY + n detected it in n minutes.
    bad[HEALTHY + 1 : HEALTHY + 1 + minutes] = ratio * per_minute
    return bad, total


def first(mask: np.ndarray, start: int) -> int | None:
    hits = np.flatnonzero(mask[start:])
    return int(hits[0]) if hits.size else None


def page_mask(slo: SLO, fired: dict[int, np.ndarray]) -> np.ndarray:
    pages = [fired[i] for i, p in enumerate(slo.policy) if p.severity is Severity.PAGE]
    return np.logical_or.reduce(pages)


def measure(slo: SLO, burn: float) -> tuple[int | None, int | None, int | None]:
    """Minutes to page, to ticket, and from the incident's end to the page resetting."""
    bad, total = incident(burn, 4 * 24 * 60, PER_MINUTE)
    fired = firing(slo, bad, total)
    page = first(page_mask(slo, fired), HEALTHY)
    tickets = [
        fired[i] for i, p in enumerate(slo.policy) if p.severity is Severity.TICKET
    ]
    ticket = first(np.logical_or.reduce(tickets), HEALTHY)
    if page is None:
        return None, ticket, None

    # The incident ends the minute the page fires; how long does it keep firing?
    bad, total = incident(burn, page, PER_MINUTE, after=12 * 60)
    mask = page_mask(slo, firing(slo, bad, total))
    reset = first(~mask, HEALTHY + page)
    return page, ticket, reset


def workbook(slo: SLO, burn: float, severity: Severity) -> str:
    times = [
        detection_time(p, burn)
        for p in slo.policy
        if p.severity is severity and burn >= p.burn_rate
    ]
    return _show(min(times) / MINUTE) if times else "never"


def _show(minutes: float | None) -> str:
    if minutes is None:
        return "never"
    if minutes < 120:
        return f"{minutes:.1f}m"
    return f"{minutes / 60:.1f}h"


# ---- promtool cross-check -----------------------------------------------------------


def promtool_check(slo: SLO, burn: float, page: int, reset: int) -> str:
    """Run promtool on the compiled rules at the minutes the grid predicts."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return "promtool not found (apt-get install prometheus): not cross-checked"
    start = 6 * 60 + 10  # enough clean history for the page windows
    bad, total = incident(burn, page, PER_MINUTE, after=reset + 2)
    bad, total = bad[HEALTHY - start :], total[HEALTHY - start :]
    fired = firing(slo, bad, total)
    times = {
        "page fires": start + page,
        "not a minute earlier": start + page - 1,
        "page resets": start + page + reset,
        "still firing a minute before": start + page + reset - 1,
    }
    checks = []
    for minute in times.values():
        firing_now = [i for i in fired if fired[i][minute]]
        checks.append(
            {
                "eval_time": f"{minute}m",
                "alertname": slo.alerting.name,
                "exp_alerts": [_expected(slo, i) for i in firing_now],
            }
        )
    good = total - bad
    base = 10**9
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'requests_total{code="500"}',
                        "values": _values(base, bad),
                    },
                    {
                        "series": 'requests_total{code="200"}',
                        "values": _values(base, good),
                    },
                ],
                "alert_rule_test": checks,
            }
        ],
    }
    spec = SpecFile(path="bench", service=slo.service, slos=(slo,))
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "rules.yaml").write_text(
            render(spec, Format.PROMETHEUS, "bench", "bench")
        )
        Path(folder, "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
        result = subprocess.run(
            [promtool, "test", "rules", "tests.yaml"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
    verdict = (
        "agrees"
        if result.returncode == 0
        else "DISAGREES:\n" + result.stdout + result.stderr
    )
    return f"promtool {verdict} ({', '.join(times)})"


def _expected(slo: SLO, index: int) -> dict[str, object]:
    alerts = [r for r in all_rules(slo) if r.alert == slo.alerting.name]
    rule = alerts[index]
    return {"exp_labels": dict(rule.labels), "exp_annotations": dict(rule.annotations)}


def _values(base: int, increments: np.ndarray) -> str:
    counter = base + np.concatenate(([0], np.cumsum(increments[1:])))
    return " ".join(str(int(v)) for v in counter)


# ---- report ------------------------------------------------------------------


def main() -> None:
    slo = bench_slo()
    print("Default policy, objective 99.9%, 30d window, 3d of clean traffic first.")
    print("Reset: the incident ends when the page fires; time until it stops.\n")
    columns = ("burn", "error ratio", "page", "page (workbook)", "ticket")
    columns += ("ticket (workbook)", "page reset")
    widths = (6, 11, 8, 16, 8, 18, 11)
    header = " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    measured = {}
    for burn in BURNS:
        page, ticket, reset = measure(slo, burn)
        measured[burn] = (page, reset)
        print(
            f"{burn:>5}x {min(burn * 0.001, 1):>11.3%} {_show(page):>8} "
            f"{workbook(slo, burn, Severity.PAGE):>16} {_show(ticket):>8} "
            f"{workbook(slo, burn, Severity.TICKET):>18} {_show(reset):>11}"
        )

    page, reset = measured[100]
    assert page is not None
    assert reset is not None
    print(f"\nCross-check of the 100x row: {promtool_check(slo, 100, page, reset)}")

    print("\nLow traffic, min_events: 50, every event bad from the incident on:")
    print("(the 1h pair needs 50 events per hour, the 6h pair 50 per 6 hours)")
    limited = bench_slo(min_events=50)
    for per_hour in (6, 8, 9, 30, 49, 50, 600):
        bad, total = incident(1000, 24 * 60, per_hour / 60)
        minute = first(page_mask(limited, firing(limited, bad, total)), HEALTHY)
        outcome = "never pages" if minute is None else f"pages after {_show(minute)}"
        print(f"  {per_hour:>4} events/hour: {outcome}")

    stop = _show((BASE_WINDOW + NO_DATA_FOR) / MINUTE)
    base, wait = _show(BASE_WINDOW / MINUTE), _show(NO_DATA_FOR / MINUTE)
    print(
        f"\nMissing data: {no_data_alert_name(slo.alerting.name)} fires {stop} after "
        f"the series stop ({base} until the 5m rate is absent, then for: {wait});"
        "\n`slo test` checks this with promtool for every SLO."
    )


if __name__ == "__main__":
    sys.exit(main())
