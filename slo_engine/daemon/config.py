"""Read the daemon's YAML config into a `DaemonConfig`, locating every problem.

The config is read with the spec loader's YAML reader, so a mistake reads
as `daemon.yaml:7:3: notifiers[0].token: ...`, like a spec error. Secrets
are never written in the file: each is `{env: NAME}` or `{file: PATH}`.
Relative paths are relative to the config file's folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from slo_engine.conventions import LABEL_SLO_ID, LABEL_SLO_NAME, LABEL_SLO_SERVICE
from slo_engine.errors import ConfigError, NotifyError, Problem, SpecError
from slo_engine.model import Labels, Severity
from slo_engine.notify import (
    AlertmanagerNotifier,
    MessageRenderer,
    Notification,
    Notifier,
    PagerDutyNotifier,
    RetryPolicy,
    Secret,
    SlackNotifier,
    WebhookNotifier,
)
from slo_engine.spec._yaml import Node, parse_yaml
from slo_engine.spec.loader import SpecLoader

__all__ = [
    "DaemonConfig",
    "NotifierConfig",
    "PrometheusConfig",
    "Route",
    "build_notifiers",
    "load_config",
]

_TOP_KEYS = (
    "prometheus",
    "specs",
    "interval",
    "state_file",
    "listen",
    "log_level",
    "templates",
    "query_retries",
    "retry_delay",
    "unknown_after",
    "reminder_interval",
    "delivery",
    "notifiers",
    "routes",
)
_PROMETHEUS_KEYS = ("url", "timeout", "headers", "basic_auth")
_DELIVERY_KEYS = (
    "interval",
    "timeout",
    "base_delay",
    "max_delay",
    "max_attempts",
    "max_age",
    "breaker_threshold",
    "breaker_cool_down",
    "claim_lease",
)
_NOTIFIER_KEYS = {
    "slack": ("channel", "token", "base_url"),
    "pagerduty": ("routing_key", "base_url"),
    "webhook": ("url", "secret"),
    "alertmanager": ("url",),
}
_NOTIFIER_REQUIRED = {
    "slack": ("channel", "token"),
    "pagerduty": ("routing_key",),
    "webhook": ("url",),
    "alertmanager": ("url",),
}
_LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class PrometheusConfig:
    """Where Prometheus answers, and the credentials it wants, if any."""

    url: str
    timeout: timedelta = timedelta(seconds=10)
    headers: tuple[tuple[str, Secret], ...] = ()
    basic_auth: tuple[str, Secret] | None = None

    def header_values(self) -> dict[str, str]:
        """The headers to send, secrets revealed: only for the HTTP client."""
        return {name: secret.reveal() for name, secret in self.headers}

    def auth(self) -> tuple[str, str] | None:
        """The basic-auth pair, password revealed: only for the HTTP client."""
        if self.basic_auth is None:
            return None
        return self.basic_auth[0], self.basic_auth[1].reveal()


@dataclass(frozen=True)
class NotifierConfig:
    """One channel: its unique name, its type and its settings (secrets resolved)."""

    name: str
    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """Send matching notifications to `notifiers`.

    A route matches when the severity is one of `severities` (any, when
    empty) and every label in `labels` has that value on the SLO. Routes are
    tried in order; the first match decides unless it says `continue`.
    """

    notifiers: tuple[str, ...]
    severities: frozenset[Severity] = frozenset()
    labels: Labels = ()
    continue_: bool = False

    def matches(self, notification: Notification) -> bool:
        """Whether `notification` takes this route."""
        if self.severities and notification.severity not in self.severities:
            return False
        have = {
            **dict(notification.labels),
            LABEL_SLO_ID: notification.slo_id,
            LABEL_SLO_SERVICE: notification.service,
            LABEL_SLO_NAME: notification.slo_name,
        }
        return all(have.get(name) == value for name, value in self.labels)


@dataclass(frozen=True)
class DaemonConfig:
    """Everything `slo daemon` needs; built by `load_config`."""

    path: Path
    prometheus: PrometheusConfig
    specs: tuple[Path, ...]
    state_file: Path
    interval: timedelta = timedelta(minutes=1)
    listen: tuple[str, int] = ("127.0.0.1", 9464)
    log_level: str = "info"
    templates: Path | None = None
    query_retries: int = 2
    retry_delay: timedelta = timedelta(seconds=2)
    unknown_after: int = 3
    reminder_interval: timedelta | None = timedelta(hours=24)
    delivery_interval: timedelta = timedelta(seconds=10)
    notifier_timeout: timedelta = timedelta(seconds=10)
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    notifiers: tuple[NotifierConfig, ...] = ()
    routes: tuple[Route, ...] = ()

    def notifiers_for(self, notification: Notification) -> tuple[str, ...]:
        """The names of the notifiers `notification` is routed to, in order."""
        chosen: list[str] = []
        for route in self.routes:
            if route.matches(notification):
                chosen.extend(n for n in route.notifiers if n not in chosen)
                if not route.continue_:
                    break
        return tuple(chosen)


def load_config(path: str | Path) -> DaemonConfig:
    """Read and check the config file at `path`; resolve its secrets.

    Raises:
        ConfigError: the file is unreadable or invalid; it carries every
            problem found, located like spec problems.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        problem = Problem(str(path), 1, 1, "", f"cannot read file: {error.strerror}")
        raise ConfigError([problem]) from None
    try:
        root, problems = parse_yaml(data, str(path))
    except SpecError as error:
        raise ConfigError(error.problems) from None

    reader = _ConfigReader(str(path), problems)
    config = reader.document(root)
    errors = [problem for problem in reader.problems if not problem.warning]
    if errors or config is None:
        raise ConfigError(errors)
    return config


