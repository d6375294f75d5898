"""A small JSON-over-HTTP client on `urllib.request`, shared by the notifiers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from slo_engine.notify.credentials import Secret, scrub
from slo_engine.notify.notifier import DeliveryError

__all__ = ["Response", "parse_retry_after", "post_json"]

# Proxies from the environment are ignored: a page must not depend on them,
# and the tests' loopback servers must be reached directly.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Response:
    """A 2xx answer: status and the decoded JSON body (None when not JSON)."""

    status: int
    body: Any


def parse_retry_after(
    value: str | None, now: datetime | None = None
) -> timedelta | None:
    """`Retry-After` as a wait: seconds, or an HTTP date; None if absent or bad."""
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    wait = when - (now or datetime.now(UTC))
    return max(wait, timedelta())


def post_json(
    url: str | Secret,
    payload: bytes,
    *,
    target: str,
    slo: str,
    timeout: timedelta,
    headers: dict[str, str] | None = None,
    secrets: tuple[Secret | str, ...] = (),
) -> Response:
    """POST a JSON body and return the 2xx answer.

    Raises:
        DeliveryError: no 2xx answer; retryable on timeouts, connection
            errors, 408, 429 and 5xx. The URL is never part of the message.
    """
    address = url.reveal() if isinstance(url, Secret) else url
    request = urllib.request.Request(address, data=payload, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)

    hidden = (*secrets, url)
    try:
        with _OPENER.open(request, timeout=timeout.total_seconds()) as answer:
            return Response(answer.status, _decode(answer.read()))
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc.read())
        error = _status_error(exc.code, exc.headers, detail, target, slo, hidden)
        raise error from None
    except TimeoutError:
        message = f"no answer within {timeout.total_seconds():g}s"
        raise DeliveryError(message, slo=slo, target=target, retryable=True) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        message = scrub(f"cannot connect: {reason}", *hidden)
        raise DeliveryError(message, slo=slo, target=target, retryable=True) from None


def _status_error(
    status: int,
    headers: Message,
    detail: str,
    target: str,
    slo: str,
    hidden: tuple[Secret | str, ...],
) -> DeliveryError:
    retryable = status in (408, 429) or status >= 500
    message = scrub(f"answered HTTP {status}{detail}", *hidden)
    wait = parse_retry_after(headers.get("Retry-After")) if status == 429 else None
    return DeliveryError(
        message, slo=slo, target=target, retryable=retryable, retry_after=wait
    )


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _error_detail(raw: bytes) -> str:
    """The provider's own short error text, e.g. PagerDuty's `message`."""
    body = _decode(raw)
    if not isinstance(body, dict):
        return ""
    text = body.get("message") or body.get("error") or body.get("status")
    return f": {str(text)[:200]}" if text else ""
