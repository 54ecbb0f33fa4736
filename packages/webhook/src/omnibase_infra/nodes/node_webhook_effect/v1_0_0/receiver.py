"""For receivers: verify a webhook and tell a first delivery from a repeat.

Delivery is at least once with a stable ``webhook-id`` (see the node's module docs): the
same message may arrive twice, with the same id and body. :class:`DeduplicatingVerifier`
checks the signature (:class:`~.signing.WebhookVerifier`), then **claims** the id in a
seen-id store: the first claim within ``ttl_seconds`` is new, every later one a duplicate
to acknowledge (2xx) without processing again. If processing fails, :meth:`release` the id,
so that the sender's retry is processed instead of being taken for a duplicate.

The TTL must outlast the sender's retry schedule (the default Svix schedule spans about
28 hours; the default TTL is 48 hours). :class:`MemorySeenIds` keeps ids in memory (per
process, bounded); give a store of your own (:class:`SeenIds`) to share them between
processes or keep them across restarts.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from pydantic import SecretStr

from omnibase_infra.nodes.node_webhook_effect.v1_0_0.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    WebhookVerifier,
)

__all__ = [
    "DEFAULT_SEEN_TTL_SECONDS",
    "DeduplicatingVerifier",
    "MemorySeenIds",
    "SeenIds",
    "VerifiedWebhook",
]

DEFAULT_SEEN_TTL_SECONDS: Final = 48 * 3600.0
DEFAULT_MAX_SEEN: Final = 100_000


@runtime_checkable
class SeenIds(Protocol):
    """Where a receiver keeps the ``webhook-id``s it has claimed."""

    def claim(self, message_id: str, now: float) -> bool:
        """Record ``message_id`` as seen at ``now``; False when it already was (and has not
        expired)."""
        ...

    def release(self, message_id: str) -> None:
        """Forget ``message_id`` (its processing failed: the next delivery is new)."""
        ...


class MemorySeenIds:
    """:class:`SeenIds` in memory: ids expire ``ttl_seconds`` after their claim; beyond
    ``max_entries`` the oldest are forgotten first (a forgotten id that arrives again is
    processed again: at least once still holds)."""

    def __init__(
        self, ttl_seconds: float = DEFAULT_SEEN_TTL_SECONDS, max_entries: int = DEFAULT_MAX_SEEN
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1:
            raise ValueError("ttl_seconds must be > 0 and max_entries >= 1")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._expiry: OrderedDict[str, float] = OrderedDict()  # in claim order

    def __len__(self) -> int:
        return len(self._expiry)

    def claim(self, message_id: str, now: float) -> bool:
        expiry = self._expiry
        while expiry:  # claims are in time order: the expired ones are at the front
            oldest, until = next(iter(expiry.items()))
            if until > now:
                break
            del expiry[oldest]
        if message_id in expiry:
            return False
        expiry[message_id] = now + self._ttl
        if len(expiry) > self._max:
            expiry.popitem(last=False)
        return True

    def release(self, message_id: str) -> None:
        self._expiry.pop(message_id, None)


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A request whose signature checked: its ``webhook-id`` and whether it was seen."""

    message_id: str
    duplicate: bool


class DeduplicatingVerifier:
    """Signature check plus a seen-id store (see the module docstring)."""

    def __init__(
        self,
        secrets: Iterable[SecretStr | str],
        *,
        seen: SeenIds | None = None,
        ttl_seconds: float = DEFAULT_SEEN_TTL_SECONDS,
        tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = WebhookVerifier(secrets, tolerance_seconds=tolerance_seconds, clock=clock)
        self._seen: SeenIds = seen if seen is not None else MemorySeenIds(ttl_seconds)
        self._clock = clock

    def __repr__(self) -> str:
        return f"DeduplicatingVerifier({self._verifier!r})"

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedWebhook:
        """Check the signature (raising as :meth:`WebhookVerifier.verify` does: a forged
        request never claims an id), then claim the id."""
        message_id = self._verifier.verify(headers, body)
        return VerifiedWebhook(message_id, not self._seen.claim(message_id, self._clock()))

    def release(self, message_id: str) -> None:
        """Processing of ``message_id`` failed: its next delivery is processed."""
        self._seen.release(message_id)
