"""Faults on the real server: a member killed mid-message, the server restarted mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import pytest

from omnibase_infra.errors import InfraError
from omnibase_infra.event_bus.nats import ModelNatsEventBusConfig, NatsEventBus
from omnibase_infra.events import EventHeaders
from omnibase_infra_testing.services.nats import NatsService, start_nats

from .conftest import BusFactory, Inbox, until

pytestmark = pytest.mark.real_service

CHILD = Path(__file__).with_name("consumer_child.py")


async def _line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(90):  # a loaded machine imports slowly
        line = await process.stdout.readline()
    if not line:
        stderr = await process.stderr.read() if process.stderr else b""
        pytest.fail(f"the consumer process ended early: {stderr.decode()[-2000:]}")
    return line.decode().strip()


async def test_a_member_killed_mid_message_leaves_it_to_another_member(
    nats_service: NatsService,
    environment: str,
    make_bus: BusFactory,
    make_config: Callable[..., ModelNatsEventBusConfig],
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        nats_service.url,
        environment,
        "jobs",
        "workers",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert await _line(child) == "ready"
        bus = make_bus(config=make_config(ack_wait_seconds=2.0))
        headers = EventHeaders(source="test", event_type="jobs")
        await bus.publish("jobs", None, b"the job", headers)
        assert await _line(child) == f"handling {headers.message_id}"
        # Another member joins while the first works; heartbeats keep the message with the
        # first for longer than the ack wait.
        inbox = Inbox()
        await bus.subscribe("jobs", "workers", inbox)
        await asyncio.sleep(5.0)
        assert inbox.messages == []
        child.send_signal(signal.SIGKILL)
        await child.wait()
        (message,) = await inbox.wait(1, within=20)
        assert message.headers.message_id == headers.message_id
        assert message.delivery_count == 2
        assert message.value == b"the job"
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


def _connected(bus: NatsEventBus) -> bool:
    return bus.connected  # read anew each time (the connection changes underneath)


@pytest.fixture
def restartable_nats() -> Iterator[NatsService]:
    """A server of the test's own: it is stopped and started again."""
    service = start_nats()
    yield service
    service.stop()


async def test_a_server_restart_mid_stream_loses_nothing_acknowledged(
    restartable_nats: NatsService, environment: str
) -> None:
    config = ModelNatsEventBusConfig(
        servers=restartable_nats.url,
        environment=environment,
        ack_wait_seconds=3.0,
        publish_timeout_seconds=30.0,
        publish_ack_timeout_seconds=1.0,
        publish_max_attempts=100,
        reconnect_wait_seconds=0.1,
        pull_expires_seconds=1.0,
    )
    producer, consumer = NatsEventBus(config), NatsEventBus(config)
    received: set[UUID] = set()
    acknowledged: list[UUID] = []
    failed: list[InfraError] = []

    async def handler(message: object) -> None:
        received.add(message.headers.message_id)  # type: ignore[attr-defined]

    async def publish_all(count: int) -> None:
        for index in range(count):
            headers = EventHeaders(source="test", event_type="stream")
            try:
                await producer.publish("stream", None, str(index).encode(), headers)
            except InfraError as error:  # reported, never counted as stored
                failed.append(error)
            else:
                acknowledged.append(headers.message_id)
            await asyncio.sleep(0.005)

    try:
        await consumer.subscribe("stream", "readers", handler)
        publishing = asyncio.create_task(publish_all(400))
        await until(lambda: len(acknowledged) >= 100, within=20)
        restartable_nats.stop_server()
        await asyncio.sleep(1.0)
        assert not _connected(producer)
        restartable_nats.start_server()
        await publishing
        assert len(acknowledged) == 400, failed  # publishes retried across the outage
        await until(lambda: received >= set(acknowledged), within=30)
        assert _connected(producer)
        assert _connected(consumer)
    finally:
        await producer.close()
        await consumer.close()
