"""Turn SLO spec files into model SLOs, collecting every located problem.

This is the one place where YAML becomes the model. Two versions are read:
`slo-engine/v1` and Sloth's `prometheus/v1`, which is a subset of ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from slo_engine.conventions import (
    LABEL_SEVERITY,
    METRIC_NAME,
    default_alert_name,
)
from slo_engine.durations import format_duration, parse_duration
from slo_engine.errors import Problem, SpecError
from slo_engine.model import (
    SLI,
    SLO,
    Alerting,
    AlertTarget,
    BurnRateWindow,
    EventsSLI,
    Labels,
    LatencySLI,
    Layer,
    Matcher,
    RatioSLI,
    RawSLI,
    ScoreSLI,
    Selector,
    Severity,
)
from slo_engine.spec._promql import parse_query_template, parse_selector
from slo_engine.spec._reader import Reader, describe, suggest
from slo_engine.spec._yaml import Node, parse_yaml
from slo_engine.windows import default_policy, threshold

__all__ = ["SpecFile", "SpecLoader", "load_paths"]

VERSIONS = ("slo-engine/v1", "prometheus/v1")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIN_ALERT_WINDOW = timedelta(minutes=1)

_TOP_KEYS = ("version", "service", "labels", "slos")
_SLO_KEYS = (
    "name",
    "objective",
    "description",
    "layer",
    "window",
    "labels",
    "depends_on",
    "sli",
    "alerting",
)
_SLI_KINDS = ("ratio", "latency", "score", "events", "raw")
_ALERTING_KEYS = (
    "name",
    "labels",
    "annotations",
    "page_alert",
    "ticket_alert",
    "windows",
)
_TARGET_KEYS = ("labels", "annotations", "disable")
_WINDOW_KEYS = ("severity", "long_window", "short_window", "burn_rate")


@dataclass(frozen=True)
class SpecFile:
    """The SLOs of one spec file, where each was defined, and its warnings."""

    path: str
    service: str
    slos: tuple[SLO, ...]
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()


def load_paths(paths: Iterable[str | Path]) -> list[SpecFile]:
    """Load spec files and folders of them (`*.yaml`, `*.yml`, recursively).

    Problems in every file are collected before anything is raised, and SLOs
    are checked across files: unique ids, and `depends_on` names that exist.

    Raises:
        SpecError: any file is invalid; it carries every problem found.
    """
    problems: list[Problem] = []
    specs: list[SpecFile] = []
    for path in _spec_files(paths, problems):
        try:
            specs.append(SpecLoader().load(path))
        except SpecError as error:
            problems.extend(error.problems)

    problems.extend(_cross_file_problems(specs))
    if problems:
        raise SpecError(problems)
    return specs


def _spec_files(paths: Iterable[str | Path], problems: list[Problem]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            )
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(raw), 1, 1, "", "no such file or folder"))
    return found


def _cross_file_problems(specs: list[SpecFile]) -> list[Problem]:
    problems: list[Problem] = []
    defined: dict[str, str] = {}
    for spec in specs:
        for slo in spec.slos:
            line, column = spec.lines[slo.name]
            if slo.slo_id in defined:
                message = (
                    f"SLO id {slo.slo_id!r} is also defined in {defined[slo.slo_id]}"
                )
                problems.append(Problem(spec.path, line, column, "slos.name", message))
            defined.setdefault(slo.slo_id, spec.path)

    for spec in specs:
        for slo in spec.slos:
            for dependency in slo.depends_on:
                wanted = (
                    dependency if "/" in dependency else f"{slo.service}/{dependency}"
                )
                if wanted.replace("/", "-", 1) not in defined:
                    line, column = spec.lines[slo.name]
                    message = (
                        f"depends on {dependency!r}, which no loaded spec defines; "
                        "name an SLO of this service, or 'service/slo' for another"
                    )
                    problems.append(
                        Problem(spec.path, line, column, "depends_on", message)
                    )
    return problems


class SpecLoader(Reader):
    """Read one spec file into a `SpecFile`, or raise every problem in it."""

    def load(self, path: str | Path) -> SpecFile:
        """Load the file at `path`.

        Raises:
            SpecError: the file is unreadable or invalid.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            problem = Problem(
                str(path), 1, 1, "", f"cannot read file: {error.strerror}"
            )
            raise SpecError([problem]) from None
        return self.load_bytes(data, str(path))

    def load_bytes(self, data: bytes, path: str) -> SpecFile:
        """Load spec text already read; `path` only names it in problems.

        Raises:
            SpecError: the text is invalid.
        """
        self.path = path
        root, self.problems = parse_yaml(data, path)
        spec = self._document(root)

        errors = [problem for problem in self.problems if not problem.warning]
        if errors or spec is None:
            raise SpecError(errors)
        warnings = tuple(sorted(p for p in self.problems if p.warning))
        return SpecFile(path, spec[0], spec[1], spec[2], warnings)

    # ---- the document ---------------------------------------------------------

    def _document(
        self, root: Node
    ) -> tuple[str, tuple[SLO, ...], dict[str, tuple[int, int]]] | None:
        if root.is_mapping and ("apiVersion" in root.value or "kind" in root.value):
            message = (
                "Kubernetes-style documents (OpenSLO, Sloth's PrometheusServiceLevel) "
                "are not read yet; write 'version: slo-engine/v1' (see the README)"
            )
            self.fail(root, "apiVersion", message)
            return None
        fields = self.mapping(
            root, "", _TOP_KEYS, required=("version", "service", "slos")
        )
        if fields is None:
            return None

        version = fields.get("version")
        if version is not None and version.value not in VERSIONS:
            expected = " or ".join(repr(v) for v in VERSIONS)
            self.fail(
                version,
                "version",
                f"unknown version {version.value!r}; expected {expected}",
            )
        service = (
            self.name(fields["service"], "service") if "service" in fields else None
        )
        labels = self.labels(fields["labels"], "labels") if "labels" in fields else ()

        slos_node = fields.get("slos")
        if slos_node is None:
            return None
        if not slos_node.is_sequence or not slos_node.value:
            self.fail(
                slos_node,
                "slos",
                f"expected a list of SLOs, got {describe(slos_node)}",
            )
            return None

        slos: list[SLO] = []
        lines: dict[str, tuple[int, int]] = {}
        for index, item in enumerate(slos_node.value):
            slo = self._slo(item, f"slos[{index}]", service or "", labels)
            if slo is None:
                continue
            if slo.name in lines:
                first = lines[slo.name][0]
                message = f"SLO name {slo.name!r} is already used on line {first}"
                self.fail(item, f"slos[{index}].name", message)
                continue
            lines[slo.name] = (item.line, item.column)
            slos.append(slo)

        self._check_depends_on(slos_node, slos)
        if service is None:
            return None
        return service, tuple(slos), lines

    def _check_depends_on(self, slos_node: Node, slos: list[SLO]) -> None:
        names = {slo.name for slo in slos}
        for index, item in enumerate(slos_node.value):
            dependencies = item.value.get("depends_on") if item.is_mapping else None
            if dependencies is None or not dependencies.is_sequence:
                continue
            for position, dep in enumerate(dependencies.value):
                if (
                    isinstance(dep.value, str)
                    and "/" not in dep.value
                    and dep.value not in names
                ):
                    hint = suggest(dep.value, names)
                    message = f"no SLO named {dep.value!r} in this file{hint}"
                    self.fail(dep, f"slos[{index}].depends_on[{position}]", message)

    # ---- one SLO --------------------------------------------------------------

    def _slo(
        self, node: Node, where: str, service: str, file_labels: Labels
    ) -> SLO | None:
        fields = self.mapping(
            node, where, _SLO_KEYS, required=("name", "objective", "sli")
        )
        if fields is None:
            return None

        name = self.name(fields["name"], f"{where}.name") if "name" in fields else None
        objective = self._objective(fields.get("objective"), f"{where}.objective")
        window = timedelta(days=30)
        if "window" in fields:
            window = self.duration(fields["window"], f"{where}.window") or window
        layer = self._layer(fields.get("layer"), f"{where}.layer")
        description = ""
        if "description" in fields:
            description = (
                self.string(fields["description"], f"{where}.description") or ""
            )
        labels = file_labels
        if "labels" in fields:
            labels = _merge(
                file_labels, self.labels(fields["labels"], f"{where}.labels")
            )
        depends_on = self._depends_on(fields.get("depends_on"), f"{where}.depends_on")

        sli, min_events = None, None
        if "sli" in fields:
            sli, min_events = self._sli(fields["sli"], f"{where}.sli")
        window_at = fields.get("window", node)
        alerting, policy = self._alerting(
            fields.get("alerting"), f"{where}.alerting", service, name or "", window
        )
        alerting_node = fields.get("alerting", Node(None, 0, 0))
        if not (alerting_node.is_mapping and "windows" in alerting_node.value):
            self._check_window_fits(window, policy, window_at, f"{where}.window")
        if name is None or objective is None or sli is None:
            return None

        objective_node = fields["objective"]
        policy = self._fireable(policy, objective, objective_node, f"{where}.objective")
        return SLO(
            service=service,
            name=name,
            objective=objective,
            sli=sli,
            alerting=alerting,
            policy=policy,
            window=window,
            layer=layer,
            description=description.strip(),
            labels=labels,
            min_events=min_events,
            depends_on=depends_on,
        )

    def _objective(self, node: Node | None, where: str) -> float | None:
        if node is None:
            return None
        percent = self.number(node, where)
        if percent is None:
            return None
        if not 0 < percent < 100:
            message = (
                "must be a percent between 0 and 100 (exclusive), such as 99.9; "
                f"got {node.value!r}"
            )
            self.fail(node, where, message)
            return None
        return round(percent / 100, 12)

    def _layer(self, node: Node | None, where: str) -> Layer:
        if node is None:
            return Layer.APPLICATION
        layers = [layer.value for layer in Layer]
        if node.value in layers:
            return Layer(node.value)
        message = f"unknown layer {node.value!r}; expected one of {', '.join(layers)}"
        self.fail(node, where, message + suggest(str(node.value), layers))
        return Layer.APPLICATION

    def _depends_on(self, node: Node | None, where: str) -> tuple[str, ...]:
        if node is None:
            return ()
        if not node.is_sequence:
            self.fail(
                node, where, f"expected a list of SLO names, got {describe(node)}"
            )
            return ()
        names = (
            self.string(item, f"{where}[{i}]") for i, item in enumerate(node.value)
        )
        return tuple(name for name in names if name is not None)

    # ---- the SLI --------------------------------------------------------------

    def _sli(self, node: Node, where: str) -> tuple[SLI | None, int | None]:
        if node.is_mapping and "plugin" in node.value:
            message = (
                "Sloth SLI plugins are not supported; "
                "write the plugin's queries as 'events'"
            )
            self.fail(node.value["plugin"], f"{where}.plugin", message)
            return None, None
        fields = self.mapping(node, where, (*_SLI_KINDS, "min_events"))
        if fields is None:
            return None, None

        kinds = [kind for kind in _SLI_KINDS if kind in fields]
        if not kinds and any(key not in _SLI_KINDS for key in fields):
            return None, None  # the unknown key was reported, with a suggestion
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            self.fail(
                node,
                where,
                f"expected exactly one of {', '.join(_SLI_KINDS)}; found {found}",
            )
            return None, None

        kind = kinds[0]
        readers = {
            "ratio": self._ratio,
            "latency": self._latency,
            "score": self._score,
            "events": self._events,
            "raw": self._raw,
        }
        sli = readers[kind](fields[kind], f"{where}.{kind}")
        min_events = self._min_events(
            fields.get("min_events"), f"{where}.min_events", kind
        )
        return sli, min_events

    def _min_events(self, node: Node | None, where: str, kind: str) -> int | None:
        if node is None:
            return None
        if kind == "raw":
            message = (
                "a raw error ratio has no event counts; use 'events' to set min_events"
            )
            self.fail(node, where, message)
            return None
        if (
            isinstance(node.value, bool)
            or not isinstance(node.value, int)
            or node.value < 1
        ):
            self.fail(
                node,
                where,
                f"expected a whole number of at least 1, got {describe(node)}",
            )
            return None
        return int(node.value)

    def _selector(self, node: Node, where: str) -> Selector | None:
        text = self.string(node, where)
        if text is None:
            return None
        try:
            return parse_selector(text)
        except ValueError as error:
            self.fail(node, where, str(error))
            return None

    def _ratio(self, node: Node, where: str) -> SLI | None:
        fields = self.mapping(
            node, where, ("bad", "good", "total"), required=("total",)
        )
        if fields is None:
            return None
        if ("bad" in fields) == ("good" in fields):
            self.fail(
                node, where, "give either 'bad' or 'good' events, not both or neither"
            )
            return None

        total = (
            self._selector(fields["total"], f"{where}.total")
            if "total" in fields
            else None
        )
        bad = self._selector(fields["bad"], f"{where}.bad") if "bad" in fields else None
        good = (
            self._selector(fields["good"], f"{where}.good")
            if "good" in fields
            else None
        )
        if total is None or (bad is None and good is None):
            return None
        return RatioSLI(total=total, bad=bad, good=good)

    def _histogram(
        self, node: Node, where: str, threshold_keys: tuple[str, ...]
    ) -> tuple[str, tuple[Matcher, ...], str, float] | None:
        fields = self.mapping(
            node, where, ("metric", "matchers", *threshold_keys), required=("metric",)
        )
        if fields is None:
            return None
        metric = (
            self.string(fields["metric"], f"{where}.metric")
            if "metric" in fields
            else None
        )
        if metric is not None and not METRIC_NAME.match(metric):
            self.fail(
                fields["metric"],
                f"{where}.metric",
                f"{metric!r} is not a valid metric name",
            )
            metric = None
        if metric is not None and metric.endswith(("_bucket", "_count", "_sum")):
            base = metric.rsplit("_", 1)[0]
            message = f"name the histogram without its suffix, e.g. {base!r}"
            self.fail(fields["metric"], f"{where}.metric", message)
            metric = None
        matchers: tuple[Matcher, ...] = ()
        if "matchers" in fields:
            labels = self.labels(fields["matchers"], f"{where}.matchers")
            matchers = tuple(
                Matcher(key, "=", value) for key, value in labels if key != "le"
            )

        given = [key for key in threshold_keys if key in fields]
        if len(given) != 1:
            self.fail(
                node, where, f"expected exactly one of {', '.join(threshold_keys)}"
            )
            return None
        bound = self._bound(fields[given[0]], f"{where}.{given[0]}")
        if metric is None or bound is None:
            return None
        return metric, matchers, given[0], bound

    def _bound(self, node: Node, where: str) -> float | None:
        if isinstance(node.value, str):
            try:
                return parse_duration(node.value).total_seconds()
            except ValueError:
                self.fail(
                    node,
                    where,
                    f"expected a number or a duration such as '2s', got {node.value!r}",
                )
                return None
        value = self.number(node, where)
        if value is not None and value < 0:
            self.fail(node, where, f"must not be negative, got {value!r}")
            return None
        return value

    def _latency(self, node: Node, where: str) -> SLI | None:
        parsed = self._histogram(node, where, ("threshold",))
        if parsed is None:
            return None
        metric, matchers, _, bound = parsed
        return LatencySLI(metric=metric, threshold=bound, matchers=matchers)

    def _score(self, node: Node, where: str) -> SLI | None:
        parsed = self._histogram(node, where, ("good_above", "good_below"))
        if parsed is None:
            return None
        metric, matchers, key, bound = parsed
        return ScoreSLI(
            metric=metric,
            threshold=bound,
            good_above=key == "good_above",
            matchers=matchers,
        )

    def _query(self, node: Node, where: str) -> str | None:
        text = self.string(node, where)
        if text is None:
            return None
        try:
            return parse_query_template(text)
        except ValueError as error:
            self.fail(node, where, str(error))
            return None

    def _events(self, node: Node, where: str) -> SLI | None:
        keys = ("error_query", "total_query")
        fields = self.mapping(node, where, keys, required=keys)
        if fields is None or any(key not in fields for key in keys):
            return None
        error_query = self._query(fields["error_query"], f"{where}.error_query")
        total_query = self._query(fields["total_query"], f"{where}.total_query")
        if error_query is None or total_query is None:
            return None
        return EventsSLI(error_query=error_query, total_query=total_query)

    def _raw(self, node: Node, where: str) -> SLI | None:
        fields = self.mapping(
            node, where, ("error_ratio_query",), required=("error_ratio_query",)
        )
        if fields is None or "error_ratio_query" not in fields:
            return None
        query = self._query(fields["error_ratio_query"], f"{where}.error_ratio_query")
        return None if query is None else RawSLI(error_ratio_query=query)

    # ---- alerting -------------------------------------------------------------

    def _alerting(
        self, node: Node | None, where: str, service: str, name: str, window: timedelta
    ) -> tuple[Alerting, tuple[BurnRateWindow, ...]]:
        default_name = default_alert_name(service, name)
        fields = self.mapping(node, where, _ALERTING_KEYS) if node is not None else None
        if fields is None:
            return Alerting(name=default_name), default_policy(window)

        alert_name = default_name
        if "name" in fields:
            given = self.string(fields["name"], f"{where}.name")
            if given is not None and not _ALERT_NAME.match(given):
                message = (
                    f"{given!r} is not a valid alert name; use letters, digits "
                    "and '_', e.g. 'ChatLatencyBudgetBurn'"
                )
                self.fail(fields["name"], f"{where}.name", message)
            elif given is not None:
                alert_name = given
        labels = (
            self.labels(fields["labels"], f"{where}.labels")
            if "labels" in fields
            else ()
        )
        annotations: Labels = ()
        if "annotations" in fields:
            annotations = self.labels(
                fields["annotations"], f"{where}.annotations", label_names=False
            )

        page = self._target(
            fields.get("page_alert"), f"{where}.page_alert", Severity.PAGE
        )
        ticket = self._target(
            fields.get("ticket_alert"), f"{where}.ticket_alert", Severity.TICKET
        )
        if "windows" in fields:
            policy = self._windows(fields["windows"], f"{where}.windows", window)
        else:
            policy = default_policy(window)
        policy = tuple(
            pair
            for pair in policy
            if (page if pair.severity is Severity.PAGE else ticket).enabled
        )
        alerting = Alerting(alert_name, labels, annotations, page, ticket)
        return alerting, policy

    def _check_window_fits(
        self,
        window: timedelta,
        policy: tuple[BurnRateWindow, ...],
        node: Node,
        where: str,
    ) -> None:
        if not policy:
            return
        longest = max(pair.long_window for pair in policy)
        if window < longest:
            message = (
                f"the SLO window {format_duration(window)} is shorter than the "
                f"default policy's {format_duration(longest)} ticket window; use a "
                f"window of at least {format_duration(longest)} or set "
                "alerting.windows"
            )
            self.fail(node, where, message)

    def _target(self, node: Node | None, where: str, severity: Severity) -> AlertTarget:
        if node is None:
            return AlertTarget(labels=((LABEL_SEVERITY, severity.value),))
        fields = self.mapping(node, where, _TARGET_KEYS)
        if fields is None:
            return AlertTarget(labels=((LABEL_SEVERITY, severity.value),))

        labels = (
            self.labels(fields["labels"], f"{where}.labels")
            if "labels" in fields
            else ()
        )
        labels = _merge(((LABEL_SEVERITY, severity.value),), labels)
        annotations: Labels = ()
        if "annotations" in fields:
            annotations = self.labels(
                fields["annotations"], f"{where}.annotations", label_names=False
            )
        enabled = True
        if "disable" in fields:
            disable = fields["disable"]
            if not isinstance(disable.value, bool):
                self.fail(
                    disable,
                    f"{where}.disable",
                    f"expected true or false, got {describe(disable)}",
                )
            else:
                enabled = not disable.value
        return AlertTarget(labels, annotations, enabled)

    def _windows(
        self, node: Node, where: str, window: timedelta
    ) -> tuple[BurnRateWindow, ...]:
        if not node.is_sequence or not node.value:
            self.fail(
                node, where, f"expected a list of window pairs, got {describe(node)}"
            )
            return ()
        pairs: dict[tuple[Severity, timedelta, timedelta], BurnRateWindow] = {}
        for index, item in enumerate(node.value):
            pair = self._window_pair(item, f"{where}[{index}]", window)
            if pair is None:
                continue
            key = (pair.severity, pair.long_window, pair.short_window)
            if key in pairs:
                # Both alerts would carry the same labels, and Prometheus
                # refuses two samples of one series at one timestamp.
                message = "another pair has the same severity and windows; keep one"
                self.fail(item, f"{where}[{index}]", message)
                continue
            pairs[key] = pair
        return tuple(pairs.values())

    def _window_pair(
        self, node: Node, where: str, window: timedelta
    ) -> BurnRateWindow | None:
        fields = self.mapping(node, where, _WINDOW_KEYS, required=_WINDOW_KEYS)
        if fields is None or any(key not in fields for key in _WINDOW_KEYS):
            return None

        severity_node = fields["severity"]
        severities = [s.value for s in Severity]
        if severity_node.value not in severities:
            self.fail(
                severity_node,
                f"{where}.severity",
                f"expected 'page' or 'ticket', got {describe(severity_node)}",
            )
        long_window = self.duration(fields["long_window"], f"{where}.long_window")
        short_window = self.duration(fields["short_window"], f"{where}.short_window")
        burn_rate = self.number(fields["burn_rate"], f"{where}.burn_rate")
        if burn_rate is not None and burn_rate <= 0:
            self.fail(
                fields["burn_rate"],
                f"{where}.burn_rate",
                f"must be above 0, got {burn_rate!r}",
            )
            burn_rate = None
        if (
            severity_node.value not in severities
            or long_window is None
            or short_window is None
            or burn_rate is None
        ):
            return None

        for key, value in (
            ("short_window", short_window),
            ("long_window", long_window),
        ):
            if value < _MIN_ALERT_WINDOW:
                self.fail(
                    fields[key],
                    f"{where}.{key}",
                    f"must be at least 1m, got {format_duration(value)}",
                )
                return None
        if short_window >= long_window:
            self.fail(
                fields["short_window"],
                f"{where}.short_window",
                "must be shorter than long_window",
            )
            return None
        if long_window > window:
            message = (
                f"must not be longer than the SLO window {format_duration(window)}"
            )
            self.fail(fields["long_window"], f"{where}.long_window", message)
            return None
        return BurnRateWindow(
            Severity(severity_node.value), long_window, short_window, burn_rate
        )

    def _fireable(
        self,
        policy: tuple[BurnRateWindow, ...],
        objective: float,
        node: Node,
        where: str,
    ) -> tuple[BurnRateWindow, ...]:
        """Drop, with a warning, the pairs whose threshold no error ratio can reach."""
        kept = []
        budget = 1 - objective
        for pair in policy:
            ratio = threshold(pair, budget)
            if ratio < 1:
                kept.append(pair)
                continue
            long_text = format_duration(pair.long_window)
            short_text = format_duration(pair.short_window)
            severity = pair.severity.value
            message = (
                f"the {severity} alert over {long_text}/{short_text} can never "
                f"fire: {pair.burn_rate:g}x the budget is an error ratio of "
                f"{ratio:.3g}, above 1; it is left out (set "
                f"alerting.{severity}_alert.disable or alerting.windows)"
            )
            self.warn(node, where, message)
        return tuple(kept)


def _merge(base: Labels, override: Labels) -> Labels:
    merged = dict(base)
    merged.update(override)
    return tuple(sorted(merged.items()))
