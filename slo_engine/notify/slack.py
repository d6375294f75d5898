"""Pages and tickets as Slack messages, updated in place when they resolve."""

from __future__ import annotations

from datetime import timedelta

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.web import SlackResponse

from slo_engine.notify._http import parse_retry_after
from slo_engine.notify.credentials import Secret, scrub
from slo_engine.notify.notification import Delivery, Notification
from slo_engine.notify.notifier import DeliveryError
from slo_engine.notify.render import MessageRenderer

__all__ = ["SlackNotifier"]

_log = structlog.get_logger(__name__)

# Slack errors that trying again cannot fix: the token or channel is wrong.
# https://api.slack.com/methods/chat.postMessage#errors
_RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}
)


class SlackNotifier:
    """Posts a message when an SLO fires; on resolve, edits it and replies in thread.

    The token comes from a `Secret` (an environment variable or a file),
    never from a spec. slack-sdk retries a dropped connection once; a 429 is
    not slept on here but raised with its `Retry-After`, so the outbox can
    schedule the retry without blocking other pages. Pass `retry_handlers`
    (e.g. slack-sdk's `RateLimitErrorRetryHandler`) to sleep in the client
    instead.

    Limitations:
        Slack has no idempotency key: if the process dies after Slack took a
        message but before the outbox recorded it, the message is posted
        again. Updates on resolve are idempotent; the thread reply is not.
    """

    def __init__(
        self,
        channel: str,
        token: Secret,
        *,
        name: str = "slack",
        base_url: str = "https://slack.com/api/",
        timeout: timedelta = timedelta(seconds=10),
        renderer: MessageRenderer | None = None,
        retry_handlers: list[RetryHandler] | None = None,
    ) -> None:
        self._name = name
        self._channel = channel
        self._token = token
        self._renderer = renderer or MessageRenderer()
        handlers = retry_handlers or [ConnectionErrorRetryHandler(max_retry_count=1)]
        self._client = WebClient(
            token=token.reveal(),
            base_url=base_url,
            timeout=max(1, round(timeout.total_seconds())),
            retry_handlers=handlers,
        )

    @property
    def name(self) -> str:
        """This channel's name in the outbox."""
        return self._name

    def send(
        self, notification: Notification, *, reply_to: Delivery | None = None
    ) -> Delivery:
        """Post a firing; update the firing's message and reply to it on resolve."""
        text = self._renderer.render("slack", notification)
        channel, ts = _message_of(reply_to)
        if notification.is_firing or channel is None or ts is None:
            answer = self._call(notification, "chat_postMessage", text=text)
            return self._delivery(answer)

        self._call(notification, "chat_update", channel=channel, ts=ts, text=text)
        reply = self._renderer.render("slack_thread", notification)
        self._call(
            notification, "chat_postMessage", channel=channel, thread_ts=ts, text=reply
        )
        _log.debug("slack_message_updated", notifier=self._name, ts=ts)
        return Delivery(self._name, (("channel", channel), ("ts", ts)))

    def _call(
        self, notification: Notification, method: str, **kwargs: str
    ) -> SlackResponse:
        kwargs.setdefault("channel", self._channel)
        try:
            answer: SlackResponse = getattr(self._client, method)(
                unfurl_links=False, **kwargs
            )
        except SlackApiError as exc:
            raise self._api_error(notification, exc.response) from None
        except (SlackClientError, OSError) as exc:
            message = scrub(f"slack request failed: {type(exc).__name__}", self._token)
            raise DeliveryError(
                message, slo=notification.slo_id, target=self._name, retryable=True
            ) from None
        return answer

    def _api_error(
        self, notification: Notification, response: SlackResponse
    ) -> DeliveryError:
        error = str(response.get("error", "unknown_error"))
        status = response.status_code
        wait = None
        if status == 429:
            wait = parse_retry_after(_header(response, "Retry-After"))
        retryable = status == 429 or status >= 500 or error in _RETRYABLE_ERRORS
        message = scrub(f"slack answered {status} {error!r}", self._token)
        return DeliveryError(
            message,
            slo=notification.slo_id,
            target=self._name,
            retryable=retryable,
            retry_after=wait,
        )

    def _delivery(self, answer: SlackResponse) -> Delivery:
        channel = str(answer.get("channel") or self._channel)
        ts = str(answer.get("ts", ""))
        return Delivery(self._name, (("channel", channel), ("ts", ts)))


def _message_of(delivery: Delivery | None) -> tuple[str | None, str | None]:
    if delivery is None:
        return None, None
    return delivery.get("channel"), delivery.get("ts")


def _header(response: SlackResponse, name: str) -> str | None:
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None
