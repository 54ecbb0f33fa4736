"""Which errors say the target is unhealthy (failures) and which do not (ignored)."""

from __future__ import annotations

from collections.abc import Callable

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraError,
    InfraProtocolError,
    InfraTimeoutError,
    InfraUnavailableError,
)
from omnibase_infra.resilience.breaker.store import BreakerKey

__all__ = ["BreakerClassifier", "is_breaker_failure"]

type BreakerClassifier = Callable[[BaseException, BreakerKey], bool]
"""``(error, breaker key) -> True`` when the error counts as a failure of that target."""


def is_breaker_failure(exc: BaseException, key: BreakerKey) -> bool:
    """The default classifier: True when ``exc`` means the target itself is unhealthy.

    Failures:

    * an ``InfraError`` that is ``retryable`` (connection, timeout, unavailable,
      rate-limited by default, or any error raised with ``retryable=True``), an
      ``InfraProtocolError`` (the target answered garbage), or any ``InfraTimeoutError``
      (also an operation's spent deadline, which is not retryable: the target did not
      answer in time, and a target that never answers must still open its breaker);
    * any other ``OSError`` (``ConnectionError``, ``TimeoutError``, socket errors).

    Ignored (neither success nor failure): every other ``InfraError`` (validation,
    conflict, not found, permission, authentication, rejected request, configuration);
    an ``InfraError`` whose transport is another system's (not ``internal``); another
    breaker's ``circuit_open`` rejection; any other exception (a bug in the caller is not
    the target's fault); ``BaseException``s such as cancellation.
    """
    if isinstance(exc, InfraError):
        transport = exc.transport
        if transport is not key.transport and transport is not EnumTransport.INTERNAL:
            return False
        if isinstance(exc, InfraUnavailableError) and exc.reason == "circuit_open":
            return False
        return exc.retryable or isinstance(exc, InfraProtocolError | InfraTimeoutError)
    return isinstance(exc, OSError)
