"""The pure circuit-breaker engine: synchronous, deterministic, time passed in.

The engine never awaits, never reads a clock and never does I/O: callers pass ``now``
(seconds, the same clock for every call) and call durations. ``CircuitBreaker`` wraps it
for asyncio. Every method runs to completion without yielding, so one engine can be used
from many asyncio tasks without a lock.

Permits carry the *generation* of the state that admitted them: each transition starts a
new generation, and an outcome reported with a permit of an older generation (a slow call
admitted before a trip that finishes after it) is counted in the metrics but never touches
the window or the half-open probe accounting of the new state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from omnibase_infra.enums import EnumTransport
from omnibase_infra.resilience.breaker.config import ModelCircuitBreakerConfig
from omnibase_infra.resilience.breaker.state import EnumCallOutcome, EnumCircuitState
from omnibase_infra.resilience.breaker.store import BreakerKey
from omnibase_infra.resilience.breaker.window import FAILED, SLOW, CountWindow, TimeWindow

__all__ = [
    "Admission",
    "BreakerTransition",
    "CircuitBreakerEngine",
    "ModelCircuitBreakerSnapshot",
    "Permit",
    "Rejection",
]

_CLOSED: Final = EnumCircuitState.CLOSED
_OPEN: Final = EnumCircuitState.OPEN
_HALF_OPEN: Final = EnumCircuitState.HALF_OPEN
_FORCED_OPEN: Final = EnumCircuitState.FORCED_OPEN
_DISABLED: Final = EnumCircuitState.DISABLED

_DEFAULT_KEY = BreakerKey(EnumTransport.INTERNAL, "default")
_TRIP_REASONS: Final = {FAILED: "failure_rate", SLOW: "slow_call_rate"}


class Permit:
    """Admission of one call; hand it back with exactly one outcome method.

    One instance per (generation, kind) is reused for every call, so admitting a call
    allocates nothing.
    """

    __slots__ = ("generation", "probe")

    def __init__(self, generation: int, *, probe: bool) -> None:
        self.generation = generation
        self.probe = probe

    def __repr__(self) -> str:
        return f"Permit(generation={self.generation}, probe={self.probe})"


class Rejection:
    """A refused call: the state that refused it and when to retry.

    ``retry_at`` is when an open breaker will let probes through (None when unknown:
    forced open, or every half-open probe slot taken). ``message`` says which breaker
    refused, safe to log. One instance per generation is reused for every rejection.
    """

    __slots__ = ("generation", "key", "message", "retry_at", "state")

    def __init__(
        self, generation: int, state: EnumCircuitState, retry_at: float | None, key: BreakerKey
    ) -> None:
        self.generation = generation
        self.state = state
        self.retry_at = retry_at
        self.key = key
        self.message = f"circuit breaker {key} is {state.value}"

    def __repr__(self) -> str:
        return f"Rejection(state={self.state.value}, retry_at={self.retry_at})"


@dataclass(frozen=True, slots=True)
class Admission:
    """What admitting a call at one moment answers (see :meth:`CircuitBreakerEngine.peek`).

    ``probe``: admitted as a half-open probe. ``retry_at``: for a refusal by an open
    breaker, when it lets probes through (None otherwise). ``state``: the state that
    decides (half-open for an open breaker whose wait has elapsed).
    """

    admitted: bool
    probe: bool
    retry_at: float | None
    state: EnumCircuitState


type TransitionSource = Literal["local", "store"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerTransition:
    """One state change, with the window totals that led to it.

    ``source`` is ``local`` for a decision of this engine (or a manual command) and
    ``store`` when the state was adopted from the shared store.
    """

    key: BreakerKey
    from_state: EnumCircuitState
    to_state: EnumCircuitState
    reason: str
    at: float
    generation: int
    open_until: float | None
    trip_count: int
    window_calls: int
    window_failures: int
    window_slow_calls: int
    source: TransitionSource = "local"


class ModelCircuitBreakerSnapshot(BaseModel):
    """State and metrics of one breaker at one moment (plain values, JSON-ready).

    Counters are totals since the breaker was created: ``successes`` and ``failures``
    include slow ones, and ``slow_calls`` counts slow calls of either outcome.
    ``failure_rate`` and ``slow_call_rate`` are percentages of the window (None while it
    is empty).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    transport: EnumTransport
    target: str
    state: EnumCircuitState
    generation: int
    open_until: float | None
    trip_count: int
    window_calls: int
    window_failures: int
    window_slow_calls: int
    failure_rate: float | None
    slow_call_rate: float | None
    probes_in_flight: int
    probe_successes: int
    successes: int
    failures: int
    slow_calls: int
    ignored: int
    cancelled: int
    rejected: int
    transitions: int


