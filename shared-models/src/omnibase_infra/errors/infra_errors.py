"""The infra error taxonomy on omnibase_core's ``ModelOnexError``.

Every error carries its own code, the transport, the operation, a credential-free target, the
caller's correlation id and whether retrying can help. Message and context are redacted at
construction, so ``str(err)``, ``err.to_json()`` and logs of it are safe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, ClassVar, Self
from uuid import UUID

from omnibase_core.models.errors.model_onex_error import ModelOnexError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors.enum_infra_error_code import EnumInfraErrorCode
from omnibase_infra.redaction import redact_mapping, redact_text, strip_userinfo

__all__ = [
    "InfraAuthenticationError",
    "InfraConfigurationError",
    "InfraConflictError",
    "InfraConnectionError",
    "InfraError",
    "InfraNotFoundError",
    "InfraPermissionError",
    "InfraProtocolError",
    "InfraRateLimitedError",
    "InfraReadOnlyError",
    "InfraRejectedRequestError",
    "InfraTimeoutError",
    "InfraUnavailableError",
    "InfraValidationError",
]

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None

# Parameters of ModelOnexError.__init__ that a context key must not shadow.
_CORE_PARAMS = frozenset({"message", "error_code", "status", "correlation_id", "timestamp"})
_CONTEXT_PREFIX = "ctx_"


def to_json_safe(value: object) -> JsonValue:
    """A JSON-serializable, redacted form of ``value`` (unknown objects become their str)."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): to_json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_safe(item) for item in value]
    # UUIDs too: an AppRole secret_id is a UUID and may be a registered secret.
    return redact_text(value.isoformat() if isinstance(value, date) else value)


def _coerce_transport(value: object) -> EnumTransport:
    try:
        return EnumTransport(str(value))
    except ValueError:
        return EnumTransport.INTERNAL


def _restore(cls: type[InfraError], args: tuple[object, ...]) -> InfraError:
    """Unpickle without calling ``__init__``; the state dict is applied afterwards."""
    obj = cls.__new__(cls)
    obj.args = args
    return obj


