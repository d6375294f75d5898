"""Error budgets and burn rates from Prometheus, with the same maths as the rules."""

from __future__ import annotations

from slo_engine.evaluate.burn import (
    PairFiring,
    budget_remaining,
    burn_rate,
    error_ratio,
    evaluate_policy,
    time_left,
)

__all__ = [
    "PairFiring",
    "budget_remaining",
    "burn_rate",
    "error_ratio",
    "evaluate_policy",
    "time_left",
]
