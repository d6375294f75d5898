"""Run the `slo` command as `python -m slo_engine`."""

from slo_engine.cli import main

main()
