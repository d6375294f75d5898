"""Prometheus duration strings to and from `timedelta`, shared by every layer."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

# Units in the order Prometheus accepts them; a year is 365 days and a week 7.
_UNITS: tuple[tuple[str, timedelta], ...] = (
    ("y", timedelta(days=365)),
    ("w", timedelta(weeks=1)),
    ("d", timedelta(days=1)),
    ("h", timedelta(hours=1)),
    ("m", timedelta(minutes=1)),
    ("s", timedelta(seconds=1)),
    ("ms", timedelta(milliseconds=1)),
)
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse a Prometheus duration such as `5m`, `1h30m` or `30d`.

    Raises:
        ValueError: the text is not a positive Prometheus duration.
    """
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration like '5m', '1h30m' or '30d'")

    total = timedelta()
    for (_, unit), amount in zip(_UNITS, match.groups(), strict=True):
        if amount is not None:
            total += int(amount) * unit
    if total <= timedelta():
        raise ValueError(f"{text!r} is zero; a duration must be positive")
    return total


@functools.lru_cache(maxsize=256)
def format_duration(value: timedelta) -> str:
    """Render a duration the way Prometheus does: `90m` becomes `1h30m`."""
    if value <= timedelta():
        raise ValueError(f"durations must be positive, got {value!r}")

    # Weeks and years are left out on purpose: `30d` reads better than `4w2d`.
    remaining = value
    parts = []
    for suffix, unit in _UNITS:
        if suffix in ("y", "w"):
            continue
        amount, remaining = divmod(remaining, unit)
        if amount:
            parts.append(f"{amount}{suffix}")
    if remaining:
        raise ValueError(f"{value!r} is finer than a millisecond")
    return "".join(parts)
