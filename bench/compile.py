"""Compile 10,000 SLOs in 100 spec files and print the time and peak memory.

Target (issue 2): at most 5 s and 500 MB on a 2-core machine. The baseline
printed beside it is the same run's cost of only reading the YAML with
PyYAML's C loader, the floor any compiler in Python pays.

    python bench/compile.py [--files 100] [--slos-per-file 100]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

from slo_engine.compiler import Format, compile_paths, write_atomically

TARGET_SECONDS = 5.0
TARGET_MB = 500.0

_KINDS = (
    """      ratio:
        bad: llm_requests_total{{service="svc{f}",route="r{i}",status=~"5.."}}
        total: llm_requests_total{{service="svc{f}",route="r{i}"}}
      min_events: 50""",
    """      latency:
        metric: gen_ai_server_request_duration_seconds
        matchers: {{service: svc{f}, route: r{i}}}
        threshold: 2s""",
    """      score:
        metric: rag_retrieval_relevance_score
        matchers: {{index: idx{i}}}
        good_above: 0.5""",
    """      events:
        error_query: sum(rate(calls_total{{s="{f}",r="{i}",ok="0"}}[{{{{ window }}}}]))
        total_query: sum(rate(calls_total{{s="{f}",r="{i}"}}[{{{{ window }}}}]))""",
)


def write_specs(folder: Path, files: int, per_file: int) -> None:
    """Write `files` spec files of `per_file` SLOs each, mixing SLI kinds."""
    for f in range(files):
        lines = [
            "version: slo-engine/v1",
            f"service: svc{f}",
            "labels: {team: bench}",
            "slos:",
        ]
        for i in range(per_file):
            lines += [
                f"  - name: slo-{i}",
                "    objective: 99.5",
                f"    description: SLO {i} of service {f}",
                "    sli:",
                _KINDS[i % len(_KINDS)].format(f=f, i=i),
            ]
        (folder / f"svc{f}.yaml").write_text("\n".join(lines) + "\n")


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--slos-per-file", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        specs, out = Path(tmp, "specs"), Path(tmp, "rules")
        specs.mkdir()
        write_specs(specs, args.files, args.slos_per_file)
        start_mb = peak_mb()

        started = time.perf_counter()
        for path in sorted(specs.iterdir()):
            yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
        floor = time.perf_counter() - started

        started = time.perf_counter()
        files, loaded = compile_paths([specs], Format.PROMETHEUS)
        write_atomically(out, files)
        elapsed = time.perf_counter() - started

        slos = sum(len(spec.slos) for spec in loaded)
        rules = sum(text.count("\n  - ") for text in (f.text for f in files))
        size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6

    memory = peak_mb()
    shape = f"{args.files} files, {rules} rules, {size_mb:.1f} MB"
    print(f"SLOs compiled:        {slos} ({shape})")
    print(f"baseline (YAML only): {floor:.2f} s")
    target = f"target <= {TARGET_SECONDS:.0f} s"
    print(f"compile + write:      {elapsed:.2f} s  ({target})")
    before = f"{start_mb:.0f} MB before"
    limit = f"target <= {TARGET_MB:.0f} MB"
    print(f"peak memory:          {memory:.0f} MB ({limit}; {before})")
    met = elapsed <= TARGET_SECONDS and memory <= TARGET_MB
    print("result:               " + ("target met" if met else "TARGET MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
