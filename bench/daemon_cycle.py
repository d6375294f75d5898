"""Run daemon cycles over 1,000 SLOs on a real Prometheus; print time, queries, memory.

Targets (issue 4): a cycle in at most 5 s, at most 10 queries per cycle,
at most 300 MB peak memory. The SLOs are written to 10 spec files, their
rules compiled and loaded into a Prometheus on 127.0.0.1 (the Debian
package) whose history of 2,000 counter series is backfilled with
`promtool`. One SLO in ten is burning, so the first cycle also decides
and delivers pages; channels are in-process recorders, so the figures are
the daemon's own cost, not a channel's.

    python bench/daemon_cycle.py [--slos 1000] [--cycles 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slo_engine import logs
from slo_engine.compiler import Format, compile_paths
from slo_engine.compiler.rules import EVENTS_INTERVAL
from slo_engine.daemon.config import DaemonConfig, PrometheusConfig, Route
from slo_engine.daemon.cycle import DaemonContext, align, run_cycle
from slo_engine.notify import Delivery, Notification

TARGET_SECONDS = 5.0
TARGET_QUERIES = 10
TARGET_MB = 300.0
PER_FILE = 100
STEP = timedelta(minutes=1)
HISTORY = timedelta(hours=2)
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Recorder:
    """A channel that takes every notification at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = 0

    def send(
        self, notification: Notification, *, reply_to: Delivery | None = None
    ) -> Delivery:
        self.sent += 1
        return Delivery(self.name)


def write_specs(folder: Path, slos: int) -> None:
    """Ratio SLOs, one `job` each; every fourth one with `min_events`."""
    for f in range(slos // PER_FILE):
        lines = ["version: slo-engine/v1", f"service: svc{f}", "slos:"]
        for i in range(PER_FILE):
            job = f"j{f}-{i}"
            lines += [
                f"  - name: slo-{i}",
                "    objective: 99.5",
                "    sli:",
                "      ratio:",
                f'        bad: requests_total{{job="{job}",code="500"}}',
                f'        total: requests_total{{job="{job}"}}',
            ]
            if i % 4 == 0:
                lines.append("      min_events: 10")
        (folder / f"svc{f}.yaml").write_text("\n".join(lines) + "\n")


def write_history(path: Path, slos: int, end: datetime) -> None:
    """Counters for every SLO; one in ten fails 5% of its requests."""
    steps = int(HISTORY / STEP)
    with path.open("w") as out:
        out.write("# TYPE requests counter\n")
        for n in range(slos):
            job = f"j{n // PER_FILE}-{n % PER_FILE}"
            failing = 1 if n % 10 == 0 else 0
            for code, rate in (("200", 20), ("500", failing)):
                for k in range(steps):
                    at = end - (steps - 1 - k) * STEP
                    value = rate * 60 * (k + 1)
                    labels = f'job="{job}",code="{code}"'
                    out.write(
                        f"requests_total{{{labels}}} {value} {at.timestamp():.0f}\n"
                    )
        out.write("# EOF\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def query(url: str, expr: str) -> list[dict[str, object]]:
    address = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with _LOOPBACK.open(address, timeout=10) as answer:
        result: list[dict[str, object]] = json.loads(answer.read())["data"]["result"]
    return result


def start_prometheus(folder: Path, slos: int) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is missing: apt-get install -y prometheus")
    write_history(folder / "history.om", slos, datetime.now(UTC).replace(second=0))
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            str(folder / "history.om"),
            str(folder / "data"),
        ],
        check=True,
        timeout=300,
    )
    config = folder / "prometheus.yml"
    config.write_text(
        "global: {evaluation_interval: 15s}\n"
        f"rule_files: ['{folder / 'rules'}/*.yaml']\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_for_rules(url: str, slos: int) -> float:
    # The events groups start at an offset of up to their interval.
    limit = EVENTS_INTERVAL.total_seconds() + 120
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            if len(query(url, "slo:sli_error:ratio_rate30d")) >= slos:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"Prometheus did not record every SLO within {limit:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    logs.configure("WARNING")

    with tempfile.TemporaryDirectory(prefix="slo-bench-") as scratch:
        folder = Path(scratch)
        specs = folder / "specs"
        specs.mkdir()
        write_specs(specs, args.slos)
        files, _ = compile_paths([specs], Format.PROMETHEUS)
        (folder / "rules").mkdir()
        for rules in files:
            (folder / "rules" / rules.relative_path).write_text(rules.text)

        process, url = start_prometheus(folder, args.slos)
        try:
            waited = wait_for_rules(url, args.slos)
            print(f"Prometheus recorded {args.slos} SLOs after {waited:.1f} s")
            run(folder, specs, url, args.cycles)
        finally:
            process.terminate()
            process.wait(timeout=30)


def run(folder: Path, specs: Path, url: str, cycles: int) -> None:
    interval = timedelta(seconds=1)
    config = DaemonConfig(
        path=folder / "daemon.yaml",
        prometheus=PrometheusConfig(url),
        specs=(specs,),
        state_file=folder / "state.db",
        interval=interval,
        routes=(Route(("pager", "tickets")),),
    )
    channels = [Recorder("pager"), Recorder("tickets")]
    started = time.monotonic()
    context = DaemonContext(config, notifiers=channels)
    print(f"loaded {len(context.slos)} SLOs in {time.monotonic() - started:.2f} s")

    worst, most = 0.0, 0
    for number in range(cycles):
        # Evaluate at the present: the rules were loaded only seconds ago.
        time.sleep(1)
        result = run_cycle(context, align(datetime.now(UTC), interval))
        seconds = result.duration.total_seconds()
        worst, most = max(worst, seconds), max(most, result.queries)
        print(
            f"cycle {number + 1}: {seconds:.2f} s, {result.queries} queries, "
            f"{result.unknown} unknown, {result.firing} alerts open, "
            f"{result.notifications} decided, {result.delivery.sent} sent"
        )
    context.close()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"worst cycle: {worst:.2f} s (target {TARGET_SECONDS:.0f} s)")
    print(f"most queries in a cycle: {most} (target {TARGET_QUERIES})")
    print(f"peak memory: {peak_mb:.0f} MB (target {TARGET_MB:.0f} MB)")
    met = worst <= TARGET_SECONDS and most <= TARGET_QUERIES and peak_mb <= TARGET_MB
    raise SystemExit(0 if met else 1)


if __name__ == "__main__":
    main()
