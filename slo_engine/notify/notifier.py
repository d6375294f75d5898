"""The one interface every channel implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from slo_engine.errors import DeliveryError
from slo_engine.notify.notification import Delivery, Notification

__all__ = ["DeliveryError", "Notifier"]


@runtime_checkable
class Notifier(Protocol):
    """A channel that pages or tickets: Slack, PagerDuty, a webhook, Alertmanager."""

    @property
    def name(self) -> str:
        """A unique name for this channel; the outbox keys rows and breakers on it."""
        ...

    def send(
        self, notification: Notification, *, reply_to: Delivery | None = None
    ) -> Delivery:
        """Deliver one notification; `reply_to` is the firing's delivery on resolve.

        Raises:
            DeliveryError: the channel did not take it.
        """
        ...
