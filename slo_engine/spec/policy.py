"""Read an alternative alert policy for `slo backtest --policy`: a list of pairs.

The file holds what `alerting.windows` holds in a spec, and is read by the
same code, so a pair means the same thing in both places.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from slo_engine.errors import Problem, SpecError
from slo_engine.model import BurnRateWindow
from slo_engine.spec._yaml import parse_yaml
from slo_engine.spec.loader import SpecLoader

__all__ = ["load_policy"]

# Pairs are checked against each SLO's window when replayed, not here.
_ANY_WINDOW = timedelta(days=365 * 100)


def load_policy(path: str | Path) -> tuple[BurnRateWindow, ...]:
    """Load a YAML list of `{severity, long_window, short_window, burn_rate}`.

    Burn rates are used as written, as in a spec's `alerting.windows`.

    Raises:
        SpecError: the file is unreadable or a pair is invalid.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        problem = Problem(str(path), 1, 1, "", f"cannot read file: {error.strerror}")
        raise SpecError([problem]) from None

    loader = SpecLoader(str(path))
    root, loader.problems = parse_yaml(data, str(path))
    pairs = loader._windows(root, "windows", _ANY_WINDOW)
    errors = [problem for problem in loader.problems if not problem.warning]
    if errors or not pairs:
        raise SpecError(errors)
    return pairs
