"""Read the PromQL users write in specs: series selectors and window templates."""

from __future__ import annotations

import re

import promql_parser

from slo_engine.conventions import LABEL_NAME, METRIC_NAME, WINDOW_PLACEHOLDER
from slo_engine.model import Matcher, Selector

__all__ = ["parse_query_template", "parse_selector"]

# Sloth's `{{.window}}` is read as our `{{ window }}`.
_WINDOW = re.compile(r"\{\{\s*\.?window\s*\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}")

# MatchOp values are not hashable, so they are looked up by their name.
_OPS = {
    str(promql_parser.MatchOp.Equal): "=",
    str(promql_parser.MatchOp.NotEqual): "!=",
    str(promql_parser.MatchOp.Re): "=~",
    str(promql_parser.MatchOp.NotRe): "!~",
}


def parse_selector(text: str) -> Selector:
    """Parse `metric{label="value"}` into a `Selector`.

    Raises:
        ValueError: the text is not a plain series selector with a metric name.
    """
    try:
        expr = promql_parser.parse(text)
    except ValueError as error:
        raise ValueError(f"invalid PromQL selector {text!r}: {error}") from None
    if not isinstance(expr, promql_parser.VectorSelector):
        hint = "a series selector such as 'http_requests_total{code=~\"5..\"}'"
        raise ValueError(f"expected {hint}, got the expression {text!r}")
    if expr.offset is not None or getattr(expr, "at", None) is not None:
        raise ValueError(f"selector {text!r} may not use offset or @")
    if expr.matchers.or_matchers:
        raise ValueError(f"selector {text!r} may not use 'or' between matchers")

    name = expr.name
    matchers: list[Matcher] = []
    for parsed in expr.matchers.matchers:
        op = _OPS[str(parsed.op)]
        if parsed.name == "__name__" and op == "=" and name is None:
            name = parsed.value
            continue
        if not LABEL_NAME.match(parsed.name):
            raise ValueError(f"label name {parsed.name!r} is not valid")
        matchers.append(Matcher(parsed.name, op, parsed.value))
    if name is None or not METRIC_NAME.match(name):
        raise ValueError(f"selector {text!r} must name one metric")
    return Selector(name, tuple(sorted(matchers, key=_matcher_key)))


def parse_query_template(text: str) -> str:
    """Check a query with a window placeholder; return it with ours in place.

    Raises:
        ValueError: no `{{ window }}`, another template, or invalid PromQL.
    """
    normalized = _WINDOW.sub(WINDOW_PLACEHOLDER, text.strip())
    stray = [m for m in _ANY_TEMPLATE.findall(normalized) if m != WINDOW_PLACEHOLDER]
    if stray:
        raise ValueError(
            f"unknown template {stray[0]!r}; only {{{{ window }}}} is filled in"
        )
    if WINDOW_PLACEHOLDER not in normalized:
        example = "sum(rate(http_requests_total[{{ window }}]))"
        raise ValueError(f"query must range over {{{{ window }}}}, as in {example!r}")

    try:
        promql_parser.parse(normalized.replace(WINDOW_PLACEHOLDER, "5m"))
    except ValueError as error:
        raise ValueError(f"invalid PromQL: {error}") from None
    return normalized


def _matcher_key(matcher: Matcher) -> tuple[str, str, str]:
    return (matcher.name, matcher.op, matcher.value)
