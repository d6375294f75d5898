#!/usr/bin/env bash
# Install everything the tests need on a Debian machine, then run them all.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Prometheus and promtool, Alertmanager, and Chromium for the report's screenshot test.
if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
    || ! command -v chromium >/dev/null; then
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq prometheus prometheus-alertmanager chromium >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

ruff format --check slo_engine tests bench
ruff check slo_engine tests bench
mypy slo_engine
slo check slo_specs/ --rules rules_out/
slo test slo_specs/ --rules rules_out/
python3 -m pytest "$@"
