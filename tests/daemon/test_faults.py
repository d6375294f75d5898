"""The daemon as a process against real parts: Prometheus, Alertmanager, fake channels.

Each test starts `python -m slo_engine daemon` with a one-second interval
and waits (always bounded) for what a receiver got. Faults: channels that
fail or hang, Prometheus stopped and restarted, SIGKILL, a second daemon.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.notify.conftest import alertmanager  # noqa: F401  (a fixture)
from tests.notify.servers import (
    PagerDutyServer,
    Reply,
    Request,
    SlackServer,
    WebhookReceiver,
)

from .conftest import daemon_config, http_get, wait_for

PD_KEY = "pd-routing-key-for-tests"
SLACK_TOKEN = "xoxb-token-for-tests"
ENV = {"TEST_PD_KEY": PD_KEY, "TEST_SLACK_TOKEN": SLACK_TOKEN}


class Daemon:
    """`slo daemon` in a subprocess; its log goes to a file the test can read."""

    def __init__(self, config: Path, *, once: bool = False) -> None:
        self.config = config
        self.log = config.parent / f"daemon-{time.monotonic_ns()}.log"
        command = [
            sys.executable,
            "-m",
            "slo_engine",
            "daemon",
            "--config",
            str(config),
        ]
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [*command, *(["--once"] if once else [])],
                stdout=sink,
                stderr=sink,
                env={**os.environ, **ENV},
            )

    @property
    def status_url(self) -> str:
        listen = next(
            line.split('"')[1]
            for line in self.config.read_text().splitlines()
            if line.startswith("listen:")
        )
        return f"http://{listen}"

    def events(self) -> list[dict]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def ready(self) -> bool:
        try:
            return http_get(f"{self.status_url}/readyz", timeout=1)[0] == 200
        except OSError:
            return False

    def metric(self, name: str) -> float:
        _, body = http_get(f"{self.status_url}/metrics")
        for line in body.decode().splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no metric {name}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def daemons():
    started: list[Daemon] = []

    def start(config: Path, **options) -> Daemon:
        daemon = Daemon(config, **options)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def pagerduty():
    with PagerDutyServer(PD_KEY) as server:
        yield server


@pytest.fixture
def webhook():
    with WebhookReceiver() as server:
        yield server


def pd_notifier(url: str) -> str:
    return (
        "  - {name: oncall, type: pagerduty, "
        f'routing_key: {{env: TEST_PD_KEY}}, base_url: "{url}"}}'
    )


def webhook_notifier(url: str) -> str:
    return f'  - {{name: tickets, type: webhook, url: "{url}/hook"}}'


ROUTES = """\
  - {match: {severity: page}, notifiers: [oncall]}
  - {match: {severity: ticket}, notifiers: [tickets]}"""


def triggers(server: PagerDutyServer) -> list[Request]:
    return [r for r in server.requests if r.json().get("event_action") == "trigger"]


def test_pages_every_channel_once_serves_status_and_stops_on_sigterm(
    tmp_path,
    prometheus_with_rules,
    pagerduty,
    webhook,
    alertmanager,  # noqa: F811
):
    prometheus, _ = prometheus_with_rules
    with SlackServer(SLACK_TOKEN) as slack:
        notifiers = "\n".join(
            [
                pd_notifier(pagerduty.url),
                webhook_notifier(webhook.url),
                "  - {name: chat, type: slack, channel: '#slo', "
                f'token: {{env: TEST_SLACK_TOKEN}}, base_url: "{slack.url}/api/"}}',
                f'  - {{name: am, type: alertmanager, url: "{alertmanager}"}}',
            ]
        )
        routes = """\
  - {match: {severity: page}, notifiers: [oncall, chat, am]}
  - {match: {severity: ticket}, notifiers: [tickets]}"""
        config = daemon_config(
            tmp_path,
            prometheus.url,
            prometheus.folder / "specs",
            notifiers=notifiers,
            routes=routes,
        )
        daemon = daemons_start = Daemon(config)
        try:
            wait_for(lambda: triggers(pagerduty) and slack.messages, 30, "page sent")
            wait_for(daemon.ready, 10, "daemon ready")
            time.sleep(3)  # three more cycles: still burning, nothing new is sent

            assert len(triggers(pagerduty)) == 1
            assert len(slack.messages) == 1
            assert len(webhook.accepted) == 1  # the ticket
            text = next(iter(slack.messages.values()))["text"]
            assert "chat-availability" in text
            assert "https://runbooks.example.com/chat" in text
            event = triggers(pagerduty)[0].json()
            assert event["payload"]["custom_details"]["long_window"] == "1h"
            with urllib_open(f"{alertmanager}/api/v2/alerts") as answer:
                alerts = json.loads(answer.read())
            assert any(a["labels"]["slo_id"] == "chat-availability" for a in alerts)

            assert http_get(f"{daemon.status_url}/healthz")[0] == 200
            assert daemon.metric("slo_engine_cycles_total") >= 3
            assert daemon.metric("slo_engine_notifications_sent_total") == 4
            assert daemon.metric("slo_engine_slos_unknown") == 0
            assert daemon.metric("slo_engine_outbox_depth") == 0
            assert daemon.metric("slo_engine_queries_total") >= 3

            assert daemon.terminate() == 0
            names = [e["event"] for e in daemon.events()]
            assert names[-2:] == ["daemon_stopping", "daemon_stopped"]
            assert "slo_evaluated" in names
            assert PD_KEY not in daemon.log.read_text()
            assert SLACK_TOKEN not in daemon.log.read_text()
        finally:
            daemons_start.kill()


def urllib_open(url: str):
    from .conftest import LOOPBACK

    return LOOPBACK.open(url, timeout=5)


class HangsFirstSend(PagerDutyServer):
    """PagerDuty that holds the first request open and never processes it."""

    def __init__(self, routing_key: str) -> None:
        super().__init__(routing_key)
        self.hanging = threading.Event()
        self.release = threading.Event()

    def receive(self, request: Request) -> Reply:
        if not self.hanging.is_set():
            self.hanging.set()
            self.release.wait(30)
            return Reply(503)
        return super().receive(request)


def test_sigkill_while_the_first_page_is_on_the_wire_pages_exactly_once(
    tmp_path, prometheus_with_rules, webhook, daemons
):
    prometheus, _ = prometheus_with_rules
    with HangsFirstSend(PD_KEY) as pagerduty:
        config = daemon_config(
            tmp_path,
            prometheus.url,
            prometheus.folder / "specs",
            notifiers=pd_notifier(pagerduty.url) + "\n" + webhook_notifier(webhook.url),
            routes=ROUTES,
        )
        first = daemons(config)
        wait_for(pagerduty.hanging.is_set, 30, "first page on the wire")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
        pagerduty.release.set()

        daemons(config)
        wait_for(lambda: triggers(pagerduty), 30, "page redelivered after restart")
        time.sleep(4)  # past another claim lease and several cycles

        assert len(triggers(pagerduty)) == 1
        assert list(pagerduty.triggers.values()) == [1]


def test_a_channel_down_for_several_cycles_gets_the_page_once_when_back(
    tmp_path, prometheus_with_rules, webhook, pagerduty, daemons
):
    prometheus, _ = prometheus_with_rules
    down = [Reply(503, {"status": "unavailable"})] * 3
    pagerduty.fail_next(
        *down, Reply(429, {"status": "throttled"}, {"Retry-After": "1"})
    )
    config = daemon_config(
        tmp_path,
        prometheus.url,
        prometheus.folder / "specs",
        notifiers=pd_notifier(pagerduty.url) + "\n" + webhook_notifier(webhook.url),
        routes=ROUTES,
    )
    daemon = daemons(config)

    wait_for(lambda: triggers(pagerduty)[4:], 45, "page delivered after the outage")
    time.sleep(3)

    assert len(pagerduty.requests) == 5
    assert list(pagerduty.triggers.values()) == [1]
    assert daemon.metric("slo_engine_notifications_retried_total") == 4
    retries = [
        e for e in daemon.events() if e["event"] == "notification_retry_scheduled"
    ]
    assert retries[-1]["delay_seconds"] >= 1  # Retry-After honoured


def test_prometheus_stopped_and_restarted_marks_slos_unknown_then_recovers(
    tmp_path, prometheus_raw, webhook, pagerduty, daemons
):
    prometheus, _ = prometheus_raw
    config = daemon_config(
        tmp_path,
        prometheus.url,
        prometheus.folder / "specs",
        notifiers=pd_notifier(pagerduty.url) + "\n" + webhook_notifier(webhook.url),
        routes=ROUTES,
    )
    daemon = daemons(config)
    wait_for(lambda: triggers(pagerduty), 30, "page sent")
    wait_for(daemon.ready, 10, "daemon ready")

    prometheus.stop()
    wait_for(lambda: not daemon.ready(), 20, "daemon not ready")
    wait_for(
        lambda: any(
            r.json()["slo_id"] == "slo-engine-evaluation" for r in webhook.accepted
        ),
        30,
        "cannot-evaluate ticket",
    )
    assert daemon.metric("slo_engine_slos_unknown") == 2

    prometheus.start()
    wait_for(daemon.ready, 30, "daemon ready again")
    wait_for(
        lambda: any(r.json()["state"] == "resolved" for r in webhook.accepted),
        30,
        "cannot-evaluate ticket resolved",
    )

    assert list(pagerduty.triggers.values()) == [1]  # no resolve, no second page
    assert not [r for r in pagerduty.requests if r.json()["event_action"] == "resolve"]
    assert daemon.metric("slo_engine_slos_unknown") == 0


def test_a_second_daemon_on_the_same_state_file_refuses_to_run(
    tmp_path, prometheus_with_rules, webhook, pagerduty, daemons
):
    prometheus, _ = prometheus_with_rules
    config = daemon_config(
        tmp_path,
        prometheus.url,
        prometheus.folder / "specs",
        notifiers=pd_notifier(pagerduty.url) + "\n" + webhook_notifier(webhook.url),
        routes=ROUTES,
    )
    first = daemons(config)
    wait_for(first.ready, 30, "first daemon ready")

    second = daemons(config, once=True)

    assert second.process.wait(timeout=30) == 1
    lock = tmp_path / "state" / "slo.db.lock"
    assert second.log.read_text() == (
        f"{lock}: another slo daemon holds this state file's lock; "
        "run one daemon per state file\n"
    )
    assert first.process.poll() is None


def test_once_exits_0_after_a_good_cycle_and_1_when_prometheus_is_down(
    tmp_path, prometheus_with_rules, webhook, pagerduty, daemons
):
    prometheus, _ = prometheus_with_rules
    notifiers = pd_notifier(pagerduty.url) + "\n" + webhook_notifier(webhook.url)
    good = daemon_config(
        tmp_path,
        prometheus.url,
        prometheus.folder / "specs",
        notifiers=notifiers,
        routes=ROUTES,
    )
    assert daemons(good, once=True).process.wait(timeout=60) == 0
    assert len(triggers(pagerduty)) == 1

    bad = daemon_config(
        tmp_path,
        "http://127.0.0.1:9",
        prometheus.folder / "specs",
        notifiers=notifiers,
        routes=ROUTES,
    )
    assert daemons(bad, once=True).process.wait(timeout=60) == 1
