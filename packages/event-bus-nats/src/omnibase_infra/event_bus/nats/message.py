"""A delivered message (SPI ``ProtocolEventMessage``) and a publish's receipt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from omnibase_spi.protocols.event_bus import ProtocolEventBusHeaders
from omnibase_spi.protocols.types.protocol_event_bus_types import ProtocolEventHeaders

from nats.aio.msg import Msg
from omnibase_infra.event_bus.nats.error_map import nats_error

__all__ = ["NatsEventMessage", "OutgoingMessage", "PublishReceipt"]

type Settlement = Literal["ack", "nak", "term"]


class PublishReceipt(NamedTuple):
    """What JetStream answered to one publish: where the message is stored, and whether it
    was a duplicate of a message id already stored within the duplicate window (then
    ``sequence`` is the first copy's and nothing new was stored)."""

    stream: str
    sequence: int
    duplicate: bool


class OutgoingMessage(NamedTuple):
    """One message of :meth:`NatsEventBus.publish_many` (a tuple: cheap to make by the
    thousand)."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: ProtocolEventBusHeaders | None = None


@dataclass(slots=True, kw_only=True, eq=False)
class NatsEventMessage:
    """One delivery of a message to a consumer group's member.

    ``offset`` is the message's stream sequence (as a string), the same for every delivery
    of it; ``delivery_count`` counts deliveries (above 1: a redelivery). There are no
    partitions (``partition`` is ``None``). Settle it once with :meth:`ack` (processed),
    :meth:`nak` (redeliver, optionally after a delay) or :meth:`term` (never redeliver);
    later calls change nothing. :meth:`in_progress` resets the server's ack timer (the bus
    does that on its own while the handler runs).
    """

    topic: str
    key: bytes | None
    value: bytes
    headers: ProtocolEventHeaders
    """An ``EventHeaders`` (typed as the SPI's protocol, which the message must satisfy)."""
    offset: str | None
    partition: int | None = None
    subject: str
    stream: str
    group: str
    delivery_count: int
    target: str = field(repr=False)
    _msg: Msg = field(repr=False)
    _settled: Settlement | None = field(default=None, repr=False)

    @property
    def acked(self) -> bool:
        """Whether :meth:`ack` was called on this delivery."""
        return self._settled == "ack"

    @property
    def settled(self) -> Settlement | None:
        """How this delivery was settled (``None``: not yet)."""
        return self._settled

    async def ack(self) -> None:
        """Acknowledge: the group will not be delivered this message again."""
        await self._settle("ack")

    async def nak(self, delay_seconds: float | None = None) -> None:
        """Ask for redelivery (to any member of the group), after ``delay_seconds``."""
        await self._settle("nak", delay_seconds)

    async def term(self) -> None:
        """Stop redelivering this message to the group (it stays in the stream)."""
        await self._settle("term")

    async def in_progress(self) -> None:
        """Tell the server the handler is still working: the ack wait starts again."""
        if self._settled is not None:
            return
        try:
            await self._msg.in_progress()
        except Exception as exc:
            raise self._error(exc, "in_progress") from exc

    async def _settle(self, how: Settlement, delay: float | None = None) -> None:
        if self._settled is not None:
            return
        try:
            if how == "ack":
                await self._msg.ack()
            elif how == "nak":
                await self._msg.nak(delay=delay)
            else:
                await self._msg.term()
        except Exception as exc:
            raise self._error(exc, how) from exc
        self._settled = how

    def _error(self, exc: Exception, operation: str) -> Exception:
        return nats_error(
            exc,
            operation=operation,
            target=self.target,
            correlation_id=self.headers.correlation_id,
        )
