"""A per-channel circuit breaker, so a dead channel is probed, not hammered."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(enum.StrEnum):
    """Closed lets everything through, open nothing, half-open one trial."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class CircuitBreaker:
    """Opens after `threshold` failures in a row; tries again after `cool_down`."""

    threshold: int
    cool_down: timedelta
    failures: int = 0
    opened_at: datetime | None = None
    trial_running: bool = False

    def state(self, now: datetime) -> CircuitState:
        """Where the breaker stands at `now`."""
        if self.opened_at is None:
            return CircuitState.CLOSED
        if now - self.opened_at >= self.cool_down:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allows(self, now: datetime) -> bool:
        """Whether one more attempt may go out now; half-open allows one trial."""
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self.trial_running:
            self.trial_running = True
            return True
        return False

    def record_success(self) -> bool:
        """Close the breaker; True when it was not closed before."""
        was_open = self.opened_at is not None
        self.failures, self.opened_at, self.trial_running = 0, None, False
        return was_open

    def record_failure(self, now: datetime) -> bool:
        """Count a failure; True when this failure opened the breaker."""
        self.failures += 1
        reopened = self.trial_running
        self.trial_running = False
        if reopened or (self.opened_at is None and self.failures >= self.threshold):
            self.opened_at = now
            return True
        return False
