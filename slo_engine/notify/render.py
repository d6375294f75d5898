"""Message text for every channel, rendered from Jinja2 templates in a sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from slo_engine.conventions import ENGINE_CANNOT_EVALUATE, LABEL_ENGINE_ALERT
from slo_engine.durations import format_duration
from slo_engine.notify.notification import Notification, format_instant

__all__ = ["MessageRenderer"]


class MessageRenderer:
    """Renders `summary`, `description`, `slack` and `slack_thread` messages.

    Templates in `template_dir` (named `<message>.j2`) override the defaults
    shipped in `slo_engine/notify/templates`. They run in Jinja2's sandbox,
    so a user's template cannot reach Python internals, and an undefined
    name is an error rather than an empty string.
    """

    def __init__(self, template_dir: str | Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if template_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders.append(jinja2.PackageLoader("slo_engine.notify", "templates"))
        self._env = SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )
        self._env.filters["mrkdwn"] = _escape_mrkdwn

    def render(self, message: str, notification: Notification) -> str:
        """The text of `message` for `notification`, without surrounding blanks."""
        template = self._env.get_template(f"{message}.j2")
        return template.render(_context(notification)).strip()


def _context(notification: Notification) -> dict[str, Any]:
    """What templates may use: plain, display-ready values."""
    return {
        "firing": notification.is_firing,
        "state": str(notification.state),
        "severity": str(notification.severity),
        "slo_id": notification.slo_id,
        "service": notification.service,
        "slo_name": notification.slo_name,
        "alertname": notification.alertname,
        "burn_rate": f"{notification.burn_rate:.1f}",
        "long_window": format_duration(notification.long_window),
        "short_window": format_duration(notification.short_window),
        "budget_left": f"{notification.error_budget_remaining * 100:.1f}%",
        "runbook_url": notification.runbook_url,
        "labels": dict(notification.labels),
        "timestamp": format_instant(notification.timestamp),
        "incident_started_at": format_instant(notification.incident_started_at),
        "dedup_key": notification.dedup_key,
        "cannot_evaluate": _is_cannot_evaluate(notification),
    }


def _is_cannot_evaluate(notification: Notification) -> bool:
    """Whether this is the daemon's own "cannot evaluate SLOs" ticket."""
    labels = dict(notification.labels)
    return labels.get(LABEL_ENGINE_ALERT) == ENGINE_CANNOT_EVALUATE


def _escape_mrkdwn(value: object) -> str:
    """Slack's three control characters, so names cannot become links or mentions."""
    text = str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
