"""The Notification value, the package surface, secrets and rendering."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import jinja2.exceptions
import pytest
from structlog.testing import capture_logs

import slo_engine.notify
from slo_engine.errors import NotifyError
from slo_engine.model import Severity
from slo_engine.notify import (
    MessageRenderer,
    Notification,
    Notifier,
    Outbox,
    PagerDutyNotifier,
    RetryPolicy,
    Secret,
    SlackNotifier,
    WebhookNotifier,
)

from .conftest import FIRED, STARTED, make_notification, resolved
from .servers import PagerDutyServer, SlackServer, WebhookReceiver


def test_notify_all_lists_exactly_the_public_names():
    public = {
        name
        for name in dir(slo_engine.notify)
        if not name.startswith("_") and name[0].isupper()
    }

    assert set(slo_engine.notify.__all__) == public
    assert slo_engine.notify.__all__ == sorted(slo_engine.notify.__all__)


def test_notification_dedup_key_is_stable_across_firing_and_resolve():
    firing = make_notification()

    later = resolved(firing, timedelta(hours=2))

    assert firing.dedup_key == later.dedup_key
    assert (
        firing.dedup_key == "chat-assistant-response-latency/page/2024-05-01T12:00:00Z"
    )


def test_notification_naive_timestamp_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        make_notification(timestamp=datetime(2024, 5, 1, 12, 0))  # noqa: DTZ001


def test_notification_round_trips_through_dict():
    notification = make_notification(labels=(("tier", "1"), ("team", "llm")))

    again = Notification.from_dict(notification.to_dict())

    assert again == notification
    assert again.labels == (("team", "llm"), ("tier", "1"))


def test_notification_without_alert_name_uses_compiler_default():
    notification = make_notification(alert_name="")

    assert notification.alertname == "ChatAssistantResponseLatencyBudgetBurn"


def test_render_default_message_names_slo_burn_budget_windows_runbook():
    text = MessageRenderer().render("slack", make_notification())

    for expected in ("chat-assistant-response-latency", "14.4x", "62.5%", "1h", "5m"):
        assert expected in text
    assert "https://runbooks.example.com/chat-latency" in text


@pytest.mark.parametrize("message", ["summary", "description", "slack"])
def test_render_cannot_evaluate_ticket_says_so_without_burn_figures(message):
    ticket = make_notification(
        severity=Severity.TICKET,
        burn_rate=0.0,
        error_budget_remaining=1.0,
        runbook_url=None,
        labels=(("slo_engine_alert", "cannot_evaluate"),),
    )

    firing = MessageRenderer().render(message, ticket)
    cleared = MessageRenderer().render(message, resolved(ticket, timedelta(hours=1)))

    assert "cannot evaluate" in firing
    assert "evaluates SLOs again" in cleared
    for text in (firing, cleared):
        assert "0.0x" not in text
        assert "100.0%" not in text


def test_render_template_folder_overrides_default(tmp_path):
    (tmp_path / "summary.j2").write_text("{{ slo_id }} burns {{ burn_rate }}x\n")

    text = MessageRenderer(tmp_path).render("summary", make_notification())

    assert text == "chat-assistant-response-latency burns 14.4x"


def test_render_sandbox_blocks_python_internals(tmp_path):
    (tmp_path / "summary.j2").write_text(
        "{{ slo_id.__class__.__mro__[1].__subclasses__() }}"
    )

    with pytest.raises(jinja2.exceptions.SecurityError):
        MessageRenderer(tmp_path).render("summary", make_notification())


def test_render_slack_escapes_names_so_they_cannot_mention():
    text = MessageRenderer().render("slack", make_notification(service="<!channel>"))

    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


def test_secret_repr_hides_value(monkeypatch, tmp_path):
    monkeypatch.setenv("SLO_TEST_TOKEN", "xoxb-hidden-value")
    secret = Secret.from_env("SLO_TEST_TOKEN")

    assert "xoxb-hidden-value" not in f"{secret!r} {secret!s}"
    assert secret.reveal() == "xoxb-hidden-value"


def test_secret_missing_env_or_file_raises_notify_error(monkeypatch, tmp_path):
    monkeypatch.delenv("SLO_TEST_MISSING", raising=False)

    with pytest.raises(NotifyError, match="SLO_TEST_MISSING"):
        Secret.from_env("SLO_TEST_MISSING")
    with pytest.raises(NotifyError, match="cannot read secret file"):
        Secret.from_file(tmp_path / "absent")


def test_secrets_never_appear_in_logs_or_errors(tmp_path, caplog):
    secrets = ["xoxb-log-secret", "PDKEY-log-secret", "hook-log-secret", "sig-secret"]
    caplog.set_level(logging.DEBUG)

    with (
        SlackServer("xoxb-other") as slack,
        PagerDutyServer("PDKEY-other") as pagerduty,
        WebhookReceiver("sig-other") as webhook,
        capture_logs() as logs,
    ):
        notifiers: list[Notifier] = [
            SlackNotifier("#slo", Secret(secrets[0]), base_url=f"{slack.url}/api/"),
            PagerDutyNotifier(Secret(secrets[1]), base_url=pagerduty.url),
            WebhookNotifier(
                Secret(f"{webhook.url}/{secrets[2]}"), secret=Secret(secrets[3])
            ),
        ]
        outbox = Outbox(
            tmp_path / "outbox.db",
            notifiers,
            policy=RetryPolicy(max_attempts=1),
            clock=lambda: FIRED,
        )
        for notifier in notifiers:
            outbox.enqueue(
                make_notification(incident_started_at=STARTED), notifier.name
            )
        report = outbox.deliver_due()

    written = f"{logs!r} {caplog.text} {report!r}"
    assert report.failed == 3
    assert [entry["event"] for entry in logs].count("notification_failed") == 3
    for secret in secrets:
        assert secret not in written
