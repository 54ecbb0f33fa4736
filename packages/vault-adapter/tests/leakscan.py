"""The suite-wide secret scan: note secret values, capture texts, report what leaked.

Values shorter than ``MIN_LENGTH`` are not scanned for: a value like ``"1"`` occurs in any
log line, so tests that want a value scanned use a distinctive one.
"""

from __future__ import annotations

import base64
import functools
import inspect
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from omnibase_infra.errors import InfraError

MIN_LENGTH = 8


def secret_values(obj: object) -> Iterator[str]:
    """Every secret value inside ``obj`` (models, mappings, sequences), as text."""
    if isinstance(obj, SecretStr):
        yield obj.get_secret_value()
    elif isinstance(obj, SecretBytes):
        raw = obj.get_secret_value()
        yield base64.b64encode(raw).decode("ascii")
        try:
            decoded: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
        if decoded is not None:
            yield decoded
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from secret_values(getattr(obj, name))
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from secret_values(value)
    elif isinstance(obj, list | tuple | set | frozenset):
        for value in obj:
            yield from secret_values(value)


class _CaptureHandler(logging.Handler):
    def __init__(self, scanner: LeakScanner) -> None:
        super().__init__(logging.DEBUG)
        self._scanner = scanner
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # format() adds the exception and stack texts; the raw args and extras are kept too.
        self._scanner.capture(f"log {record.name}", self.format(record) + repr(record.__dict__))


class LeakScanner:
    """Collects secret values and captured texts; ``findings()`` says which values leaked."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._texts: list[tuple[str, str]] = []
        self._handler = _CaptureHandler(self)
        self._undo: list[Callable[[], None]] = []

    def note(self, value: str) -> str:
        if len(value) >= MIN_LENGTH:
            self._secrets.add(value)
        return value

    def note_all(self, obj: object) -> None:
        for value in secret_values(obj):
            self.note(value)

    def capture(self, source: str, text: str) -> None:
        self._texts.append((source, text))

    def findings(self) -> list[str]:
        """One line per (source, leaked value); values are named by length, never shown."""
        ordered = sorted(self._secrets)
        return [
            f"{source}: secret #{index} ({len(value)} chars)"
            for source, text in self._texts
            for index, value in enumerate(ordered)
            if value in text
        ]

    def summary(self) -> str:
        return f"secret scan: {len(self._secrets)} values against {len(self._texts)} texts"

    def install(self, node_class: type) -> None:
        """Capture every log record and InfraError text; note secrets passing through nodes."""
        root = logging.getLogger()
        level = root.level
        root.addHandler(self._handler)
        root.setLevel(logging.DEBUG)

        def restore_logging() -> None:
            root.removeHandler(self._handler)
            root.setLevel(level)

        self._undo.append(restore_logging)

        original_init = InfraError.__init__
        scanner = self

        @functools.wraps(original_init)
        def init(self: InfraError, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            scanner.capture(f"exception {type(self).__name__}", _exception_text(self))

        InfraError.__init__ = init  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(InfraError, "__init__", original_init))

        for name, member in list(vars(node_class).items()):
            if name == "__init__" or (
                not name.startswith("_") and inspect.iscoroutinefunction(member)
            ):
                setattr(node_class, name, self._noting(member))
                self._undo.append(functools.partial(setattr, node_class, name, member))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _noting(self, method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
                self.note_all((args[1:], kwargs))
                result = await method(*args, **kwargs)
                self.note_all(result)
                return result

            return wrapped_async

        @functools.wraps(method)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.note_all((args[1:], kwargs))
            return method(*args, **kwargs)

        return wrapped


def _exception_text(exc: BaseException) -> str:
    """str, repr and everything the exception carries in its attributes."""
    return f"{exc!s} {exc!r} {vars(exc)!r} {''.join(traceback.format_exception_only(exc))}"
