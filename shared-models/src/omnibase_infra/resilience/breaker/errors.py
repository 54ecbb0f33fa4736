"""The error a guard raises when its breaker refuses a call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self
from uuid import UUID

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import EnumInfraErrorCode, InfraUnavailableError
from omnibase_infra.resilience.breaker.engine import Rejection
from omnibase_infra.resilience.breaker.state import EnumCircuitState
from omnibase_infra.resilience.breaker.store import BreakerKey

__all__ = ["CircuitOpenError"]


class CircuitOpenError(InfraUnavailableError):
    """``InfraUnavailableError(reason="circuit_open")`` raised by a breaker's guard.

    Code ``CIRCUIT_OPEN``, retryable, with the breaker's transport and target, the
    guarded operation and the caller's correlation id. ``retry_at`` (also in the context)
    is when the breaker will let probe calls through, in seconds of the breaker clock
    (epoch seconds by default); None when unknown (forced open, or every half-open probe
    slot taken). ``breaker_state`` is the state that refused the call.

    A rejection must cost less than an admitted call, so construction only records the
    values; the error model of the taxonomy (redaction, core's pydantic model) is built
    on first use of any other attribute (``str()``, ``retry_at``, ``to_json()``, ...).
    """

    __slots__ = ("_pending",)

    # The base class leaves its own tuple unannotated, so mypy pins it to tuple[str].
    extra_fields: ClassVar[tuple[str, ...]] = (  # type: ignore[assignment]
        "reason",
        "retry_at",
        "breaker_state",
    )

    retry_at: float | None
    breaker_state: str
    _pending: tuple[Rejection, str, UUID | None, float]

    def __init__(
        self,
        message: str,
        *,
        transport: EnumTransport,
        operation: str,
        target: str,
        state: EnumCircuitState,
        retry_at: float | None,
        at: float,
        correlation_id: UUID | None = None,
    ) -> None:
        rejection = Rejection(-1, state, retry_at, BreakerKey(transport, target))
        rejection.message = message
        self._pending = (rejection, operation, correlation_id, at)

    @classmethod
    def _deferred(
        cls, rejection: Rejection, operation: str, correlation_id: UUID | None, at: float
    ) -> Self:
        """The guard's constructor: no keyword parsing, no ``__init__``, no ``__dict__``."""
        error = cls.__new__(cls, rejection.message)
        error._pending = (rejection, operation, correlation_id, at)
        return error

    def __reduce__(self) -> tuple[Any, ...]:
        self._materialize()  # the deferred values live in a slot the base class's state lacks
        return super().__reduce__()

    def _materialize(self) -> None:
        try:
            rejection, operation, correlation_id, at = self._pending
        except AttributeError:
            return  # already built
        del self._pending
        self.reason = "circuit_open"
        self.retry_at = rejection.retry_at
        self.breaker_state = rejection.state.value
        self._init_infra(
            rejection.message,
            transport=rejection.key.transport,
            operation=operation,
            target=rejection.key.target,
            correlation_id=correlation_id,
            retryable=None,
            error_code=EnumInfraErrorCode.CIRCUIT_OPEN,
            timestamp=datetime.fromtimestamp(at, UTC),
            context={},
        )

    if not TYPE_CHECKING:  # pragma: no branch - keeps static attribute checks strict

        def __getattr__(self, name: str) -> object:
            # Reached only for attributes not set yet: build the full error once.
            if name == "_pending":
                raise AttributeError(name)
            try:
                self._pending  # noqa: B018 - probing the slot
            except AttributeError:
                raise AttributeError(name) from None
            self._materialize()
            return getattr(self, name)
