"""Deadlines for many short operations: ``asyncio.timeout_at`` semantics, a timer wheel's cost.

``async with deadline_at(when): ...`` behaves like ``asyncio.timeout_at(when)``: when the
loop's clock passes ``when`` the task is cancelled, and leaving the block turns that
cancellation into ``TimeoutError`` (a cancellation by anyone else still propagates as
``CancelledError``; ``expired()`` tells which). The difference is the cost: asyncio arms a
timer per block (a handle object, a heap push compared by Python-level ``__lt__``, a heap
clean-up), which is several microseconds for an operation that takes tens. Here every
block joins a bucket of a per-loop wheel (a dict insert and delete) and the wheel keeps a
single timer armed for its earliest bucket. Deadlines fire at most one tick
(``TICK_SECONDS``, 5 ms) late: the price of infrastructure timeouts measured in seconds.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from types import TracebackType
from typing import Final, Self

__all__ = ["TICK_SECONDS", "Deadline", "deadline_at"]

TICK_SECONDS: Final = 0.005

_PENDING: Final = 0
_EXPIRING: Final = 1
_EXPIRED: Final = 2
_DONE: Final = 3


class _Wheel:
    """The buckets of one event loop: deadline tick -> the blocks waiting for it."""

    __slots__ = ("__weakref__", "_armed_tick", "_buckets", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, dict[Deadline, None]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._armed_tick = 0

    def add(self, block: Deadline) -> None:
        tick = math.ceil(block.when / TICK_SECONDS)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = {}
            if self._handle is None or tick < self._armed_tick:
                self._arm(tick)
        bucket[block] = None
        block._tick = tick

    def discard(self, block: Deadline) -> None:
        bucket = self._buckets.get(block._tick)
        if bucket is not None:
            bucket.pop(block, None)
            if not bucket:
                del self._buckets[block._tick]
                # The timer stays armed: it finds nothing due and re-arms, at most once a tick.

    def _arm(self, tick: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_tick = tick
        self._handle = self._loop.call_at(tick * TICK_SECONDS, self._fire)

    def _fire(self) -> None:
        self._handle = None
        now_tick = math.floor(self._loop.time() / TICK_SECONDS)
        due = [tick for tick in self._buckets if tick <= now_tick]
        for tick in sorted(due):
            for block in list(self._buckets.pop(tick)):
                block._expire()
        if self._buckets:
            self._arm(min(self._buckets))


_WHEELS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wheel] = weakref.WeakKeyDictionary()


# The last loop's wheel, checked before the weak dictionary (one loop runs almost every call).
_last_wheel: _Wheel | None = None


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    global _last_wheel  # noqa: PLW0603 - a one-entry cache
    wheel = _last_wheel
    if wheel is not None and wheel._loop is loop:
        return wheel
    wheel = _WHEELS.get(loop)
    if wheel is None:
        wheel = _WHEELS[loop] = _Wheel(loop)
    _last_wheel = wheel
    return wheel


class Deadline:
    """One ``async with`` block bounded by ``when`` (the loop's clock); use once."""

    __slots__ = ("_cancelling", "_state", "_task", "_tick", "_wheel", "when")

    def __init__(self, when: float) -> None:
        self.when = when
        self._state = _PENDING
        self._tick = 0

    def expired(self) -> bool:
        """Whether the deadline passed and cancelled the block."""
        return self._state in (_EXPIRING, _EXPIRED)

    async def __aenter__(self) -> Self:
        self.enter()
        return self

    def enter(self) -> None:
        """Start the block (what ``async with`` does on entry; the runner calls it directly,
        sparing two coroutines per attempt). Pair it with :meth:`leave`."""
        task = asyncio.current_task()
        if task is None:
            msg = "deadline_at() must be used inside a task"
            raise RuntimeError(msg)
        self._task = task
        self._cancelling = task.cancelling()
        loop = task.get_loop()
        self._wheel = _wheel(loop)
        if self.when <= loop.time():
            loop.call_soon(self._expire)  # already passed: cancel at the first suspension
        else:
            self._wheel.add(self)

    def _expire(self) -> None:
        if self._state == _PENDING:
            self._state = _EXPIRING
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.leave(exc_type, exc)

    def leave(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> None:
        """End the block (what ``async with`` does on exit): raises ``TimeoutError`` from
        ``exc`` when the deadline cancelled the task."""
        if self._state == _PENDING:
            self._state = _DONE  # a late wheel tick must not cancel the task any more
            self._wheel.discard(self)
            return
        self._state = _EXPIRED  # the deadline cancelled the task: absorb that cancellation
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def __repr__(self) -> str:
        return f"Deadline(when={self.when!r}, expired={self.expired()})"


def deadline_at(when: float) -> Deadline:
    """An ``async with`` block cancelled when the loop's clock passes ``when``."""
    return Deadline(when)
