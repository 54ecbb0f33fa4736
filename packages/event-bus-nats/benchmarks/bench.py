"""The bus against raw nats-py on the same nats-server, in one process, interleaved.

Run by ``nox -s "bench(event-bus-nats)"`` (``python benchmarks/bench.py --output
.bench/event-bus-nats.json`` with ``tools/`` on PYTHONPATH). The harness starts a private
``nats-server -js`` (loopback, its own store); every sample publishes to a freshly purged
stream of the same configuration (file storage, 2-minute duplicate window), 256-byte
payloads, one event loop, rounds rotating the order of the contenders
(``benchlib.interleaved_medians``).

1. **Publish throughput, pipelined** (messages/s; target 0.85x). nats-py's documented way to
   publish fast to JetStream is ``js.publish_async`` with a bounded window of pending acks
   (``publish_async_max_pending``), then ``publish_async_completed()``. The baseline does
   exactly that, window 256, sending the same message as the bus: the payload, a
   ``Nats-Msg-Id`` per message (``uuid4``: the de-duplication every bus message carries) and
   the ``Onex-Source`` header (the SPI's ``source``). Ours, in the same mode:
   ``bus.publish_many(batch)`` with ``max_pending_publishes=256`` (one runner operation for
   the batch: deadline, stall timer, breaker, span; validation; a receipt per message).
   Two informational baselines send less: only the ``Nats-Msg-Id``, and no header at all (no
   de-duplication).
2. **Publish throughput, each awaited** (messages/s; reported, no target): the SPI's
   ``publish`` awaits each message's ack through the runner (a deadline, an ack timer and a
   breaker admission per message). ``--concurrency`` tasks each publish and await in turn;
   the baseline's tasks await nats-py's ``js.publish`` (a request/reply per message) with the
   same headers.
3. **End-to-end latency** (ms, p50 and p99; reported, no target): one message at a time,
   from the publisher's call to the handler's start in the same process, through the server.
   Ours: ``bus.publish`` to a subscribed group (durable pull consumer, continuous pulls).
   Baseline: ``js.publish`` to nats-py's push subscription with a durable consumer and manual
   acks (its callback API), each message acked.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import benchlib
import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from omnibase_infra.event_bus.nats import (
    ModelNatsEventBusConfig,
    NatsEventBus,
    NatsEventMessage,
    OutgoingMessage,
)
from omnibase_infra_testing.services.nats import NatsService, start_nats

WINDOW = 256
PAYLOAD = b"x" * 256
TOPIC = "bench.orders"
TARGET = 0.85
SAME = "nats-py publish_async, the same message"


class Bench:
    """One event loop, one server, our bus and a raw nats-py connection on it."""

    def __init__(self, service: NatsService, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = asyncio.new_event_loop()
        self.config = ModelNatsEventBusConfig(
            servers=service.url,
            environment="bench",
            max_pending_publishes=WINDOW,
            publish_timeout_seconds=120.0,
            publish_ack_timeout_seconds=10.0,
        )
        self.bus = NatsEventBus(self.config)
        self.run(self.bus.connect())
        self.subject = self.bus.subject(TOPIC)
        self.source = f"{self.config.environment}.{self.config.group}"
        self.nc: Client = self.run(nats.connect(service.url))
        self.js: JetStreamContext = self.nc.jetstream(publish_async_max_pending=WINDOW)

    def run[T](self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)  # type: ignore[arg-type]

    def close(self) -> None:
        self.run(self.bus.close())
        self.run(self.nc.close())
        self.loop.close()

    def rate(self, body: Callable[[int], Awaitable[object]]) -> Callable[[], float]:
        """A contender: messages/s of one run of ``body(messages)`` on a purged stream."""
        count = self.args.messages

        def sample() -> float:
            self.run(self.js.purge_stream(self.bus.stream))
            gc.collect()
            started = time.perf_counter()
            self.run(body(count))
            return count / (time.perf_counter() - started)

        return sample

    # -- contenders ----------------------------------------------------------------------

    async def ours_batch(self, count: int) -> None:
        await self.bus.publish_many([OutgoingMessage(TOPIC, PAYLOAD) for _ in range(count)])

    def same_headers(self) -> dict[str, str]:
        """What the bus sends with a message published without headers."""
        return {"Nats-Msg-Id": str(uuid.uuid4()), "Onex-Source": self.source}

    async def raw_async_same_message(self, count: int) -> None:
        publish, headers = self.js.publish_async, self.same_headers
        for _ in range(count):
            await publish(self.subject, PAYLOAD, headers=headers())
        await self.js.publish_async_completed()

    async def raw_async_with_ids(self, count: int) -> None:
        publish = self.js.publish_async
        for _ in range(count):
            await publish(self.subject, PAYLOAD, headers={"Nats-Msg-Id": str(uuid.uuid4())})
        await self.js.publish_async_completed()

    async def raw_async_bare(self, count: int) -> None:
        publish = self.js.publish_async
        for _ in range(count):
            await publish(self.subject, PAYLOAD)
        await self.js.publish_async_completed()

    async def _tasks(self, count: int, one: Callable[[], Awaitable[object]]) -> None:
        per_task, rest = divmod(count, self.args.concurrency)

        async def worker(n: int) -> None:
            for _ in range(n):
                await one()

        await asyncio.gather(*(worker(per_task + (i < rest)) for i in range(self.args.concurrency)))

    async def ours_awaited(self, count: int) -> None:
        await self._tasks(count, lambda: self.bus.publish(TOPIC, None, PAYLOAD))

    async def raw_awaited(self, count: int) -> None:
        await self._tasks(
            count, lambda: self.js.publish(self.subject, PAYLOAD, headers=self.same_headers())
        )

    # -- latency -------------------------------------------------------------------------

    async def latency_ours(self, count: int) -> list[float]:
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def handler(message: NatsEventMessage) -> None:
            arrived.put_nowait(time.perf_counter())

        await self.js.purge_stream(self.bus.stream)
        group = f"lat{uuid.uuid4().hex[:8]}"
        unsubscribe = await self.bus.subscribe(TOPIC, group, handler)  # type: ignore[arg-type]
        try:
            return await _latencies(count, lambda: self.bus.publish(TOPIC, None, PAYLOAD), arrived)
        finally:
            await unsubscribe()
            await self.js.delete_consumer(self.bus.stream, _durable(group))

    async def latency_raw(self, count: int) -> list[float]:
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def handler(msg: Any) -> None:
            arrived.put_nowait(time.perf_counter())
            await msg.ack()

        await self.js.purge_stream(self.bus.stream)
        durable = f"raw{uuid.uuid4().hex[:8]}"
        sub = await self.js.subscribe(
            self.subject, durable=durable, stream=self.bus.stream, cb=handler, manual_ack=True
        )
        try:
            return await _latencies(
                count,
                lambda: self.js.publish(self.subject, PAYLOAD, headers=self.same_headers()),
                arrived,
            )
        finally:
            await sub.unsubscribe()
            await self.js.delete_consumer(self.bus.stream, durable)


def _durable(group: str) -> str:
    from omnibase_infra.event_bus.nats import durable_name  # noqa: PLC0415

    return durable_name(group, TOPIC)


async def _latencies(
    count: int, publish: Callable[[], Awaitable[object]], arrived: asyncio.Queue[float]
) -> list[float]:
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        await publish()
        async with asyncio.timeout(30):
            got = await arrived.get()
        samples.append((got - started) * 1000)
    return samples


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=Path(".bench/event-bus-nats.json"))
    parser.add_argument("--messages", type=int, default=4000, help="messages per sample")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-messages", type=int, default=400)
    args = parser.parse_args()
    service = start_nats()
    bench = Bench(service, args)
    try:
        # Warm up every path once (connections, consumers, the runner's first breaker sync).
        for warm in (bench.ours_batch, bench.raw_async_same_message, bench.ours_awaited):
            bench.run(warm(200))
        records = benchlib.compare(
            "publish throughput, pipelined (window 256)",
            "msg/s",
            bench.rate(bench.ours_batch),
            {
                SAME: bench.rate(bench.raw_async_same_message),
                "nats-py publish_async, Nats-Msg-Id only": bench.rate(bench.raw_async_with_ids),
                "nats-py publish_async, no header": bench.rate(bench.raw_async_bare),
            },
            higher_is_better=True,
            targets={SAME: TARGET},
            rounds=args.rounds,
        )
        records += benchlib.compare(
            f"publish throughput, each awaited ({args.concurrency} tasks)",
            "msg/s",
            bench.rate(bench.ours_awaited),
            {"nats-py js.publish, the same message": bench.rate(bench.raw_awaited)},
            higher_is_better=True,
            rounds=args.rounds,
        )
        ours_lat: list[float] = []
        raw_lat: list[float] = []
        per_round = max(1, args.latency_messages // 4)
        for round_index in range(4):  # alternate, so drift hits both alike
            order = [
                (ours_lat, bench.latency_ours),
                (raw_lat, bench.latency_raw),
            ]
            for samples, measure in order if round_index % 2 == 0 else order[::-1]:
                samples.extend(bench.run(measure(per_round)))
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            ours, raw = _percentile(ours_lat, q), _percentile(raw_lat, q)
            records += benchlib.records_from_medians(
                f"publish -> handler latency {label}",
                "ms",
                {benchlib.OURS: ours, "nats-py push consumer (durable, manual ack)": raw},
                higher_is_better=False,
            )
        print(  # noqa: T201 - the benchmark reports on stdout
            f"latency samples: ours {len(ours_lat)} (mean {statistics.fmean(ours_lat):.2f} ms),"
            f" nats-py {len(raw_lat)} (mean {statistics.fmean(raw_lat):.2f} ms)"
        )
    finally:
        bench.close()
        service.stop()
    benchlib.write_report(args.output, records)


if __name__ == "__main__":
    main()
