"""Pages for burning error budgets: channels behind one interface, and an outbox."""

from __future__ import annotations

from slo_engine.notify.alertmanager import AlertmanagerNotifier
from slo_engine.notify.credentials import Secret
from slo_engine.notify.notification import Delivery, Notification, NotificationState
from slo_engine.notify.notifier import DeliveryError, Notifier
from slo_engine.notify.outbox import DeliveryReport, Outbox, RetryPolicy
from slo_engine.notify.pagerduty import PagerDutyNotifier
from slo_engine.notify.render import MessageRenderer
from slo_engine.notify.slack import SlackNotifier
from slo_engine.notify.webhook import WebhookNotifier

__all__ = [
    "AlertmanagerNotifier",
    "Delivery",
    "DeliveryError",
    "DeliveryReport",
    "MessageRenderer",
    "Notification",
    "NotificationState",
    "Notifier",
    "Outbox",
    "PagerDutyNotifier",
    "RetryPolicy",
    "Secret",
    "SlackNotifier",
    "WebhookNotifier",
]
