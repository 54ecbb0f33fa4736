"""The one thing the node needs from ``CircuitBreaker`` that its public API lacks.

The guard writes a local transition to the shared store as part of a guarded call. The
node reports calls its caller already made (with their measured duration) straight to the
engine, so it must ask for that write itself; ``CircuitBreaker`` has no public method for
it yet (requested: a public ``record(outcome, duration)`` or ``flush()``). Kept here, in
one place, so that it is replaced by the public call when one exists.
"""

from __future__ import annotations

from omnibase_infra.resilience.breaker import CircuitBreaker

__all__ = ["write_local_state"]


async def write_local_state(breaker: CircuitBreaker, now: float) -> None:
    """Compare-and-set the breaker's local state into its store (errors are logged there)."""
    await breaker._push(now)