def build_notifiers(config: DaemonConfig) -> list[Notifier]:
    """The configured channels, sharing one renderer (with the user's templates)."""
    renderer = MessageRenderer(config.templates)
    timeout = config.notifier_timeout
    return [_build(n, renderer, timeout) for n in config.notifiers]


def _build(
    notifier: NotifierConfig, renderer: MessageRenderer, timeout: timedelta
) -> Notifier:
    settings = dict(notifier.settings)
    common: dict[str, Any] = {
        "name": notifier.name,
        "timeout": timeout,
        "renderer": renderer,
    }
    if notifier.kind == "slack":
        channel, token = settings.pop("channel"), settings.pop("token")
        return SlackNotifier(channel, token, **settings, **common)
    if notifier.kind == "pagerduty":
        key = settings.pop("routing_key")
        return PagerDutyNotifier(key, **settings, **common)
    if notifier.kind == "webhook":
        return WebhookNotifier(settings.pop("url"), **settings, **common)
    return AlertmanagerNotifier(settings.pop("url"), **common)


def _declared_names(node: Node | None) -> set[str]:
    """Notifier names as written, valid or not, so routes are checked only once."""
    if node is None or not node.is_sequence:
        return set()
    items = [item.value for item in node.value if item.is_mapping]
    return {str(item["name"].value) for item in items if "name" in item}


