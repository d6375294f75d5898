#!/usr/bin/env bash
# Install everything the tests need on a Debian machine, then run them all.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Prometheus and promtool, Alertmanager, Chromium for the report's screenshot
# test, and venv for a Python that has none.
if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
    || ! command -v chromium >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null; then
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        prometheus prometheus-alertmanager chromium python3-venv >/dev/null
fi

# A virtual environment of the project's own, unless one is active already.
if [ -z "${VIRTUAL_ENV:-}" ]; then
    python3 -m venv .venv
    # shellcheck disable=SC1091
    . .venv/bin/activate
fi
python -m pip install -q --disable-pip-version-check -e '.[test]'

ruff format --check slo_engine tests bench
ruff check slo_engine tests bench
mypy slo_engine
slo check slo_specs/ --rules rules_out/
slo test slo_specs/ --rules rules_out/
python -m pytest "$@"
