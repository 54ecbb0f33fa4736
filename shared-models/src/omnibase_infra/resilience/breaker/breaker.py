"""An asyncio circuit breaker for one target: the engine, a guard, events and a store.

The guard's fast path (closed or disabled, no store sync due) runs the engine
synchronously and awaits nothing; the store is only touched on transitions, for
half-open probes and at most once per ``store_sync_interval_seconds``. No lock is held
across an await: concurrent tasks coordinate through single-flight flags.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, Self, cast, overload
from uuid import UUID

from omnibase_infra.redaction import redact_text
from omnibase_infra.resilience.breaker.config import ModelCircuitBreakerConfig
from omnibase_infra.resilience.breaker.engine import (
    Admission,
    BreakerTransition,
    CircuitBreakerEngine,
    ModelCircuitBreakerSnapshot,
    Permit,
    Rejection,
)
from omnibase_infra.resilience.breaker.errors import CircuitOpenError
from omnibase_infra.resilience.breaker.events import (
    STATE_CHANGED_EVENT_TYPE,
    STATE_CHANGED_TOPIC,
    ModelCircuitBreakerStateChanged,
)
from omnibase_infra.resilience.breaker.state import EnumCallOutcome, EnumCircuitState
from omnibase_infra.resilience.breaker.store import (
    BreakerKey,
    BreakerStoreRecord,
    InMemoryBreakerStore,
    ProtocolBreakerStore,
)

if TYPE_CHECKING:  # the event bus protocol (omnibase-spi) costs import time: typing only
    from omnibase_spi.protocols.event_bus import ProtocolEventBus

__all__ = ["BreakerGuard", "CircuitBreaker", "Clock", "Protector"]

logger = logging.getLogger(__name__)

type Clock = Callable[[], float]
"""Seconds; epoch seconds when replicas share a store (the default is ``time.time``)."""

_EVENT_SOURCE: Final = "omnibase_infra.resilience.breaker"
# A CAS that keeps losing to other replicas gives up after this many rounds per push.
_MAX_PUSH_ROUNDS: Final = 5
_new_error: Final = BaseException.__new__


class Protector(Protocol):
    """The decorator :meth:`CircuitBreaker.protect` returns."""

    def __call__[**P, T](
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...


class CircuitBreaker:
    """One target's breaker for asyncio code (see the module docstring).

    ``store`` defaults to a private :class:`InMemoryBreakerStore`; pass a shared one (or
    a Redis store) so replicas share the state. ``event_bus`` receives a
    ``ModelCircuitBreakerStateChanged`` JSON message on ``topic`` for every transition,
    published from a background task so that it never delays or fails a call.
    """

    __slots__ = (
        "_bus",
        "_clock",
        "_command",
        "_dirty",
        "_engine",
        "_fast_until",
        "_key",
        "_last_reason",
        "_next_sync",
        "_pushing",
        "_store",
        "_sync_interval",
        "_tasks",
        "_topic",
        "_unsynced",
        "_version",
    )

    def __init__(
        self,
        key: BreakerKey,
        config: ModelCircuitBreakerConfig | None = None,
        *,
        clock: Clock = time.time,
        store: ProtocolBreakerStore | None = None,
        event_bus: ProtocolEventBus | None = None,
        topic: str = STATE_CHANGED_TOPIC,
    ) -> None:
        config = config or ModelCircuitBreakerConfig()
        self._key = key
        self._engine = CircuitBreakerEngine(config, key=key, on_transition=self._on_transition)
        self._clock = clock
        self._store: ProtocolBreakerStore = store if store is not None else InMemoryBreakerStore()
        self._bus = event_bus
        self._topic = topic
        self._sync_interval = config.store_sync_interval_seconds
        self._next_sync = float("-inf")  # the first call reads what other replicas decided
        # The guard's fast path is valid while now < _fast_until: no sync due, nothing unsaved.
        self._fast_until = float("-inf")
        self._version = 0
        self._dirty = False
        self._pushing = False
        self._command = False
        self._unsynced = False
        self._last_reason = ""
        self._tasks: set[asyncio.Task[None]] = set()

    # -- views -----------------------------------------------------------------------
    @property
    def key(self) -> BreakerKey:
        """The (transport, target) this breaker guards."""
        return self._key

    @property
    def engine(self) -> CircuitBreakerEngine:
        """The synchronous engine underneath."""
        return self._engine

    @property
    def state(self) -> EnumCircuitState:
        """The current local state."""
        return self._engine.state

    @property
    def store_version(self) -> int:
        """Version of the store record this breaker last wrote or adopted (0: none)."""
        return self._version

    def snapshot(self) -> ModelCircuitBreakerSnapshot:
        """State and metrics now."""
        return self._engine.snapshot(self._clock())

    def peek(self) -> Admission:
        """Whether a call now would be admitted (and as a probe), changing nothing.

        Decided on the local state: ``await sync()`` first to see what other replicas
        decided since the last sync.
        """
        return self._engine.peek(self._clock())

    async def record(
        self, outcome: EnumCallOutcome | BaseException, duration_seconds: float
    ) -> Admission:
        """Count a call the caller made and timed itself, as if guarded; saves a transition.

        ``outcome`` is how the call ended, or the exception it raised (classified like a
        guarded call's). A call the breaker would refuse now is not counted; the returned
        :class:`Admission` says whether it was (``admitted``) and as a probe. Reads the
        store first when a sync is due, like a guarded call.
        """
        now = self._clock()
        if now >= self._next_sync:
            await self._sync(now)
        admission = self._engine.record(outcome, duration_seconds, now)
        if self._dirty:
            await self._push(now)
        return admission

    # -- guarding calls --------------------------------------------------------------
    def guard(self, *, operation: str, correlation_id: UUID | None = None) -> BreakerGuard:
        """A single-use guard for one call: ``async with breaker.guard(operation=...)``.

        Admission happens here when it needs no await (closed, disabled, or refused), so a
        refused call raises :class:`CircuitOpenError` (an ``InfraUnavailableError``)
        straight from ``guard()``; otherwise (store sync due, half-open probe) when the
        ``async with`` is entered. Use the guard at once: a permit is timed from here.
        """
        now = self._clock()
        if now < self._fast_until:
            result = self._engine.try_acquire_fast(now)
            if type(result) is Permit:
                guard = BreakerGuard()  # no __init__: this runs on every call
                guard._breaker = self
                guard._permit = result
                guard._start = now
                return guard
            if type(result) is Rejection:
                raise CircuitOpenError._deferred(result, operation, correlation_id, now)
        guard = BreakerGuard()
        guard._breaker = self
        guard._permit = None
        guard._operation = operation
        guard._correlation_id = correlation_id
        return guard

    @overload
    def protect(self, operation: str) -> Protector: ...

    @overload
    def protect[**P, T](
        self, operation: str, *, fallback: Callable[P, Coroutine[Any, Any, T]]
    ) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]: ...

    def protect(self, operation: str, *, fallback: Callable[..., Any] | None = None) -> Any:
        """Decorator guarding every call of an async function as ``operation``.

        Same behaviour as :meth:`guard`, cheaper per call. The wrapper is a plain function
        returning an awaitable, marked so that ``inspect.iscoroutinefunction`` is True.
        Like ``guard()``, admission happens when it is *called*: a refused call raises
        :class:`CircuitOpenError` at once, before any coroutine exists (so
        ``asyncio.create_task(f())`` raises at the call site). The correlation id of a
        rejection is the call's ``correlation_id`` keyword argument when it has one.

        With ``fallback`` (an ``async def``), a refused call runs ``fallback`` with the same
        arguments instead of raising: the cheapest rejection (no exception is built or raised).
        """
        engine = self._engine
        clock = self._clock

        def decorate[**P, T](fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
            instead = cast("Callable[P, Coroutine[Any, Any, T]] | None", fallback)

            async def admitted(permit: Permit, call: Awaitable[T]) -> T:
                # The guard's fast path, inlined: no guard object, no async with.
                now = clock()  # timed from the first step, not from the call that made it
                try:
                    value = await call
                except BaseException as exc:
                    end = clock()
                    engine.on_error(permit, exc, end - now, end)
                    if self._dirty:
                        await self._settle(None, exc, end)
                    raise
                end = clock()
                engine.on_success(permit, end - now, end)
                if self._dirty:
                    await self._settle(None, None, end)
                return value

            async def slow(args: Any, kwargs: Any) -> T:
                try:
                    guard = self.guard(operation=operation, correlation_id=_correlation_id(kwargs))
                    await guard.__aenter__()
                except CircuitOpenError:
                    if instead is None:
                        raise
                    return await instead(*args, **kwargs)
                async with guard:  # entered: this only records the outcome
                    return await fn(*args, **kwargs)

            @functools.wraps(fn)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
                now = clock()
                if now < self._fast_until:
                    result = engine.try_acquire_fast(now)
                    if type(result) is Permit:
                        return admitted(result, fn(*args, **kwargs))
                    if type(result) is Rejection:
                        if instead is not None:
                            return instead(*args, **kwargs)
                        # CircuitOpenError._deferred, inlined: this is the rejection's cost.
                        error = _new_error(CircuitOpenError, result.message)
                        error._pending = (
                            result,
                            operation,
                            _correlation_id(kwargs) if kwargs else None,
                            now,
                        )
                        raise error
                return slow(args, kwargs)

            return inspect.markcoroutinefunction(guarded)

        return decorate

    # -- manual commands (written to the store over whatever it holds) ---------------
    async def isolate(self) -> None:
        """Force open: reject every call until :meth:`reset` (on every replica)."""
        await self._run_command(self._engine.isolate)

    async def disable(self) -> None:
        """Let every call through and never trip, until :meth:`reset`."""
        await self._run_command(self._engine.disable)

    async def reset(self) -> None:
        """Closed, with an empty window and no trip history."""
        await self._run_command(self._engine.reset)

    async def sync(self) -> None:
        """Read the shared store now instead of waiting for the sync interval."""
        self._schedule_sync(float("-inf"))
        await self._sync(self._clock())

    async def drain(self) -> None:
        """Wait for state-change events and background store calls still in flight."""
        while self._tasks:
            tasks = list(self._tasks)
            await asyncio.gather(*tasks, return_exceptions=True)
            # Awaiting finished tasks does not yield, so their done callbacks may not have run.
            self._tasks.difference_update(tasks)

    async def _run_command(self, action: Callable[[float], None]) -> None:
        now = self._clock()
        action(now)
        self._command = True
        await self._push(now)

    # -- the slow paths of the guard -------------------------------------------------
    async def _admit(self, now: float) -> Permit | Rejection:
        """Admission when a store sync is due, a transition is unsaved or a probe is asked."""
        engine = self._engine
        if now >= self._next_sync:
            await self._sync(now)
        result = engine.try_acquire(now)
        if self._dirty:
            await self._push(now)
        if result.generation != engine.generation:
            # Adopting the store's state made the answer stale: ask again (a transition
            # this causes is saved when the call ends).
            result = engine.try_acquire(now)
        return result

    async def _acquire_probe_token(self, now: float) -> tuple[bool, str | None]:
        """A shared probe permit: (granted, token); store errors fall back to local limits."""
        config = self._engine.config
        try:
            token = await self._store.try_acquire_probe(
                self._key,
                version=self._version,
                max_probes=config.half_open_max_probes,
                now=now,
                lease_seconds=config.probe_lease_seconds,
            )
        except Exception as exc:  # a store failure must not fail the call
            self._store_failed("try_acquire_probe", exc, now)
            return True, None
        if token is None:
            self._schedule_sync(now)  # the shared state moved on: read it on the next call
            return False, None
        return True, token

    async def _release_probe_token(self, token: str) -> None:
        try:
            await self._store.release_probe(self._key, token)
        except Exception as exc:  # the lease expires anyway
            self._store_failed("release_probe", exc, self._clock())

    async def _settle(self, token: str | None, exc: BaseException | None, now: float) -> None:
        """After a probe or a transition: give the store permit back, save the state."""
        if exc is not None and not isinstance(exc, Exception):
            # Cancelled (or interrupted): do not delay it with store round trips.
            self._background(self._store_after_call(token, now))
        else:
            await self._store_after_call(token, now)

    async def _store_after_call(self, token: str | None, now: float) -> None:
        if token is not None:
            await self._release_probe_token(token)
        if self._dirty:
            await self._push(now)

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- store synchronisation -------------------------------------------------------
    async def _sync(self, now: float) -> None:
        self._schedule_sync(now + self._sync_interval)
        if self._pushing or self._dirty:
            return  # the push in flight reconciles with the store
        if self._unsynced:
            self._set_dirty(True)
            await self._push(now)
            return
        seen = self._version
        try:
            record = await self._store.load(self._key)
        except Exception as exc:  # a store failure must not fail the call
            self._store_failed("load", exc, now)
            return
        if self._version != seen or self._pushing or self._dirty:
            return  # something newer happened while we waited
        if record is None:
            if seen or self._engine.state is not EnumCircuitState.CLOSED:
                # The store lost our record (or never got it): write the local state.
                self._version = 0
                self._set_dirty(True)
                await self._push(now)
            return
        if record.version != seen:
            self._version = record.version
            self._engine.adopt(
                record.state,
                open_until=record.open_until,
                trip_count=record.trip_count,
                now=now,
            )

    async def _push(self, now: float) -> None:
        """Write the local state with compare-and-set; single-flight per breaker."""
        if self._pushing:
            return
        self._pushing = True
        try:
            rounds = 0
            while self._dirty:
                if rounds == _MAX_PUSH_ROUNDS:
                    self._set_dirty(False)
                    self._unsynced = True  # retried at the next sync
                    break
                rounds += 1
                await self._push_once(now)
        finally:
            self._pushing = False

    async def _push_once(self, now: float) -> None:
        engine = self._engine
        command, self._command = self._command, False
        self._set_dirty(False)
        expected = self._version
        record = BreakerStoreRecord(
            state=engine.state,
            version=expected + 1,
            open_until=engine.open_until,
            trip_count=engine.trip_count,
            updated_at=now,
            reason=self._last_reason,
        )
        try:
            applied, current = await self._store.compare_and_set(self._key, expected, record)
        except Exception as exc:  # a store failure must not fail the call
            self._command = self._command or command
            self._store_failed("compare_and_set", exc, now)
            return
        self._unsynced = False
        if applied:
            self._version = record.version
            return
        self._version = 0 if current is None else current.version
        if current is None or command or self._command:
            # Nothing stored any more, or an operator command: write ours on top.
            self._command = self._command or command
            self._set_dirty(True)
            return
        if not self._dirty:
            engine.adopt(
                current.state,
                open_until=current.open_until,
                trip_count=current.trip_count,
                now=now,
            )

    def _set_dirty(self, dirty: bool) -> None:
        self._dirty = dirty
        self._fast_until = float("-inf") if dirty else self._next_sync

    def _schedule_sync(self, at: float) -> None:
        self._next_sync = at
        self._fast_until = float("-inf") if self._dirty else at

    def _store_failed(self, operation: str, exc: Exception, now: float) -> None:
        self._unsynced = self._unsynced or operation == "compare_and_set"
        self._schedule_sync(now + self._sync_interval)
        logger.warning(
            "circuit breaker %s: store %s failed, continuing with local state: %s",
            self._key,
            operation,
            redact_text(f"{type(exc).__name__}: {exc}"),
        )

    # -- events ----------------------------------------------------------------------
    def _on_transition(self, transition: BreakerTransition) -> None:
        self._last_reason = transition.reason
        if transition.source == "local":
            self._set_dirty(True)
        if self._bus is not None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # the engine was driven from sync code
                logger.warning("circuit breaker %s: no event loop, event dropped", self._key)
                return
            self._background(self._publish(self._bus, transition))

    async def _publish(self, bus: ProtocolEventBus, transition: BreakerTransition) -> None:
        from omnibase_infra.events import EventHeaders  # noqa: PLC0415 - import cost

        event = ModelCircuitBreakerStateChanged.from_transition(transition)
        headers = EventHeaders(
            content_type="application/json",
            source=_EVENT_SOURCE,
            event_type=STATE_CHANGED_EVENT_TYPE,
            destination=self._topic,
            partition_key=str(self._key),
        )
        try:
            await bus.publish(
                self._topic, str(self._key).encode(), event.model_dump_json().encode(), headers
            )
        except Exception as exc:  # an event must never fail the call
            logger.warning(
                "circuit breaker %s: publishing %s failed: %s",
                self._key,
                STATE_CHANGED_EVENT_TYPE,
                redact_text(f"{type(exc).__name__}: {exc}"),
            )


class BreakerGuard:
    """The async context manager :meth:`CircuitBreaker.guard` returns (one per call).

    Entering admits the call or raises :class:`CircuitOpenError`; leaving records the
    outcome: success, or the exception as classified (failure or ignored); cancellation
    and other ``BaseException``s only give the permit back. Obtain it from ``guard()``.
    """

    __slots__ = ("_breaker", "_correlation_id", "_operation", "_permit", "_start", "_token")

    _breaker: CircuitBreaker
    _operation: str
    _correlation_id: UUID | None
    _permit: Permit | None  # None until admitted on the slow path
    _start: float
    _token: str | None  # set only for half-open probes

    async def __aenter__(self) -> Self:
        if self._permit is None:
            await self._enter()
        return self

    async def _enter(self) -> None:
        """The slow path: store sync, saving a transition, half-open probe permits."""
        breaker = self._breaker
        now = breaker._clock()
        admitted = await breaker._admit(now)
        if type(admitted) is Permit and admitted.probe:
            granted, self._token = await breaker._acquire_probe_token(now)
            if not granted:
                admitted = breaker._engine.revoke(admitted)
        if isinstance(admitted, Rejection):
            raise CircuitOpenError._deferred(admitted, self._operation, self._correlation_id, now)
        self._permit = admitted
        self._start = now

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        permit = self._permit
        if permit is None:  # never entered
            return
        breaker = self._breaker
        now = breaker._clock()
        if exc is None:
            breaker._engine.on_success(permit, now - self._start, now)
        else:
            breaker._engine.on_error(permit, exc, now - self._start, now)
        if permit.probe or breaker._dirty:
            await breaker._settle(self._token if permit.probe else None, exc, now)


def _correlation_id(kwargs: dict[str, Any]) -> UUID | None:
    value = kwargs.get("correlation_id")
    return value if isinstance(value, UUID) else None