class _ConfigReader:
    """Read the config tree with the spec loader's located readers."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.folder = Path(path).parent
        self.spec = SpecLoader()
        self.spec.path = path
        self.spec.problems = problems

    @property
    def problems(self) -> list[Problem]:
        return self.spec.problems

    def fail(self, node: Node, where: str, message: str) -> None:
        self.spec.fail(node, where, message)

    # ---- the document ---------------------------------------------------------

    def document(self, root: Node) -> DaemonConfig | None:
        fields = self.spec.mapping(
            root, "", _TOP_KEYS, required=("prometheus", "specs", "state_file")
        )
        if fields is None:
            return None

        prometheus = self._prometheus(fields.get("prometheus"))
        specs = self._paths(fields.get("specs"), "specs")
        state_file = self._path(fields.get("state_file"), "state_file")
        notifiers = self._notifiers(fields.get("notifiers"))
        names = _declared_names(fields.get("notifiers"))
        routes = self._routes(fields.get("routes"), names)
        options = self._options(fields)
        options.update(self._delivery(fields.get("delivery")))
        if prometheus is None or specs is None or state_file is None:
            return None
        return DaemonConfig(
            path=Path(self.path),
            prometheus=prometheus,
            specs=specs,
            state_file=state_file,
            notifiers=tuple(notifiers),
            routes=tuple(routes),
            **options,
        )

    def _options(self, fields: dict[str, Node]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for key in ("interval", "retry_delay"):
            if key in fields:
                options[key] = self._duration(fields[key], key)
        if "reminder_interval" in fields:
            node = fields["reminder_interval"]
            off = node.value is None or node.value is False
            options["reminder_interval"] = (
                None if off else self._duration(node, "reminder_interval")
            )
        for key in ("query_retries", "unknown_after"):
            if key in fields:
                options[key] = self._count(fields[key], key, minimum=0)
        if "listen" in fields:
            options["listen"] = self._listen(fields["listen"])
        if "log_level" in fields:
            options["log_level"] = self._choice(
                fields["log_level"], "log_level", _LOG_LEVELS
            )
        if "templates" in fields:
            options["templates"] = self._path(fields["templates"], "templates")
        return {key: value for key, value in options.items() if value is not None}

    # ---- sections -------------------------------------------------------------

    def _prometheus(self, node: Node | None) -> PrometheusConfig | None:
        if node is None:
            return None
        fields = self.spec.mapping(
            node, "prometheus", _PROMETHEUS_KEYS, required=("url",)
        )
        if fields is None or "url" not in fields:
            return None
        url = self._url(fields["url"], "prometheus.url")
        timeout = timedelta(seconds=10)
        if "timeout" in fields:
            timeout = self._duration(fields["timeout"], "prometheus.timeout") or timeout
        headers: list[tuple[str, Secret]] = []
        if "headers" in fields:
            headers = self._headers(fields["headers"])
        auth = None
        if "basic_auth" in fields:
            auth = self._basic_auth(fields["basic_auth"])
        if url is None:
            return None
        return PrometheusConfig(url, timeout, tuple(headers), auth)

    def _headers(self, node: Node) -> list[tuple[str, Secret]]:
        if not node.is_mapping:
            self.fail(node, "prometheus.headers", "expected a mapping of header names")
            return []
        headers = []
        for name, value in node.value.items():
            secret = self._secret(value, f"prometheus.headers.{name}")
            if secret is not None:
                headers.append((name, secret))
        return headers

    def _basic_auth(self, node: Node) -> tuple[str, Secret] | None:
        where = "prometheus.basic_auth"
        fields = self.spec.mapping(
            node, where, ("username", "password"), ("username", "password")
        )
        if fields is None or len(fields) != 2:
            return None
        username = self.spec.string(fields["username"], f"{where}.username")
        password = self._secret(fields["password"], f"{where}.password")
        if username is None or password is None:
            return None
        return username, password

    def _delivery(self, node: Node | None) -> dict[str, Any]:
        if node is None:
            return {}
        fields = self.spec.mapping(node, "delivery", _DELIVERY_KEYS)
        if fields is None:
            return {}
        durations: dict[str, timedelta] = {}
        counts: dict[str, int] = {}
        for key, value in fields.items():
            where = f"delivery.{key}"
            if key in ("max_attempts", "breaker_threshold"):
                count = self._count(value, where, minimum=1)
                if count is not None:
                    counts[key] = count
                continue
            duration = self._duration(value, where)
            if duration is not None:
                durations[key] = duration

        options: dict[str, Any] = {}
        if "interval" in durations:
            options["delivery_interval"] = durations.pop("interval")
        if "timeout" in durations:
            options["notifier_timeout"] = durations.pop("timeout")
        settings: dict[str, Any] = {**durations, **counts}
        options["retry_policy"] = RetryPolicy(**settings)
        return options

    def _notifiers(self, node: Node | None) -> list[NotifierConfig]:
        if node is None:
            return []
        if not node.is_sequence:
            self.fail(node, "notifiers", "expected a list of notifiers")
            return []
        found: list[NotifierConfig] = []
        for index, item in enumerate(node.value):
            notifier = self._notifier(item, f"notifiers[{index}]")
            if notifier is None:
                continue
            if notifier.name in {n.name for n in found}:
                message = f"notifier name {notifier.name!r} is already used"
                self.fail(item, f"notifiers[{index}].name", message)
                continue
            found.append(notifier)
        return found

    def _notifier(self, node: Node, where: str) -> NotifierConfig | None:
        kind_node = node.value.get("type") if node.is_mapping else None
        kind = None
        if kind_node is not None:
            kind = self._choice(kind_node, f"{where}.type", tuple(_NOTIFIER_KEYS))
        allowed = ("name", "type", *(_NOTIFIER_KEYS.get(kind or "", ())))
        required = ("name", "type", *(_NOTIFIER_REQUIRED.get(kind or "", ())))
        fields = self.spec.mapping(node, where, allowed, required)
        if fields is None or kind is None or "name" not in fields:
            return None
        name = self.spec.name(fields["name"], f"{where}.name")
        settings = self._settings(kind, fields, where)
        if name is None or settings is None:
            return None
        return NotifierConfig(name, kind, settings)

    def _settings(
        self, kind: str, fields: dict[str, Node], where: str
    ) -> dict[str, Any] | None:
        settings: dict[str, Any] = {}
        for key in _NOTIFIER_KEYS[kind]:
            if key not in fields:
                continue
            node, at = fields[key], f"{where}.{key}"
            if key in ("token", "routing_key", "secret"):
                settings[key] = self._secret(node, at)
            elif key == "url" and kind == "webhook" and node.is_mapping:
                settings[key] = self._secret(node, at)  # a URL that embeds a token
            elif key in ("url", "base_url"):
                settings[key] = self._url(node, at)
            else:
                settings[key] = self.spec.string(node, at)
        if any(value is None for value in settings.values()):
            return None
        return settings

    def _routes(self, node: Node | None, names: set[str]) -> list[Route]:
        if node is None:
            return []
        if not node.is_sequence:
            self.fail(node, "routes", "expected a list of routes")
            return []
        routes = [
            self._route(item, f"routes[{index}]", names)
            for index, item in enumerate(node.value)
        ]
        return [route for route in routes if route is not None]

    def _route(self, node: Node, where: str, names: set[str]) -> Route | None:
        keys = ("match", "notifiers", "continue")
        fields = self.spec.mapping(node, where, keys, required=("notifiers",))
        if fields is None or "notifiers" not in fields:
            return None
        targets = self._route_targets(fields["notifiers"], f"{where}.notifiers", names)
        severities: frozenset[Severity] = frozenset()
        labels: Labels = ()
        if "match" in fields:
            severities, labels = self._match(fields["match"], f"{where}.match")
        keep_going = False
        if "continue" in fields:
            keep_going = fields["continue"].value is True
        if targets is None:
            return None
        return Route(targets, severities, labels, keep_going)

    def _route_targets(
        self, node: Node, where: str, names: set[str]
    ) -> tuple[str, ...] | None:
        if not node.is_sequence or not node.value:
            self.fail(node, where, "expected a list of notifier names")
            return None
        targets = []
        for index, item in enumerate(node.value):
            if item.value not in names:
                known = ", ".join(sorted(names)) or "none are configured"
                message = f"no notifier named {item.value!r}; known: {known}"
                self.fail(item, f"{where}[{index}]", message)
                continue
            targets.append(str(item.value))
        return tuple(targets) if len(targets) == len(node.value) else None

    def _match(self, node: Node, where: str) -> tuple[frozenset[Severity], Labels]:
        fields = self.spec.mapping(node, where, ("severity", "labels"))
        if fields is None:
            return frozenset(), ()
        severities: set[Severity] = set()
        if "severity" in fields:
            severity = fields["severity"]
            items = severity.value if severity.is_sequence else [severity]
            for item in items:
                choice = self._choice(
                    item, f"{where}.severity", tuple(str(s) for s in Severity)
                )
                if choice is not None:
                    severities.add(Severity(choice))
        labels: Labels = ()
        if "labels" in fields:
            labels = self.spec.labels(
                fields["labels"], f"{where}.labels", label_names=False
            )
        return frozenset(severities), labels

    # ---- values ---------------------------------------------------------------

    def _secret(self, node: Node, where: str) -> Secret | None:
        fields = node.value if node.is_mapping else None
        if fields is None or len(fields) != 1 or set(fields) - {"env", "file"}:
            message = (
                "secrets are never written in the config; "
                "write {env: VARIABLE} or {file: PATH}"
            )
            self.fail(node, where, message)
            return None
        ((source, value),) = fields.items()
        text = self.spec.string(value, f"{where}.{source}")
        if text is None:
            return None
        try:
            if source == "env":
                return Secret.from_env(text)
            return Secret.from_file(self.folder / text)
        except NotifyError as error:
            self.fail(value, f"{where}.{source}", str(error))
            return None

    def _url(self, node: Node, where: str) -> str | None:
        text = self.spec.string(node, where)
        if text is not None and not text.startswith(("http://", "https://")):
            message = f"expected an http:// or https:// URL, got {text!r}"
            self.fail(node, where, message)
            return None
        return text

    def _duration(self, node: Node, where: str) -> timedelta | None:
        return self.spec.duration(node, where)

    def _count(self, node: Node, where: str, *, minimum: int) -> int | None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            message = f"expected a whole number of at least {minimum}, got {value!r}"
            self.fail(node, where, message)
            return None
        return value

    def _choice(self, node: Node, where: str, choices: tuple[str, ...]) -> str | None:
        if node.value in choices:
            return str(node.value)
        message = f"expected one of {', '.join(choices)}, got {node.value!r}"
        self.fail(node, where, message)
        return None

    def _path(self, node: Node | None, where: str) -> Path | None:
        if node is None:
            return None
        text = self.spec.string(node, where)
        return None if text is None else self.folder / text

    def _paths(self, node: Node | None, where: str) -> tuple[Path, ...] | None:
        if node is None:
            return None
        items = node.value if node.is_sequence else [node]
        paths = [self._path(item, f"{where}[{i}]") for i, item in enumerate(items)]
        if not paths or any(path is None for path in paths):
            if not paths:
                self.fail(node, where, "expected a list of spec files or folders")
            return None
        return tuple(path for path in paths if path is not None)

    def _listen(self, node: Node) -> tuple[str, int] | None:
        text = self.spec.string(node, "listen")
        host, _, port = (text or "").rpartition(":")
        if text is None or not host or not port.isdigit() or int(port) > 65535:
            message = f"expected HOST:PORT such as '127.0.0.1:9464', got {node.value!r}"
            self.fail(node, "listen", message)
            return None
        return host, int(port)
