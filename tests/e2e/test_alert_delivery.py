"""Burn alerts fire on a real Prometheus and reach a webhook through Alertmanager.

Two SLOs share one Prometheus: one burns its budget fast (a page), the other
slowly (a ticket). Alertmanager runs the shipped `examples/alertmanager.yml`,
with only the receiver URLs and the wait times changed, so the tests also
prove its inhibit rule: the ticket of an SLO that pages is held back. The
incident then stops and the resolutions are delivered too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from slo_engine.compiler import Format, compile_paths

from .harness import (
    Alertmanager,
    Delivery,
    Exporter,
    Prometheus,
    WebhookReceiver,
    get_json,
    paced,
    wait_until,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "alertmanager.yml"

SPEC = """\
version: slo-engine/v1
service: e2e-alerts
slos:
  - name: fast-burn
    objective: 99
    sli:
      ratio:
        bad: e2e_requests_total{case="fast",outcome="error"}
        total: e2e_requests_total{case="fast"}
  - name: slow-burn
    objective: 99
    sli:
      ratio:
        bad: e2e_requests_total{case="slow",outcome="error"}
        total: e2e_requests_total{case="slow"}
"""
FAST, SLOW = "e2e-alerts-fast-burn", "e2e-alerts-slow-burn"

# With a 99% objective over 30d the pairs fire above these error ratios:
# page 0.144 (1h/5m) and 0.06 (6h/30m), ticket 0.03 (1d/2h) and 0.01 (3d/6h).
# Half the requests failing trips all four; 4% trips only the tickets.
INCIDENT = {
    'e2e_requests_total{case="fast",outcome="ok"}': 5.0,
    'e2e_requests_total{case="fast",outcome="error"}': 5.0,
    'e2e_requests_total{case="slow",outcome="ok"}': 9.6,
    'e2e_requests_total{case="slow",outcome="error"}': 0.4,
}
# The incident stops: errors end and a surge of good requests follows, so
# every window's error ratio falls under its threshold within seconds, where
# waiting for the 5m window to forget the errors would take minutes.
RECOVERY = {name: (1e6 if 'outcome="ok"' in name else 0.0) for name in INCIDENT}

PAGES = {("page", "1h", "5m"), ("page", "6h", "30m")}
TICKETS = {("ticket", "1d", "2h"), ("ticket", "3d", "6h")}
TIMEOUT = 90.0


@dataclass(frozen=True)
class Observed:
    """What Prometheus, Alertmanager and the webhook showed in each phase."""

    firing: list[dict[str, Any]]
    held: list[dict[str, Any]]
    during: list[Delivery]
    after: list[Delivery]


def _alertmanager_config(webhook: str) -> str:
    """The example, pointed at the test's webhook and told not to wait."""
    config = yaml.safe_load(EXAMPLE.read_text())
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = f"{webhook}/{receiver['name']}"
    config["route"].update(group_wait="1s", group_interval="1s")
    return yaml.safe_dump(config)


def _prometheus_config(rules: Path, target: str, alertmanager: str) -> dict[str, Any]:
    interval = {"scrape_interval": "1s", "scrape_timeout": "1s"}
    return {
        "global": {**interval, "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "e2e", "static_configs": [{"targets": [target]}]}
        ],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]
        },
    }


def _sent(deliveries: list[Delivery], receiver: str, slo_id: str, status: str) -> bool:
    return any(
        alert["status"] == status and alert["labels"].get("slo_id") == slo_id
        for delivery in deliveries
        if delivery.path == f"/{receiver}"
        for alert in delivery.body["alerts"]
    )


def _firing(prometheus: Prometheus) -> list[dict[str, Any]]:
    alerts = get_json(f"{prometheus.url}/api/v1/alerts")["data"]["alerts"]
    return [alert for alert in alerts if alert["state"] == "firing"]


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory, launch: Any
) -> Iterator[Observed]:
    work = tmp_path_factory.mktemp("alert-delivery")
    (work / "e2e.yaml").write_text(SPEC)
    files, _ = compile_paths([work / "e2e.yaml"], Format.PROMETHEUS)
    rules = work / "rules.yaml"
    rules.write_text(paced(files[0].text))

    webhook, exporter = WebhookReceiver(), Exporter()
    with webhook.running(), exporter.running():
        alertmanager = Alertmanager(
            work / "alertmanager", _alertmanager_config(webhook.url)
        )
        launch(alertmanager)
        prometheus = Prometheus(work / "prometheus")
        address = alertmanager.url.removeprefix("http://")
        prometheus.write_config(_prometheus_config(rules, exporter.target, address))
        exporter.set_rates(INCIDENT)
        launch(prometheus)

        def delivered() -> bool:
            sent = webhook.snapshot()
            return _sent(sent, "slo-pager", FAST, "firing") and _sent(
                sent, "slo-tickets", SLOW, "firing"
            )

        assert wait_until(delivered, TIMEOUT), webhook.snapshot()
        # A few more group intervals: time enough for a ticket to slip through.
        time.sleep(3)
        firing, held = _firing(prometheus), alertmanager.alerts()
        during = webhook.snapshot()

        exporter.set_rates(RECOVERY)

        def resolved() -> bool:
            sent = webhook.snapshot()
            return _sent(sent, "slo-pager", FAST, "resolved") and _sent(
                sent, "slo-tickets", SLOW, "resolved"
            )

        assert wait_until(resolved, TIMEOUT), webhook.snapshot()
        yield Observed(firing, held, during, webhook.snapshot())


def _pairs(alerts: list[dict[str, Any]], slo_id: str) -> set[tuple[str, str, str]]:
    return {
        (
            a["labels"]["severity"],
            a["labels"]["long_window"],
            a["labels"]["short_window"],
        )
        for a in alerts
        if a["labels"].get("slo_id") == slo_id and "long_window" in a["labels"]
    }


def test_fast_burn_fires_every_page_and_ticket_pair(observed: Observed) -> None:
    assert _pairs(observed.firing, FAST) == PAGES | TICKETS


def test_slow_burn_fires_the_tickets_but_no_page(observed: Observed) -> None:
    assert _pairs(observed.firing, SLOW) == TICKETS


def test_page_reaches_the_pager_receiver(observed: Observed) -> None:
    assert _sent(observed.during, "slo-pager", FAST, "firing")
    assert not _sent(observed.during, "slo-pager", SLOW, "firing")


def test_slow_burn_ticket_reaches_the_ticket_receiver(observed: Observed) -> None:
    assert _sent(observed.during, "slo-tickets", SLOW, "firing")


def test_ticket_is_inhibited_while_the_page_of_its_slo_fires(
    observed: Observed,
) -> None:
    """The example's inhibit rule holds the fast SLO's tickets back."""
    assert not _sent(observed.during, "slo-tickets", FAST, "firing")

    tickets = [
        alert
        for alert in observed.held
        if alert["labels"].get("slo_id") == FAST
        and alert["labels"].get("severity") == "ticket"
        and "long_window" in alert["labels"]
    ]
    assert len(tickets) == len(TICKETS)
    for alert in tickets:
        assert alert["status"]["state"] == "suppressed"
        assert alert["status"]["inhibitedBy"]


def test_resolution_is_delivered_when_the_incident_stops(observed: Observed) -> None:
    assert _sent(observed.after, "slo-pager", FAST, "resolved")
    assert _sent(observed.after, "slo-tickets", SLOW, "resolved")
