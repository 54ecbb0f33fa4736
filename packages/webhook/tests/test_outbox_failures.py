"""The outbox's failure paths, with real failures: another process holding the write lock
(past ``busy_timeout`` and not), a full database (``PRAGMA max_page_count``), a read-only
database. No accepted message is lost, the caller gets a typed error, and the event loop
is never stalled for longer than a bound (the worst lag is measured)."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraUnavailableError
from omnibase_infra.models.webhook import (
    EnumWebhookOutcome,
    ModelWebhookAttempt,
    ModelWebhookSendRequest,
)
from omnibase_infra.nodes.node_webhook_effect import SqliteOutboxStore, StoredMessage
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.store import _commit, _hand_back
from omnibase_infra_testing.services.receiver import WebhookReceiver

from .conftest import NodeFactory

pytestmark = pytest.mark.real_service

# Every statement runs on the outbox's writer thread: a busy file never holds the loop; the
# bound is this machine's scheduling (two cores shared by several jobs), far below any
# busy_timeout used here.
LAG_BOUND_SECONDS = 0.5
_LOCKER = (
    "import sqlite3, sys, time\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "conn.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.readline()\n"  # until the test says so (or dies)
    "conn.execute('ROLLBACK')\n"
)


class LagMonitor:
    """The worst delay of a 5 ms timer on the event loop while it runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - started - 0.005)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()


