"""Secrets for notifiers, read from an environment variable or a file, never a spec."""

from __future__ import annotations

import os
from pathlib import Path

from slo_engine.errors import NotifyError

__all__ = ["Secret", "scrub"]


class Secret:
    """A token, routing key or URL that must never be printed or logged.

    `repr` and `str` hide the value; only `reveal()` gives it, at the moment
    it goes on the wire.
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, *, source: str = "literal") -> None:
        self._value = value
        self._source = source

    @classmethod
    def from_env(cls, variable: str) -> Secret:
        """The value of environment variable `variable`, stripped.

        Raises:
            NotifyError: the variable is unset or empty.
        """
        value = os.environ.get(variable, "").strip()
        if not value:
            raise NotifyError(f"environment variable {variable!r} is unset or empty")
        return cls(value, source=f"env:{variable}")

    @classmethod
    def from_file(cls, path: str | Path) -> Secret:
        """The content of the file at `path`, stripped (a mounted secret).

        Raises:
            NotifyError: the file cannot be read or is empty.
        """
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            message = f"cannot read secret file {str(path)!r}: {exc.strerror}"
            raise NotifyError(message) from None
        if not value:
            raise NotifyError(f"secret file {str(path)!r} is empty")
        return cls(value, source=f"file:{path}")

    def reveal(self) -> str:
        """The secret itself; only for putting it on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(source={self._source!r})"

    __str__ = __repr__


def scrub(text: str, *secrets: Secret | str) -> str:
    """`text` with every occurrence of the given secrets replaced."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, "[redacted]")
    return text
