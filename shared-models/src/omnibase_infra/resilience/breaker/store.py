"""What replicas of a service share about one breaker, and the store that holds it.

Only the *decision* is shared: the state, when an open breaker may half-open, the trip
count (for the exponential wait) and a version for compare-and-set, plus the half-open
probe permits, which are counted atomically across replicas. Sliding windows stay local
to each process: sharing them would cost a round trip per call.

How a breaker uses a store (see ``CircuitBreaker``):

* every local transition is proposed with :meth:`ProtocolBreakerStore.compare_and_set`
  on the version last seen; on a conflict the stored record wins and is adopted
  (manual ``isolate``/``disable``/``reset`` retry on top of it instead);
* otherwise the breaker reads the record with :meth:`ProtocolBreakerStore.load` at most
  once per ``store_sync_interval_seconds``, on a call, never on every call;
* in half-open every probe also takes a permit with
  :meth:`ProtocolBreakerStore.try_acquire_probe` and gives it back with
  :meth:`ProtocolBreakerStore.release_probe`;
* a store error never fails a call: it is logged (redacted) and the breaker goes on with
  its local state until the next sync.

Times are seconds since the Unix epoch from the breaker's clock, so they compare across
replicas (keep replica clocks in sync, e.g. NTP).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.resilience.breaker.state import EnumCircuitState

__all__ = [
    "BreakerKey",
    "BreakerStoreRecord",
    "InMemoryBreakerStore",
    "ProtocolBreakerStore",
]


class BreakerKey(NamedTuple):
    """Identifies one breaker: the kind of system and the target (host:port or a name)."""

    transport: EnumTransport
    target: str

    def __str__(self) -> str:
        return f"{self.transport.value}/{self.target}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerStoreRecord:
    """The shared part of one breaker's state.

    ``version`` starts at 1 for the first record written and grows by one with every
    successful :meth:`ProtocolBreakerStore.compare_and_set`. ``open_until`` is set only
    for ``open`` (when half-open probes may start). ``trip_count`` counts trips since the
    breaker last closed. ``reason`` is a short machine word (``failure_rate``,
    ``slow_call_rate``, ``probe_failed``, ``isolate``, ...), never a secret.
    """

    state: EnumCircuitState
    version: int
    open_until: float | None = None
    trip_count: int = 0
    updated_at: float = 0.0
    reason: str = ""


@runtime_checkable
class ProtocolBreakerStore(Protocol):
    """Shared breaker state for the replicas of a service (async; one record per key).

    Implementations must make :meth:`compare_and_set` and :meth:`try_acquire_probe`
    atomic with respect to each other across every process using the store.
    Errors may be raised as the taxonomy's ``InfraError`` subclasses; the breaker logs
    them and continues with its local state.
    """

    async def load(self, key: BreakerKey) -> BreakerStoreRecord | None:
        """The stored record, or None when nothing was written for ``key``."""
        ...

    async def compare_and_set(
        self, key: BreakerKey, expected_version: int, record: BreakerStoreRecord
    ) -> tuple[bool, BreakerStoreRecord | None]:
        """Store ``record`` iff the stored version equals ``expected_version``.

        ``expected_version`` is 0 when the caller believes nothing is stored;
        ``record.version`` must be ``expected_version + 1``. Returns ``(applied, current)``:
        ``current`` is the record stored after the call (``record`` itself when applied,
        otherwise whatever won, or None when nothing is stored).
        """
        ...

    async def try_acquire_probe(
        self,
        key: BreakerKey,
        *,
        version: int,
        max_probes: int,
        now: float,
        lease_seconds: float,
    ) -> str | None:
        """Take one half-open probe permit; returns its token, or None when refused.

        Granted only while the stored record has this ``version`` and is ``half_open``,
        and fewer than ``max_probes`` unexpired permits are held for that version. A
        permit expires at ``now + lease_seconds`` so a replica that dies holding one
        cannot block probing forever. A new version implicitly drops older permits.
        """
        ...

    async def release_probe(self, key: BreakerKey, token: str) -> None:
        """Give a probe permit back; unknown or expired tokens are ignored (idempotent)."""
        ...


@dataclass(slots=True)
class _Entry:
    record: BreakerStoreRecord
    # token -> lease expiry, for record.version only
    probes: dict[str, float] = field(default_factory=dict)


class InMemoryBreakerStore:
    """A :class:`ProtocolBreakerStore` in process memory.

    The default store of a registry when none is given; sharing one instance between two
    registries in one process behaves like two replicas sharing a Redis store. Every
    method runs without awaiting anything, so each is atomic under asyncio.
    """

    def __init__(self) -> None:
        self._entries: dict[BreakerKey, _Entry] = {}
        self._tokens = itertools.count(1)

    async def load(self, key: BreakerKey) -> BreakerStoreRecord | None:
        """The stored record, or None."""
        entry = self._entries.get(key)
        return None if entry is None else entry.record

    async def compare_and_set(
        self, key: BreakerKey, expected_version: int, record: BreakerStoreRecord
    ) -> tuple[bool, BreakerStoreRecord | None]:
        """Store ``record`` iff the stored version is ``expected_version`` (0: absent)."""
        if record.version != expected_version + 1:
            raise InfraValidationError(
                f"record version {record.version} must be expected_version + 1",
                transport=key.transport,
                operation="breaker_store_cas",
                target=key.target,
            )
        entry = self._entries.get(key)
        current = 0 if entry is None else entry.record.version
        if current != expected_version:
            return False, None if entry is None else entry.record
        self._entries[key] = _Entry(record)
        return True, record

    async def try_acquire_probe(
        self,
        key: BreakerKey,
        *,
        version: int,
        max_probes: int,
        now: float,
        lease_seconds: float,
    ) -> str | None:
        """A probe token while ``version`` is the stored half-open record and permits remain."""
        entry = self._entries.get(key)
        if (
            entry is None
            or entry.record.version != version
            or entry.record.state is not EnumCircuitState.HALF_OPEN
        ):
            return None
        probes = entry.probes
        for token in [t for t, expiry in probes.items() if expiry <= now]:
            del probes[token]
        if len(probes) >= max_probes:
            return None
        token = f"{version}:{next(self._tokens)}"
        probes[token] = now + lease_seconds
        return token

    async def release_probe(self, key: BreakerKey, token: str) -> None:
        """Drop ``token`` if it is still held."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.probes.pop(token, None)

    def probes_held(self, key: BreakerKey) -> int:
        """How many probe permits are held for ``key`` (expired ones included until pruned)."""
        entry = self._entries.get(key)
        return 0 if entry is None else len(entry.probes)