type TransitionListener = Callable[[BreakerTransition], None]


class CircuitBreakerEngine:
    """The state machine and sliding window of one breaker (see the module docstring)."""

    __slots__ = (
        "_classifier",
        "_config",
        "_count_window",
        "_generation",
        "_key",
        "_listener",
        "_max_probes",
        "_open_until",
        "_permit",
        "_probe_permit",
        "_probe_successes",
        "_probes_in_flight",
        "_quiet_at",
        "_quiet_permit",
        "_quiet_successes",
        "_rejection",
        "_slow_duration",
        "_state",
        "_successes_to_close",
        "_trip_count",
        "_wait_until",
        "_window",
        "cancelled",
        "failures",
        "ignored",
        "rejected",
        "slow_calls",
        "successes",
        "transitions",
    )

    def __init__(
        self,
        config: ModelCircuitBreakerConfig | None = None,
        *,
        key: BreakerKey = _DEFAULT_KEY,
        on_transition: TransitionListener | None = None,
    ) -> None:
        config = config or ModelCircuitBreakerConfig()
        self._config = config
        self._key = key
        self._listener = on_transition
        self._classifier = config.classifier
        slow = config.slow_call_duration_seconds
        self._slow_duration = float("inf") if slow is None else slow
        self._max_probes = config.half_open_max_probes
        self._successes_to_close = config.half_open_successes_to_close
        size = config.sliding_window_size
        window_type = CountWindow if config.sliding_window_type == "count" else TimeWindow
        self._window: CountWindow | TimeWindow = window_type(
            size,
            minimum_calls=config.minimum_calls,
            failure_threshold=config.failure_rate_threshold,
            slow_threshold=config.slow_call_rate_threshold,
        )
        self._count_window = self._window if isinstance(self._window, CountWindow) else None
        # Successes into a full count window are only counted (see on_success).
        self._quiet_at = size if self._count_window is not None else -1
        self._quiet_permit: Permit | None = None
        self._quiet_successes = 0
        self._state = _CLOSED
        self._generation = 0
        self._open_until: float | None = None
        self._wait_until = 0.0  # open_until as a plain float, for the hot path
        self._trip_count = 0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self.successes = self.failures = self.slow_calls = 0
        self.ignored = self.cancelled = self.rejected = self.transitions = 0
        self._permit = Permit(0, probe=False)
        self._probe_permit = Permit(0, probe=True)
        self._rejection = Rejection(0, _CLOSED, None, key)

    # -- read-only views -------------------------------------------------------------
    @property
    def key(self) -> BreakerKey:
        """The (transport, target) this engine guards."""
        return self._key

    @property
    def config(self) -> ModelCircuitBreakerConfig:
        """The validated configuration."""
        return self._config

    @property
    def state(self) -> EnumCircuitState:
        """The current state (an open breaker turns half-open on the next acquire)."""
        return self._state

    @property
    def generation(self) -> int:
        """Grows by one with every transition."""
        return self._generation

    @property
    def open_until(self) -> float | None:
        """When an open breaker lets probes through (None in other states)."""
        return self._open_until

    @property
    def trip_count(self) -> int:
        """Trips since the breaker last closed (drives the exponential wait)."""
        return self._trip_count

    @property
    def probes_in_flight(self) -> int:
        """Half-open probe permits handed out and not yet returned."""
        return self._probes_in_flight

    # -- admission -------------------------------------------------------------------
    def try_acquire(self, now: float) -> Permit | Rejection:
        """Admit a call (a :class:`Permit`) or refuse it (a :class:`Rejection`)."""
        result = self.try_acquire_fast(now)
        return self._acquire_guarded(now) if result is None else result

    def try_acquire_fast(self, now: float) -> Permit | Rejection | None:
        """:meth:`try_acquire` where it needs no probe permit, else None (changing nothing).

        None means half-open, or open with its wait elapsed: only :meth:`try_acquire`
        (which counts probe permits) can decide. Callers that must do work before a probe
        (take a shared-store permit) use this for the common cases.
        """
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            return self._permit
        if (state is _OPEN and now < self._wait_until) or state is _FORCED_OPEN:
            self.rejected += 1
            return self._rejection
        return None

    def peek(self, now: float) -> Admission:
        """What :meth:`try_acquire` would answer at ``now``, changing nothing."""
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            return Admission(admitted=True, probe=False, retry_at=None, state=state)
        if state is _OPEN and now < self._wait_until:
            return Admission(admitted=False, probe=False, retry_at=self._open_until, state=state)
        if state is _OPEN:
            return Admission(admitted=True, probe=True, retry_at=None, state=_HALF_OPEN)
        admitted = state is _HALF_OPEN and self._probes_in_flight < self._max_probes
        return Admission(admitted=admitted, probe=admitted, retry_at=None, state=state)

    def record(
        self, outcome: EnumCallOutcome | BaseException, duration: float, now: float
    ) -> Admission:
        """Admit and report at once a call that already ended (its caller timed it).

        ``outcome`` is how it ended, or the exception it raised (classified like
        :meth:`on_error`). A call the breaker would refuse now is not counted at all (not
        even as a rejection); the returned :meth:`peek` answer says which happened.
        """
        admission = self.peek(now)
        if not admission.admitted:
            return admission
        permit = self.try_acquire(now)
        if isinstance(permit, Rejection):  # pragma: no cover - peek() just said it admits
            return admission
        if isinstance(outcome, BaseException):
            self.on_error(permit, outcome, duration, now)
        elif outcome == EnumCallOutcome.SUCCESS:
            self.on_success(permit, duration, now)
        elif outcome == EnumCallOutcome.FAILURE:
            self.on_failure(permit, duration, now)
        else:
            self.on_ignored(permit)
        return admission

    def _acquire_guarded(self, now: float) -> Permit | Rejection:
        if self._state is _OPEN:  # its wait has elapsed
            self._transition(_HALF_OPEN, now, "wait_elapsed")
        if self._probes_in_flight < self._max_probes:
            self._probes_in_flight += 1
            return self._probe_permit
        self.rejected += 1
        return self._rejection

    # -- outcomes --------------------------------------------------------------------
    def on_success(self, permit: Permit, duration: float, now: float) -> None:
        """The admitted call succeeded after ``duration`` seconds."""
        self.successes += 1
        if duration > self._slow_duration:
            self.slow_calls += 1
            self._record(permit, SLOW, now)
        elif permit is self._quiet_permit:
            # A full count window: a success cannot raise a rate, so it is only counted
            # here and moved into the ring before the window is next read.
            self._quiet_successes += 1
        else:
            self._record(permit, 0, now)

    def on_failure(self, permit: Permit, duration: float, now: float) -> None:
        """The admitted call failed in a way that counts against the target."""
        self.failures += 1
        if duration > self._slow_duration:
            self.slow_calls += 1
            self._record(permit, FAILED | SLOW, now)
        else:
            self._record(permit, FAILED, now)

    def on_error(self, permit: Permit, exc: BaseException, duration: float, now: float) -> bool:
        """Classify ``exc`` and report it; returns whether it counted as a failure.

        Exceptions that are not ``Exception`` (cancellation, interrupts) only release the
        permit; the classifier decides between failure and ignored for the rest.
        """
        if not isinstance(exc, Exception):
            self.release(permit)
            return False
        if self._classifier(exc, self._key):
            self.on_failure(permit, duration, now)
            return True
        self.on_ignored(permit)
        return False

    def on_ignored(self, permit: Permit) -> None:
        """The call ended in an error that says nothing about the target's health."""
        self.ignored += 1
        self._return_probe(permit)

    def release(self, permit: Permit) -> None:
        """The call was cancelled (or never ran): give the permit back, count nothing."""
        self.cancelled += 1
        self._return_probe(permit)

    def revoke(self, permit: Permit) -> Rejection:
        """Take back a permit that was refused elsewhere (the shared store's probe limit).

        Counted as a rejection; returns the rejection for the current state.
        """
        self.rejected += 1
        self._return_probe(permit)
        return self._rejection

    def _record(self, permit: Permit, code: int, now: float) -> None:
        if permit is self._permit:
            if self._state is _CLOSED:
                window = self._window
                self._flush()
                verdict = window.record(code, now)
                if verdict:  # reaching minimum_calls can make even a success tip a rate
                    self._trip(now, _TRIP_REASONS[verdict])
                elif window.calls == self._quiet_at:
                    self._quiet_permit = permit
        elif permit is self._probe_permit:
            self._probes_in_flight -= 1
            if code & FAILED:
                self._trip(now, "probe_failed")
            elif code & SLOW:
                self._trip(now, "probe_slow")
            else:
                self._probe_successes += 1
                if self._probe_successes >= self._successes_to_close:
                    self._transition(_CLOSED, now, "probes_succeeded")

    def _flush(self) -> None:
        pending = self._quiet_successes
        if pending and self._count_window is not None:
            self._count_window.add_successes(pending)
            self._quiet_successes = 0

    def _return_probe(self, permit: Permit) -> None:
        if permit is self._probe_permit:
            self._probes_in_flight -= 1

    # -- commands --------------------------------------------------------------------
    def isolate(self, now: float) -> None:
        """Force the breaker open (manual isolation) until :meth:`reset`."""
        self._transition(_FORCED_OPEN, now, "isolate")

    def disable(self, now: float) -> None:
        """Let every call through and never trip (outcomes are still counted)."""
        self._transition(_DISABLED, now, "disable")

    def reset(self, now: float) -> None:
        """Back to closed with an empty window and no trip history."""
        self._transition(_CLOSED, now, "reset")

    def adopt(
        self,
        state: EnumCircuitState,
        *,
        open_until: float | None,
        trip_count: int,
        now: float,
        reason: str = "store_sync",
    ) -> bool:
        """Take over a state decided elsewhere (the shared store); True if it changed.

        Adopting the state the engine is already in (and, for open, the same
        ``open_until``) only updates the trip count and keeps the generation, so permits
        in flight stay valid.
        """
        self._trip_count = trip_count
        if state is self._state and (state is not _OPEN or open_until == self._open_until):
            return False
        if state is _OPEN and open_until is None:
            open_until = now + self._config.wait_for_trip(trip_count)
        self._transition(state, now, reason, open_until=open_until, source="store")
        return True

    # -- internals -------------------------------------------------------------------
    def _trip(self, now: float, reason: str) -> None:
        self._trip_count += 1
        wait = self._config.wait_for_trip(self._trip_count)
        self._transition(_OPEN, now, reason, open_until=now + wait)

    def _transition(
        self,
        to_state: EnumCircuitState,
        now: float,
        reason: str,
        *,
        open_until: float | None = None,
        source: TransitionSource = "local",
    ) -> None:
        window = self._window
        self._flush()
        self._quiet_permit = None
        if to_state is _CLOSED:
            self._trip_count = 0
        event = BreakerTransition(
            key=self._key,
            from_state=self._state,
            to_state=to_state,
            reason=reason,
            at=now,
            generation=self._generation + 1,
            open_until=open_until if to_state is _OPEN else None,
            trip_count=self._trip_count,
            window_calls=window.calls,
            window_failures=window.failures,
            window_slow_calls=window.slow,
            source=source,
        )
        generation = event.generation
        self._generation = generation
        self._state = to_state
        self._open_until = event.open_until
        self._wait_until = event.open_until or 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        if to_state is _CLOSED:
            window.reset()
        self._permit = Permit(generation, probe=False)
        self._probe_permit = Permit(generation, probe=True)
        self._rejection = Rejection(generation, to_state, event.open_until, self._key)
        self.transitions += 1
        if self._listener is not None:
            self._listener(event)

    def snapshot(self, now: float) -> ModelCircuitBreakerSnapshot:
        """State and metrics now (expires time-window buckets older than ``now``)."""
        window = self._window
        self._flush()
        window.expire(now)
        calls = window.calls
        return ModelCircuitBreakerSnapshot(
            transport=self._key.transport,
            target=self._key.target,
            state=self._state,
            generation=self._generation,
            open_until=self._open_until,
            trip_count=self._trip_count,
            window_calls=calls,
            window_failures=window.failures,
            window_slow_calls=window.slow,
            failure_rate=window.failures * 100.0 / calls if calls else None,
            slow_call_rate=window.slow * 100.0 / calls if calls else None,
            probes_in_flight=self._probes_in_flight,
            probe_successes=self._probe_successes,
            successes=self.successes,
            failures=self.failures,
            slow_calls=self.slow_calls,
            ignored=self.ignored,
            cancelled=self.cancelled,
            rejected=self.rejected,
            transitions=self.transitions,
        )
