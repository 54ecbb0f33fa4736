"""A group member in a process of its own, for the fault tests: it joins ``group`` on
``topic``, prints ``ready``, and on a message prints ``handling <message id>`` and then works
for ever (until it is killed). Usage: ``python consumer_child.py SERVERS ENV TOPIC GROUP``."""

from __future__ import annotations

import asyncio
import sys

from omnibase_infra.event_bus.nats import ModelNatsEventBusConfig, NatsEventBus, NatsEventMessage


async def main(servers: str, environment: str, topic: str, group: str) -> None:
    bus = NatsEventBus(
        ModelNatsEventBusConfig(
            servers=servers,
            environment=environment,
            ack_wait_seconds=2.0,
            in_progress_interval_seconds=0.5,
            pull_expires_seconds=2.0,
        )
    )

    async def work(message: NatsEventMessage) -> None:
        print(f"handling {message.headers.message_id}", flush=True)  # noqa: T201 - to the parent
        await asyncio.Event().wait()  # never finishes: the parent kills this process

    await bus.subscribe(topic, group, work)  # type: ignore[arg-type]
    print("ready", flush=True)  # noqa: T201 - to the parent
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
