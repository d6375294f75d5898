"""Every Hypothesis strategy the suite uses, in one place."""

from __future__ import annotations

from datetime import timedelta

import yaml
from hypothesis import strategies as st

from slo_engine.model import LatencySLI, Matcher, RatioSLI, ScoreSLI, Selector

# Strings a YAML file can carry: no surrogates, no characters YAML refuses.
yaml_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff\ufffe\uffff"
    )
    | st.sampled_from("\n\t\"'\\{}[]=~!,#&*|>%@`"),
    max_size=40,
)

label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True).filter(
    lambda name: not name.startswith("slo_") and name != "le"
)
metric_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True).filter(
    lambda name: not name.endswith(("_bucket", "_count", "_sum"))
)
slo_names = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)

objectives_percent = st.floats(min_value=50.0, max_value=99.999).map(
    lambda v: round(v, 3)
)
slo_windows = st.sampled_from([timedelta(days=d) for d in (3, 7, 14, 28, 30, 90)])
durations = st.builds(
    timedelta,
    days=st.integers(0, 400),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
    milliseconds=st.integers(0, 999),
).filter(lambda d: d > timedelta())

# Retry delays, attempt numbers and jitter draws for the outbox's backoff.
delays = st.integers(min_value=1, max_value=3_600_000).map(
    lambda ms: timedelta(milliseconds=ms)
)
attempts = st.integers(min_value=1, max_value=200)
unit_floats = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)

matchers = st.lists(
    st.builds(Matcher, label_names, st.sampled_from(["=", "!="]), yaml_text),
    max_size=3,
    unique_by=lambda m: m.name,
).map(tuple)

thresholds = st.sampled_from([0.05, 0.1, 0.25, 0.5, 0.7, 1.0, 2.0, 2.5, 10.0])

slis = st.one_of(
    st.builds(
        RatioSLI,
        total=st.builds(Selector, metric_names, matchers),
        bad=st.builds(Selector, metric_names, matchers),
    ),
    st.builds(
        RatioSLI,
        total=st.builds(Selector, metric_names, matchers),
        good=st.builds(Selector, metric_names, matchers),
    ),
    st.builds(LatencySLI, metric_names, thresholds, matchers),
    st.builds(ScoreSLI, metric_names, thresholds, st.booleans(), matchers),
)


def _yaml_values(leaves: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=20,
    )


yaml_leaves = st.none() | st.booleans() | st.integers() | st.floats() | yaml_text

# Random YAML documents, half of them shaped like a spec so validation runs deep.
spec_like = st.fixed_dictionaries(
    {
        "version": st.sampled_from(["slo-engine/v1", "prometheus/v1"]) | yaml_leaves,
        "service": slo_names | yaml_leaves,
        "slos": st.lists(
            st.fixed_dictionaries(
                {
                    "name": slo_names | yaml_leaves,
                    "objective": objectives_percent | yaml_leaves,
                    "sli": st.dictionaries(
                        st.sampled_from(["ratio", "latency", "score", "events", "raw"]),
                        _yaml_values(yaml_leaves),
                        max_size=2,
                    ),
                },
                optional={
                    "window": st.sampled_from(["30d", "1d", "5m", "x"]) | yaml_leaves,
                    "alerting": _yaml_values(yaml_leaves),
                    "labels": _yaml_values(yaml_leaves),
                },
            ),
            max_size=3,
        ),
    }
)
yaml_documents = st.one_of(
    _yaml_values(yaml_leaves).map(lambda v: yaml.safe_dump(v).encode()),
    spec_like.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode()),
    st.binary(max_size=200),
)