class InfraError(ModelOnexError):
    """Base of every infra error.

    ``correlation_id`` is the caller's id, kept as given (a new one only when None).
    ``target`` is host:port or a path/name; any ``user:password@`` is stripped. Extra keyword
    arguments are redacted context (see :attr:`details`); a key named like a
    ``ModelOnexError`` parameter (``status``, ``timestamp``) is stored as ``ctx_<key>``.

    ``not_sent=True`` says the request never reached the target (connect refused, DNS
    failure, no pooled connection, refused by a rate limit before processing): retrying it
    is safe even for an operation that is not idempotent.
    """

    default_error_code: ClassVar[EnumInfraErrorCode] = EnumInfraErrorCode.INFRA_ERROR
    default_retryable: ClassVar[bool] = False
    # Subclass-specific constructor arguments, stored as attributes and in the core context.
    extra_fields: ClassVar[tuple[str, ...]] = ()

    _transport: EnumTransport
    _operation: str
    _target: str | None
    _retryable: bool
    _not_sent: bool
    _infra_error_code: EnumInfraErrorCode
    _details: dict[str, JsonValue]

    def __init__(
        self,
        message: str,
        *,
        transport: EnumTransport,
        operation: str,
        target: str | None = None,
        correlation_id: UUID | None = None,
        retryable: bool | None = None,
        error_code: EnumInfraErrorCode | None = None,
        **context: object,
    ) -> None:
        # ``not_sent`` travels in ``context`` so that every subclass passes it through.
        not_sent = bool(context.pop("not_sent", False))
        self._init_infra(
            message,
            transport=transport,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            retryable=retryable,
            error_code=error_code,
            timestamp=None,
            context=context,
            not_sent=not_sent,
        )

    def _init_infra(
        self,
        message: object,
        *,
        transport: object,
        operation: object,
        target: object,
        correlation_id: UUID | None,
        retryable: bool | None,
        error_code: EnumInfraErrorCode | None,
        timestamp: datetime | None,
        context: Mapping[str, object],
        not_sent: bool = False,
    ) -> None:
        self._transport = _coerce_transport(transport)
        self._operation = redact_text(operation)
        self._target = None if target is None else strip_userinfo(target)
        self._retryable = type(self).default_retryable if retryable is None else bool(retryable)
        self._not_sent = bool(not_sent)
        self._infra_error_code = error_code or type(self).default_error_code
        core_context: dict[str, JsonValue] = {
            "transport": self._transport.value,
            "operation": self._operation,
            "target": self._target,
            "retryable": self._retryable,
        }
        if self._not_sent:
            core_context["not_sent"] = True
        for name in type(self).extra_fields:
            core_context[name] = to_json_safe(redact_mapping(getattr(self, name, None)))
        details: dict[str, JsonValue] = {}
        for key, value in redact_mapping(dict(context)).items():
            name = str(key)
            if name in _CORE_PARAMS or name in core_context:
                name = f"{_CONTEXT_PREFIX}{name}"
            details[name] = to_json_safe(value)
        self._details = details
        onex_context: dict[str, Any] = {**core_context, **details}
        super().__init__(
            redact_text(message),
            error_code=self._infra_error_code,
            correlation_id=correlation_id,
            timestamp=timestamp,
            **onex_context,
        )

    @property
    def transport(self) -> EnumTransport:
        """Which kind of system failed."""
        return self._transport

    @property
    def operation(self) -> str:
        """The operation that failed (e.g. ``kv_read``, ``execute_query``)."""
        return self._operation

    @property
    def target(self) -> str | None:
        """host:port or a path/name, never with credentials."""
        return self._target

    @property
    def retryable(self) -> bool:
        """Whether retrying the same operation may succeed."""
        return self._retryable

    @property
    def not_sent(self) -> bool:
        """True when the request never reached the target (safe to retry, idempotent or not)."""
        return self._not_sent

    @property
    def infra_error_code(self) -> EnumInfraErrorCode:
        """The infra code (``error_code`` holds the same member)."""
        return self._infra_error_code

    @property
    def details(self) -> dict[str, JsonValue]:
        """The redacted extra context given to the constructor."""
        return dict(self._details)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self._infra_error_code.value!r}, "
            f"transport={self._transport.value!r}, operation={self._operation!r}, "
            f"target={self._target!r}, retryable={self._retryable!r}, "
            f"correlation_id={str(self.correlation_id)!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # The default (cls(*args)) cannot call a constructor with required keyword arguments.
        return (_restore, (type(self), self.args), self.__dict__.copy())

    def to_safe_dict(self) -> dict[str, JsonValue]:
        """Everything a log line or event needs, JSON-safe and redacted."""
        data: dict[str, JsonValue] = {
            "error_type": type(self).__name__,
            "code": self._infra_error_code.value,
            "transport": self._transport.value,
            "operation": self._operation,
            "target": self._target,
            "correlation_id": str(self.correlation_id),
            "retryable": self._retryable,
            "message": self.message,
        }
        if self._not_sent:
            data["not_sent"] = True
        for name in type(self).extra_fields:
            data[name] = to_json_safe(redact_mapping(getattr(self, name, None)))
        if self._details:
            data["details"] = dict(self._details)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild from ``model_dump()`` output (core's version cannot: keyword-only args)."""
        return cls._from_core(ModelOnexError.from_dict(data))

    @classmethod
    def from_json(cls, json_str: str) -> Self:
        """Rebuild from ``to_json()`` output."""
        return cls._from_core(ModelOnexError.from_json(json_str))

    @classmethod
    def _from_core(cls, base: ModelOnexError) -> Self:
        context = dict(base.model.context)
        obj = cls.__new__(cls)
        for name in cls.extra_fields:
            setattr(obj, name, context.pop(name, None))
        try:
            code = EnumInfraErrorCode(base.error_code) if base.error_code else None
        except ValueError:
            code = None
        retryable = context.pop("retryable", None)
        not_sent = bool(context.pop("not_sent", False))
        obj._init_infra(
            base.message,
            transport=context.pop("transport", None),
            operation=context.pop("operation", ""),
            target=context.pop("target", None),
            correlation_id=base.correlation_id,
            retryable=None if retryable is None else bool(retryable),
            error_code=code,
            timestamp=base.timestamp,
            context=context,
            not_sent=not_sent,
        )
        return obj


class InfraConnectionError(InfraError):
    """Could not connect (refused, DNS failure, TLS handshake, connection reset)."""

    default_error_code = EnumInfraErrorCode.CONNECTION_FAILED
    default_retryable = True


class InfraTimeoutError(InfraError):
    """The operation (or the overall retry deadline) ran out of time."""

    default_error_code = EnumInfraErrorCode.TIMEOUT
    default_retryable = True
    extra_fields = ("timeout_seconds",)

    timeout_seconds: float

    def __init__(
        self,
        message: str,
        *,
        transport: EnumTransport,
        operation: str,
        timeout_seconds: float,
        target: str | None = None,
        correlation_id: UUID | None = None,
        retryable: bool | None = None,
        error_code: EnumInfraErrorCode | None = None,
        **context: object,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        super().__init__(
            message,
            transport=transport,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            retryable=retryable,
            error_code=error_code,
            **context,
        )


class InfraAuthenticationError(InfraError):
    """The target rejected the credentials (bad password, expired token)."""

    default_error_code = EnumInfraErrorCode.AUTHENTICATION_FAILED


class InfraPermissionError(InfraError):
    """Authenticated, but not allowed to do this."""

    default_error_code = EnumInfraErrorCode.PERMISSION_DENIED


class InfraReadOnlyError(InfraError):
    """The operation is read-only and the target refused a write it attempted (PostgreSQL
    SQLSTATE 25006 in a read-only session or transaction). Not a permission problem: the
    same credentials may write through a read-write operation. Never retryable."""

    default_error_code = EnumInfraErrorCode.READ_ONLY


class InfraNotFoundError(InfraError):
    """The resource (key, secret, row, service) does not exist."""

    default_error_code = EnumInfraErrorCode.NOT_FOUND


class InfraConflictError(InfraError):
    """A concurrent change won (check-and-set mismatch, unique violation, stale index)."""

    default_error_code = EnumInfraErrorCode.CONFLICT
    extra_fields = ("current_version", "index")

    current_version: int | str | None
    index: int | None

    def __init__(
        self,
        message: str,
        *,
        transport: EnumTransport,
        operation: str,
        current_version: int | str | None = None,
        index: int | None = None,
        target: str | None = None,
        correlation_id: UUID | None = None,
        retryable: bool | None = None,
        error_code: EnumInfraErrorCode | None = None,
        **context: object,
    ) -> None:
        self.current_version = current_version
        self.index = index
        super().__init__(
            message,
            transport=transport,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            retryable=retryable,
            error_code=error_code,
            **context,
        )


class InfraRateLimitedError(InfraError):
    """The target asked us to slow down; ``retry_after_seconds`` is its minimum wait."""

    default_error_code = EnumInfraErrorCode.RATE_LIMITED
    default_retryable = True
    extra_fields = ("retry_after_seconds",)

    retry_after_seconds: float | None

    def __init__(
        self,
        message: str,
        *,
        transport: EnumTransport,
        operation: str,
        retry_after_seconds: float | None = None,
        target: str | None = None,
        correlation_id: UUID | None = None,
        retryable: bool | None = None,
        error_code: EnumInfraErrorCode | None = None,
        **context: object,
    ) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            message,
            transport=transport,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            retryable=retryable,
            error_code=error_code,
            **context,
        )


_REASON_CODES: dict[str, EnumInfraErrorCode] = {
    "circuit_open": EnumInfraErrorCode.CIRCUIT_OPEN,
    "sealed": EnumInfraErrorCode.SEALED,
}


class InfraUnavailableError(InfraError):
    """The target is temporarily unavailable: ``reason`` such as ``circuit_open``,
    ``sealed``, ``maintenance``. The first two get their own code unless one is given.
    """

    default_error_code = EnumInfraErrorCode.UNAVAILABLE
    default_retryable = True
    extra_fields = ("reason",)

    reason: str

    def __init__(
        self,
        message: str,
        *,
        transport: EnumTransport,
        operation: str,
        reason: str,
        target: str | None = None,
        correlation_id: UUID | None = None,
        retryable: bool | None = None,
        error_code: EnumInfraErrorCode | None = None,
        **context: object,
    ) -> None:
        self.reason = redact_text(reason)
        super().__init__(
            message,
            transport=transport,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            retryable=retryable,
            error_code=error_code or _REASON_CODES.get(self.reason),
            **context,
        )


class InfraRejectedRequestError(InfraError):
    """The target refused the request with a status (HTTP 4xx, Vault/Consul error status).

    The ``status`` argument is stored as ``status_code``: ``status`` is already
    ``ModelOnexError``'s ``EnumOnexStatus`` property.
    """

    default_error_code = EnumInfraErrorCode.REQUEST_REJECTED
    extra_fields = ("status_code",)

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        transport: EnumTransport,
        operation: str,
        status: int,
        target: str | None = None,
        correlation_id: UUID | None = None,
        retryable: bool | None = None,
        error_code: EnumInfraErrorCode | None = None,
        **context: object,
    ) -> None:
        self.status_code = status
        super().__init__(
            message,
            transport=transport,
            operation=operation,
            target=target,
            correlation_id=correlation_id,
            retryable=retryable,
            error_code=error_code,
            **context,
        )


class InfraProtocolError(InfraError):
    """The target answered something unexpected or malformed."""

    default_error_code = EnumInfraErrorCode.PROTOCOL_ERROR


class InfraConfigurationError(InfraError):
    """Our side is misconfigured (missing setting, bad URL, unknown mount)."""

    default_error_code = EnumInfraErrorCode.CONFIGURATION_ERROR


class InfraValidationError(InfraError):
    """Input or output failed validation."""

    default_error_code = EnumInfraErrorCode.VALIDATION_ERROR
