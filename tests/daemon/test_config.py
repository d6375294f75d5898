"""The daemon config: what it accepts, and located errors for what it does not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from slo_engine.daemon.config import build_notifiers, load_config
from slo_engine.errors import ConfigError
from slo_engine.model import Severity
from slo_engine.notify import Notification, NotificationState

EXAMPLE = Path(__file__).parents[2] / "examples" / "daemon.yaml"

VALID = """\
prometheus:
  url: http://127.0.0.1:9090
  timeout: 5s
  headers: {X-Scope-OrgID: {env: TEST_TENANT}}
  basic_auth: {username: slo, password: {file: prom-password}}
specs: [specs/]
state_file: state/slo.db
interval: 30s
notifiers:
  - {name: oncall, type: pagerduty, routing_key: {env: TEST_PD_KEY}}
  - {name: chat, type: slack, channel: "#slo", token: {env: TEST_SLACK_TOKEN}}
  - {name: hook, type: webhook, url: {env: TEST_HOOK_URL}}
  - {name: am, type: alertmanager, url: http://127.0.0.1:9093}
routes:
  - match: {severity: page, labels: {team: llm}}
    notifiers: [oncall]
    continue: true
  - match: {severity: [page, ticket]}
    notifiers: [chat, am]
"""


@pytest.fixture
def secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_TENANT", "tenant-1")
    monkeypatch.setenv("TEST_PD_KEY", "pd-routing-key")
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-secret")
    monkeypatch.setenv("TEST_HOOK_URL", "http://127.0.0.1:1/hook?token=t")
    (tmp_path / "prom-password").write_text("hunter2\n")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "daemon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(problem) for problem in caught.value.problems]


def notification(severity: Severity, labels=()) -> Notification:
    from datetime import UTC, datetime

    now = datetime(2024, 5, 1, tzinfo=UTC)
    return Notification(
        slo_id="chat-availability",
        service="chat",
        slo_name="availability",
        severity=severity,
        state=NotificationState.FIRING,
        burn_rate=14.4,
        long_window=timedelta(hours=1),
        short_window=timedelta(minutes=5),
        error_budget_remaining=0.5,
        incident_started_at=now,
        timestamp=now,
        labels=labels,
    )


@pytest.mark.usefixtures("secrets")
def test_a_valid_config_resolves_paths_secrets_and_routes(tmp_path):
    config = load_config(write(tmp_path, VALID))

    assert config.specs == (tmp_path / "specs/",)
    assert config.state_file == tmp_path / "state/slo.db"
    assert config.interval == timedelta(seconds=30)
    assert config.listen == ("127.0.0.1", 9464)
    assert config.prometheus.header_values() == {"X-Scope-OrgID": "tenant-1"}
    assert config.prometheus.auth() == ("slo", "hunter2")
    assert [n.name for n in build_notifiers(config)] == ["oncall", "chat", "hook", "am"]
    page = notification(Severity.PAGE, (("team", "llm"),))
    assert config.notifiers_for(page) == ("oncall", "chat", "am")
    assert config.notifiers_for(notification(Severity.TICKET)) == ("chat", "am")


@pytest.mark.usefixtures("secrets")
def test_secrets_never_appear_in_the_config_repr(tmp_path):
    config = load_config(write(tmp_path, VALID))

    shown = repr(config)

    for secret in ("pd-routing-key", "xoxb-secret", "hunter2", "token=t"):
        assert secret not in shown


def test_every_problem_is_located_like_a_spec_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_MISSING", raising=False)
    text = """\
prometheus: {url: 127.0.0.1:9090}
specs: [specs/]
state_file: slo.db
intervall: 1m
notifiers:
  - {name: oncall, type: pagerduty, routing_key: plain-text-key}
  - {name: chat, type: slack, channel: "#slo", token: {env: TEST_MISSING}}
  - {name: hook, type: carrier-pigeon}
routes:
  - match: {severity: pgae}
    notifiers: [oncal]
"""
    path = write(tmp_path, text)

    assert problems(path) == [
        f"{path}:1:19: prometheus.url: expected an http:// or https:// URL, got '127.0.0.1:9090'",
        f"{path}:4:1: intervall: unknown key 'intervall'; did you mean 'interval'?",
        f"{path}:6:50: notifiers[0].routing_key: secrets are never written in the config; write {{env: VARIABLE}} or {{file: PATH}}",
        f"{path}:7:61: notifiers[1].token.env: environment variable 'TEST_MISSING' is unset or empty",
        f"{path}:8:24: notifiers[2].type: expected one of slack, pagerduty, webhook, alertmanager, got 'carrier-pigeon'",
        f"{path}:10:23: routes[0].match.severity: expected one of page, ticket, got 'pgae'",
        f"{path}:11:17: routes[0].notifiers[0]: no notifier named 'oncal'; known: chat, hook, oncall",
    ]


def test_invalid_yaml_is_located(tmp_path):
    path = write(tmp_path, "prometheus: [\n")

    (problem,) = problems(path)

    assert problem.startswith(f"{path}:2:1: invalid YAML")


def test_a_missing_file_is_an_error(tmp_path):
    assert problems(tmp_path / "absent.yaml") == [
        f"{tmp_path / 'absent.yaml'}:1:1: cannot read file: No such file or directory"
    ]


def test_the_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-example")
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "example-key")
    monkeypatch.setenv("SLO_WEBHOOK_SECRET", "example-secret")

    config = load_config(EXAMPLE)

    assert config.routes
    assert {n.kind for n in config.notifiers} == {
        "slack",
        "pagerduty",
        "webhook",
        "alertmanager",
    }
