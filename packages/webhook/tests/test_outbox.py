"""The SQLite outbox: store semantics, and a process killed with messages in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
import standardwebhooks
from pydantic import SecretStr

from omnibase_infra.errors import InfraNotFoundError, InfraValidationError
from omnibase_infra.models.webhook import (
    EnumWebhookOutcome,
    ModelWebhookAttempt,
    ModelWebhookSendRequest,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import (
    OutboxStore,
    SqliteOutboxStore,
    StoredMessage,
)
from omnibase_infra_testing.services.receiver import WebhookReceiver

from .conftest import NodeFactory

HERE = Path(__file__).parent


def _attempt(n: int, status: int | None) -> ModelWebhookAttempt:
    return ModelWebhookAttempt(attempt=n, at=datetime.now(UTC), status_code=status, duration_ms=1)


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_store_lifecycle(outbox_path: str, synchronous: Literal["NORMAL", "FULL"]) -> None:
    # Both on the writer thread; FULL (the default) fsyncs the WAL at every group commit.
    store = SqliteOutboxStore(outbox_path, synchronous=synchronous)
    assert isinstance(store, OutboxStore)
    message = StoredMessage("msg_a", "http://x.test/h", "t", b"{}", {"content-type": "a/b"})
    assert await store.add(message) is True
    assert await store.add(message) is False
    await store.record_attempt("msg_a", _attempt(1, 500))
    (pending,) = await store.pending()
    assert pending.attempts[0].status_code == 500
    assert pending.headers == {"content-type": "a/b"}
    with pytest.raises(InfraNotFoundError):
        await store.replay("msg_a")  # not dead
    await store.finish("msg_a", "dead", _attempt(2, 503), "gave up")
    assert await store.pending() == []
    (letter,) = await store.dead_letters()
    assert letter.reason == "gave up"
    assert letter.last_status_code == 503
    assert letter.body_bytes == 2
    replayed = await store.replay("msg_a")
    assert replayed.status == "pending"
    assert replayed.attempts_since_replay == 0
    assert await store.count("pending") == 1
    await store.finish("msg_a", "delivered", _attempt(3, 200), None)
    assert await store.count("delivered") == 1
    assert await store.get("missing") is None
    await store.disable_endpoint("http://x.test/h", "410 Gone")
    assert await store.is_disabled("http://x.test/h")
    await store.enable_endpoint("http://x.test/h")
    assert not await store.is_disabled("http://x.test/h")
    assert "outbox" in repr(store)
    await store.close()
    await store.close()

    reopened = SqliteOutboxStore(outbox_path)  # durable across instances
    stored = await reopened.get("msg_a")
    assert stored is not None
    assert [a.attempt for a in stored.attempts] == [1, 2, 3]
    await reopened.close()


async def test_checkpoints_run_off_the_loop_and_keep_every_write(outbox_path: str) -> None:
    # SQLite's auto-checkpoint is off (it would stall the writer); a helper thread
    # checkpoints instead.
    store = SqliteOutboxStore(outbox_path, checkpoint_every=10)
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for batch in range(6):
        ids = [f"msg_{batch}_{i}" for i in range(8)]
        added = await asyncio.gather(
            *(store.add(StoredMessage(m, "http://x.test/h", "t", b"x" * 4000)) for m in ids)
        )
        assert all(added)
        await asyncio.gather(*(store.finish(m, "delivered", _attempt(1, 200), None) for m in ids))
        await asyncio.sleep(0.01)  # let a started checkpoint finish
    assert store._checkpoint_conn is not None  # a checkpoint ran on the helper thread
    await store.close()
    reopened = SqliteOutboxStore(outbox_path)
    assert await reopened.count("delivered") == 48
    await reopened.close()


async def test_message_is_stored_before_the_first_attempt(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(200, delay=0.5)
    node = make_node()
    request = ModelWebhookSendRequest(
        url=webhook_receiver.url_for("/h"), secrets=(secret,), payload={"n": 1}
    )
    task = asyncio.create_task(node.send(request))
    await asyncio.to_thread(webhook_receiver.wait_for, 1)
    stored = await node.store.get(request.message_id)
    assert stored is not None
    assert stored.status == "pending"
    assert (await task).outcome is EnumWebhookOutcome.DELIVERED


async def test_resending_a_known_id_does_not_duplicate(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    node = make_node()
    request = ModelWebhookSendRequest(url=webhook_receiver.url_for("/h"), secrets=(secret,))
    assert (await node.send(request)).success
    again = await node.send(request)
    assert again.outcome is EnumWebhookOutcome.DELIVERED
    assert len(webhook_receiver.requests) == 1
    assert await node.enqueue(request) == request.message_id
    await node.wait_idle()
    assert len(webhook_receiver.requests) == 1


async def test_drain_leaves_messages_without_known_secret_pending(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, outbox_path: str
) -> None:
    store = SqliteOutboxStore(outbox_path)
    await store.add(StoredMessage("msg_orphan", webhook_receiver.url_for("/h"), "t", b"{}"))
    await store.add(StoredMessage("msg_dead", webhook_receiver.url_for("/h"), "t", b"{}"))
    await store.finish("msg_dead", "dead", None, "test")
    await store.close()
    node = make_node()
    assert await node.drain() == []
    assert webhook_receiver.requests == []
    with pytest.raises(InfraValidationError, match="no signing secret"):
        await node.replay("msg_dead")
    result = await node.replay("msg_dead", secrets=(secret,))
    assert result.outcome is EnumWebhookOutcome.DELIVERED
    replayed = await make_node(endpoint_secrets={webhook_receiver.url_for("/h"): (secret,)}).drain()
    assert [r.outcome for r in replayed] == [EnumWebhookOutcome.DELIVERED]


@pytest.mark.real_service
@pytest.mark.slow
async def test_crash_with_messages_in_flight_loses_nothing(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr, outbox_path: str
) -> None:
    count = 40
    # Slow answers keep messages in flight; a few 500s leave some mid-retry.
    webhook_receiver.respond_with(500, times=5)
    webhook_receiver.respond_with(200, delay=0.3)
    env = {**os.environ, "CRASH_TEST_SECRET": secret.get_secret_value()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "crash_sender.py"),
        outbox_path,
        webhook_receiver.url_for("/c"),
        str(count),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.strip() == b"enqueued"
        await asyncio.to_thread(webhook_receiver.wait_for, 15, 20.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == -signal.SIGKILL

    # The harness receiver's listen backlog is small: a few connections at a time.
    node = make_node(
        endpoint_secrets={webhook_receiver.url_for("/c"): (secret,)}, max_concurrency=4
    )
    before = await node.store.count("pending")
    assert before > 0  # the kill really interrupted deliveries
    webhook_receiver.respond_with(200)
    results = await node.drain()
    assert len(results) == before
    assert await node.store.count("pending") == 0
    delivered = await node.store.count("delivered")
    dead = await node.store.count("dead")
    assert delivered + dead == count

    by_id: dict[str, set[bytes]] = defaultdict(set)
    webhook = standardwebhooks.Webhook(secret.get_secret_value())
    for recorded in webhook_receiver.requests:
        webhook.verify(recorded.body, dict(recorded.headers))
        by_id[str(recorded.header("webhook-id"))].add(recorded.body)
    assert len(by_id) == count  # every message reached the receiver
    assert all(len(bodies) == 1 for bodies in by_id.values())  # duplicates share id and body
    indexes = sorted(next(iter(b)).decode() for b in by_id.values())
    assert len(set(indexes)) == count


async def test_drain_skips_messages_already_in_flight(
    make_node: NodeFactory, webhook_receiver: WebhookReceiver, secret: SecretStr
) -> None:
    webhook_receiver.respond_with(200, delay=0.5)
    node = make_node()
    request = ModelWebhookSendRequest(url=webhook_receiver.url_for("/f"), secrets=(secret,))
    await node.enqueue(request)
    await asyncio.to_thread(webhook_receiver.wait_for, 1)
    assert await node.drain() == []  # the background delivery owns it
    await node.wait_idle()
    assert len(webhook_receiver.requests) == 1
    stored = await node.store.get(request.message_id)
    assert stored is not None
    assert stored.status == "delivered"


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_a_delivered_status_lands_with_the_next_commit_and_reads_see_it(
    outbox_path: str, synchronous: Literal["NORMAL", "FULL"]
) -> None:
    # send()'s fast path queues the status without waiting; a read runs on the writer
    # thread after every write queued before it, so it sees every earlier write.
    store = SqliteOutboxStore(outbox_path, synchronous=synchronous)
    await store.add(StoredMessage("msg_s", "http://x.test/h", "t", b"{}"))
    store.delivered_soon("msg_s", _attempt(1, 200))
    stored = await store.get("msg_s")
    assert stored is not None
    assert stored.status == "delivered"
    assert [a.status_code for a in stored.attempts] == [200]
    await store.close()


async def test_a_failed_delivered_write_is_logged_and_leaves_the_message_pending(
    outbox_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteOutboxStore(outbox_path)
    await store.add(StoredMessage("msg_f", "http://x.test/h", "t", b"{}"))
    store._conn.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON webhook_messages "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    store.delivered_soon("msg_f", _attempt(1, 200))
    stored = await store.get("msg_f")  # after the group commit (which failed, rolled back)
    assert "a delivery was not recorded" in caplog.text
    assert "SQLITE_CONSTRAINT_TRIGGER" in caplog.text
    assert stored is not None
    assert stored.status == "pending"  # delivered again later, with the same id
    assert stored.attempts == ()
    await store.close()