@asynccontextmanager
async def write_lock(path: str) -> AsyncIterator[None]:
    """Another process holds ``path``'s write lock until the block ends."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LOCKER,
        path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"locked\n"
        yield
    finally:
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), 30)


def _request(receiver: WebhookReceiver, secret: SecretStr, **kw: object) -> ModelWebhookSendRequest:
    return ModelWebhookSendRequest.model_validate(
        {"url": receiver.url_for("/o"), "secrets": (secret,), "payload": {"n": 1}, **kw}
    )


async def test_a_lock_held_past_busy_timeout_is_a_typed_error_and_loses_nothing(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, outbox_path: str
) -> None:
    node = make_node(store=SqliteOutboxStore(outbox_path, busy_timeout_seconds=3.0))
    before = _request(webhook_receiver, secret)
    assert (await node.send(before)).success
    refused = _request(webhook_receiver, secret)
    loop = asyncio.get_running_loop()
    async with write_lock(outbox_path):
        with LagMonitor() as lag:
            started = loop.time()
            with pytest.raises(InfraUnavailableError) as info:
                await node.send(refused)
            waited = loop.time() - started
    assert info.value.reason == "outbox_busy"
    assert info.value.retryable  # the caller may send it again
    assert waited >= 2.9  # the lock was waited for, off the loop
    assert lag.worst < LAG_BOUND_SECONDS, f"worst loop lag {lag.worst:.3f} s"
    assert len(webhook_receiver.requests) == 1  # not accepted, so not sent
    # The lock gone, the same message is accepted and delivered; nothing was lost.
    assert (await node.send(refused)).success
    assert await node.store.count("delivered") == 2
    assert await node.store.count("pending") == 0


async def test_a_lock_released_within_busy_timeout_is_waited_for_off_the_loop(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, outbox_path: str
) -> None:
    node = make_node(store=SqliteOutboxStore(outbox_path, busy_timeout_seconds=30))
    assert (await node.send(_request(webhook_receiver, secret))).success  # warm (session)
    request = _request(webhook_receiver, secret)

    lag = LagMonitor()
    async with write_lock(outbox_path):  # spawning the locker is not the store's lag
        with lag:  # while the file is busy
            sending = asyncio.create_task(node.send(request))
            await asyncio.sleep(0.5)  # the send waits for the lock meanwhile
            assert not sending.done()
            # A read meanwhile runs after the write it was issued after: it sees the message.
            count = asyncio.create_task(node.store.count("pending"))
            await asyncio.sleep(0.1)
    result = await sending
    assert await count == 1
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    assert lag.worst < LAG_BOUND_SECONDS, f"worst loop lag {lag.worst:.3f} s"
    assert (await node.send(_request(webhook_receiver, secret))).success


async def test_a_full_database_refuses_new_messages_and_keeps_the_stored_ones(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, outbox_path: str
) -> None:
    store = SqliteOutboxStore(outbox_path)
    node = make_node(store=store)
    kept = _request(webhook_receiver, secret)
    assert (await node.send(kept)).success
    # kept's delivered status is still queued: it shares its group commit with big's insert,
    # which fails; each write then runs on its own, so only big's fails.
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count={pages}")  # no room for another page
    big = _request(webhook_receiver, secret, payload={"blob": "x" * 200_000})
    with pytest.raises(InfraUnavailableError) as info:
        await node.send(big)
    assert info.value.reason == "outbox_full"
    assert not info.value.retryable
    assert len(webhook_receiver.requests) == 1  # the refused message was never sent
    stored = await node.store.get(kept.message_id)
    assert stored is not None
    assert stored.status == "delivered"
    assert await node.store.get(big.message_id) is None  # rolled back whole
    store._conn.execute("PRAGMA max_page_count=1073741823")
    assert (await node.send(big)).success


async def test_a_read_only_database_mid_delivery_keeps_the_message_pending(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, outbox_path: str
) -> None:
    # As root (CI) file permissions do not stop SQLite from writing, so the database is
    # made read-only the way SQLite itself offers: PRAGMA query_only (SQLITE_READONLY).
    store = SqliteOutboxStore(outbox_path)
    node = make_node(store=store)
    webhook_receiver.respond_with(404, times=1)
    request = _request(webhook_receiver, secret)
    message = await node._accept(request)  # stored before the first attempt
    store._conn.execute("PRAGMA query_only=1")
    with pytest.raises(InfraUnavailableError) as info:  # the dead letter cannot be written
        await node._engine.deliver(message, request, background=False)
    assert info.value.reason == "outbox_read_only"
    with pytest.raises(InfraUnavailableError, match="read-only"):
        await node.send(_request(webhook_receiver, secret))  # new messages are refused
    store._conn.execute("PRAGMA query_only=0")
    (pending,) = await node.store.pending()  # nothing was lost
    assert pending.message_id == request.message_id
    results = await make_node(
        endpoint_secrets={request.url: (secret,)}, store=SqliteOutboxStore(outbox_path)
    ).drain()
    assert [r.outcome for r in results] == [EnumWebhookOutcome.DELIVERED]
    assert {r.header("webhook-id") for r in webhook_receiver.requests} == {request.message_id}


async def test_a_failed_attempt_record_does_not_stop_the_delivery(
    make_node: NodeFactory,
    webhook_receiver: WebhookReceiver,
    secret: SecretStr,
    outbox_path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SqliteOutboxStore(outbox_path)
    node = make_node(store=store)
    webhook_receiver.respond_with(500, times=1)
    request = _request(webhook_receiver, secret)
    message = await node._accept(request)
    store._conn.execute(
        "CREATE TRIGGER refuse_history BEFORE UPDATE OF attempts ON webhook_messages "
        "WHEN NEW.status = 'pending' BEGIN SELECT RAISE(ABORT, 'no history'); END"
    )
    result = await node._engine.deliver(message, request, background=True)
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    assert "attempt 1 not recorded" in caplog.text
    stored = await node.store.get(request.message_id)
    assert stored is not None
    assert stored.status == "delivered"
    assert [a.status_code for a in stored.attempts] == [200]  # the 500 is not on record


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_store_errors_are_typed(
    outbox_path: str, synchronous: Literal["NORMAL", "FULL"]
) -> None:
    store = SqliteOutboxStore(outbox_path, synchronous=synchronous)
    await store.add(StoredMessage("msg_1", "http://x.test/h", "t", b"{}"))
    store._conn.execute("PRAGMA query_only=1")
    with pytest.raises(InfraUnavailableError) as info:
        await store.add(StoredMessage("msg_2", "http://x.test/h", "t", b"{}"))
    assert info.value.reason == "outbox_read_only"
    with pytest.raises(InfraUnavailableError, match="read-only"):
        await store.disable_endpoint("http://x.test/h", "410 Gone")
    store._conn.execute("PRAGMA query_only=0")
    store._conn.execute("DROP TABLE webhook_endpoints")
    with pytest.raises(InfraUnavailableError) as other:
        await store.is_disabled("http://x.test/h")
    assert other.value.reason == "outbox_error"
    assert [m.message_id for m in await store.pending()] == ["msg_1"]
    await store.close()


async def test_a_cancelled_writer_is_skipped_and_its_write_still_lands(outbox_path: str) -> None:
    store = SqliteOutboxStore(outbox_path)
    adding = asyncio.create_task(store.add(StoredMessage("msg_c", "http://x.test/h", "t", b"")))
    await asyncio.sleep(0)  # queued, not yet committed
    adding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await adding
    stored = await store.get("msg_c")  # committed with its batch all the same
    assert stored is not None
    await store.close()


async def test_a_failed_checkpoint_is_logged_and_retried_later(
    outbox_path: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteOutboxStore(outbox_path, checkpoint_every=1)

    def broken() -> None:
        raise OSError("no")

    monkeypatch.setattr(store._writer, "checkpoint", broken)
    await store.add(StoredMessage("msg_k", "http://x.test/h", "t", b""))
    await asyncio.sleep(0.05)
    assert "checkpoint failed: OSError" in caplog.text
    await store.close()


def test_a_write_retried_alone_fails_alone_when_another_writer_takes_the_lock(
    outbox_path: str,
) -> None:
    # A batch fails (one bad write); before its writes run again one by one, another
    # connection takes the lock: those writes fail busy, typed by the caller, none is lost
    # silently and none is applied twice.
    asyncio.run(SqliteOutboxStore(outbox_path).close())  # the schema
    ours = sqlite3.connect(outbox_path, isolation_level=None)
    ours.execute("PRAGMA busy_timeout=0")
    other = sqlite3.connect(outbox_path, isolation_level=None)
    begins = 0

    def trace(statement: str) -> None:
        nonlocal begins
        if statement == "BEGIN IMMEDIATE":
            begins += 1
            if begins == 2:  # the first retry is about to start: take the lock first
                other.execute("BEGIN IMMEDIATE")

    ours.set_trace_callback(trace)
    endpoint = "INSERT INTO webhook_endpoints (url, disabled_at, reason) VALUES (?, 0, 'x')"
    batch: list[Any] = [
        ("INSERT INTO no_such_table VALUES (1)", (), None),
        (endpoint, ("http://x.test/a",), None),
    ]
    first, second = _commit(ours, batch)
    assert isinstance(first, sqlite3.Error)
    assert isinstance(second, sqlite3.OperationalError)
    assert str(getattr(second, "sqlite_errorname", "")).startswith("SQLITE_BUSY")
    other.execute("ROLLBACK")
    assert ours.execute("SELECT COUNT(*) FROM webhook_endpoints").fetchone()[0] == 0
    ours.close()
    other.close()


async def test_a_closed_store_refuses_typed_and_a_late_status_is_logged(
    outbox_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteOutboxStore(outbox_path)
    await store.add(StoredMessage("msg_z", "http://x.test/h", "t", b"{}"))
    await store.close()
    with pytest.raises(InfraUnavailableError, match="closed") as info:
        await store.get("msg_z")
    assert info.value.reason == "outbox_error"
    with pytest.raises(InfraUnavailableError, match="closed"):
        await store.add(StoredMessage("msg_y", "http://x.test/h", "t", b"{}"))
    store.delivered_soon(
        "msg_z", ModelWebhookAttempt(attempt=1, at=datetime.now(UTC), duration_ms=1)
    )
    assert "outbox closed: a delivery was not recorded" in caplog.text
    reopened = SqliteOutboxStore(outbox_path)
    stored = await reopened.get("msg_z")
    assert stored is not None
    assert stored.status == "pending"  # delivered again later, with the same id
    await reopened.close()


async def test_a_corrupt_row_raises_as_it_is_and_the_writer_goes_on() -> None:
    store = SqliteOutboxStore()  # in memory: no checkpoints
    await store.add(StoredMessage("msg_j", "http://x.test/h", "t", b"{}"))
    store._conn.execute("UPDATE webhook_messages SET attempts = 'not json'")
    with pytest.raises(ValueError, match="Expecting value"):
        await store.get("msg_j")
    assert await store.count("pending") == 1
    await store.close()


def test_outcomes_go_back_to_each_callers_loop() -> None:
    # A store shared by event loops (in turn or in threads): each future is settled on its
    # own loop; a loop closed meanwhile is skipped.
    first, second, closed = (asyncio.new_event_loop() for _ in range(3))
    ok, failed, orphan = first.create_future(), second.create_future(), closed.create_future()
    closed.close()
    _hand_back([(ok, 1, None), (failed, None, ValueError("no")), (orphan, 3, None)])
    assert first.run_until_complete(ok) == 1
    with pytest.raises(ValueError, match="no"):
        second.run_until_complete(failed)
    first.close()
    second.close()
