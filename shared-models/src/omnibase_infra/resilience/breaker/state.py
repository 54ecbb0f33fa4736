"""The states of a circuit breaker."""

from enum import StrEnum

__all__ = ["EnumCallOutcome", "EnumCircuitState"]


class EnumCircuitState(StrEnum):
    """Where a breaker is; the values are what the store and events carry.

    * ``closed``: calls pass; outcomes fill the sliding window.
    * ``open``: calls are rejected until ``open_until``, then the breaker goes half-open.
    * ``half_open``: a bounded number of concurrent probe calls pass; enough successes
      close the breaker, a failure (or slow probe) opens it again.
    * ``forced_open``: manually isolated; every call is rejected until ``reset()``.
    * ``disabled``: every call passes and nothing trips; outcomes are only counted.
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


class EnumCallOutcome(StrEnum):
    """How a call the caller timed itself ended (see ``CircuitBreaker.record``)."""

    SUCCESS = "success"
    FAILURE = "failure"  # the target is unhealthy (connection, timeout, 5xx, ...)
    IGNORED = "ignored"  # an error that says nothing about the target (validation, 404, ...)
