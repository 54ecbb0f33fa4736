"""Sliding windows of call outcomes with O(1) updates and the rate decision.

An outcome is a small int code: bit 0 set for a failure, bit 1 set for a slow call.
Both windows keep running totals (``calls``, ``failures``, ``slow``) so a rate needs no
scan. :meth:`record` returns the verdict: ``FAILED`` when the failure rate reached its
threshold, ``SLOW`` when the slow-call rate did, 0 otherwise (and always 0 while fewer
than ``minimum_calls`` calls are in the window).
"""

from __future__ import annotations

__all__ = ["FAILED", "SLOW", "CountWindow", "TimeWindow"]

FAILED = 1
SLOW = 2


class _Window:
    __slots__ = (
        "_failure_threshold",
        "_minimum",
        "_size",
        "_slow_threshold",
        "calls",
        "failures",
        "slow",
    )

    def __init__(
        self, size: int, *, minimum_calls: int, failure_threshold: float, slow_threshold: float
    ) -> None:
        self._size = size
        self._minimum = minimum_calls
        self._failure_threshold = failure_threshold
        self._slow_threshold = slow_threshold
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def _verdict(self) -> int:
        calls = self.calls
        if calls < self._minimum:
            return 0
        if self.failures * 100.0 >= self._failure_threshold * calls:
            return FAILED
        if self.slow * 100.0 >= self._slow_threshold * calls:
            return SLOW
        return 0


class CountWindow(_Window):
    """The last ``size`` outcomes, in a ring buffer."""

    __slots__ = ("_pos", "_ring")

    def __init__(
        self, size: int, *, minimum_calls: int, failure_threshold: float, slow_threshold: float
    ) -> None:
        super().__init__(
            size,
            minimum_calls=minimum_calls,
            failure_threshold=failure_threshold,
            slow_threshold=slow_threshold,
        )
        self._ring = [0] * size
        self._pos = 0

    def record(self, code: int, now: float) -> int:
        """Add one outcome, evicting the oldest when full; returns the verdict."""
        pos = self._pos
        ring = self._ring
        old = ring[pos]
        if old != code:
            if old & FAILED:
                self.failures -= 1
            if old & SLOW:
                self.slow -= 1
            if code & FAILED:
                self.failures += 1
            if code & SLOW:
                self.slow += 1
            ring[pos] = code
        pos += 1
        self._pos = 0 if pos == self._size else pos
        if self.calls < self._size:
            self.calls += 1
        elif old == code:
            # A full window whose totals did not change: the verdict after the previous
            # outcome was 0 (the engine stops recording into a window once it trips).
            return 0
        return self._verdict()

    def add_successes(self, count: int) -> None:
        """Add ``count`` fast successes to a full window (no verdict: rates cannot rise)."""
        size = self._size
        if count >= size:
            self._ring = [0] * size
            self.failures = self.slow = 0
            self._pos = (self._pos + count) % size
            return
        ring = self._ring
        pos = self._pos
        for _ in range(count):
            old = ring[pos]
            if old:
                if old & FAILED:
                    self.failures -= 1
                if old & SLOW:
                    self.slow -= 1
                ring[pos] = 0
            pos += 1
            if pos == size:
                pos = 0
        self._pos = pos

    def expire(self, now: float) -> None:
        """Nothing expires by time in a count window."""

    def reset(self) -> None:
        """Forget every outcome."""
        self._ring = [0] * self._size
        self._pos = 0
        self.calls = self.failures = self.slow = 0


class TimeWindow(_Window):
    """Outcomes of the last ``size`` whole seconds, in one bucket per second.

    The bucket of a call is ``int(now)``; the window holds the buckets after
    ``newest - size``, where ``newest`` is the latest second seen (a clock that steps back
    records into the newest bucket).
    """

    __slots__ = ("_buckets", "_head", "_index")

    def __init__(
        self, size: int, *, minimum_calls: int, failure_threshold: float, slow_threshold: float
    ) -> None:
        super().__init__(
            size,
            minimum_calls=minimum_calls,
            failure_threshold=failure_threshold,
            slow_threshold=slow_threshold,
        )
        self._buckets = [[0, 0, 0] for _ in range(size)]  # calls, failures, slow
        self._head: int | None = None
        self._index = 0

    def record(self, code: int, now: float) -> int:
        """Add one outcome at ``now``, expiring buckets that fell out; returns the verdict."""
        second = int(now)
        if second != self._head:
            self._advance(second)
        bucket = self._buckets[self._index]
        bucket[0] += 1
        self.calls += 1
        if code:
            if code & FAILED:
                bucket[1] += 1
                self.failures += 1
            if code & SLOW:
                bucket[2] += 1
                self.slow += 1
        return self._verdict()

    def expire(self, now: float) -> None:
        """Drop the buckets that are older than the window at ``now``."""
        self._advance(int(now))

    def _advance(self, second: int) -> None:
        head = self._head
        if head is None:
            self._head = second
            self._index = second % self._size
            return
        if second <= head:
            return
        size = self._size
        buckets = self._buckets
        for step in range(1, min(second - head, size) + 1):
            bucket = buckets[(head + step) % size]
            if bucket[0]:
                self.calls -= bucket[0]
                self.failures -= bucket[1]
                self.slow -= bucket[2]
                bucket[0] = bucket[1] = bucket[2] = 0
        self._head = second
        self._index = second % size

    def reset(self) -> None:
        """Forget every outcome."""
        self._buckets = [[0, 0, 0] for _ in range(self._size)]
        self._head = None
        self._index = 0
        self.calls = self.failures = self.slow = 0
