"""The durable outbox and dead-letter store: a Protocol and its SQLite implementation.

A message is written (``pending``) before its first attempt; every attempt is appended to
its history; it ends ``delivered`` or ``dead`` (a dead letter, replayable). Endpoints that
answered 410 Gone are recorded as disabled. Signing secrets are never stored.

:class:`SqliteOutboxStore` uses the standard library's ``sqlite3`` in WAL mode with one
connection, owned by **one writer thread** that runs every statement in the order it was
issued. **Group commit:** the writes queued while the writer was busy (the previous
commit, its fsync) are written in one transaction, one commit, one fsync; each caller
awaits its batch's commit. The event loop never runs SQLite nor waits for the disk: it
queues a write and is woken once per batch. ``synchronous=FULL`` (the default) makes each
commit durable across a power loss (the WAL is fsynced before the commit returns);
``NORMAL`` survives a crash of the process only. SQLite's automatic WAL checkpoint is off
(it would stall the writer, and with it every caller waiting for a commit); a ``PASSIVE``
checkpoint runs on a helper thread with its own connection every ``checkpoint_every``
statements instead (checkpoints move committed pages; they do not change durability).
One process writes a file at a time: when another connection holds the write lock, the
writer waits up to ``busy_timeout_seconds`` (off the loop; the writes and reads queued
behind keep their order).

Failures are typed (``InfraUnavailableError`` with ``reason``): ``outbox_busy`` (the lock
was held past ``busy_timeout_seconds``; retryable), ``outbox_full`` (the disk, or
``max_page_count``), ``outbox_read_only``, ``outbox_error`` (anything else). A failed write
changes nothing (its transaction is rolled back; in a group commit, the batch's writes then
run one by one so that only the failing ones fail): a message whose ``add`` failed was not
accepted, and the caller is told; one whose later writes failed stays pending and is
delivered again with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraNotFoundError, InfraUnavailableError
from omnibase_infra.models.webhook import ModelWebhookAttempt, ModelWebhookDeadLetter

__all__ = [
    "MessageStatus",
    "OutboxStore",
    "SqliteOutboxStore",
    "StoredMessage",
]

logger = logging.getLogger("omnibase_infra.nodes.node_webhook_effect")

type MessageStatus = Literal["pending", "delivered", "dead"]

# SQLite's primary result codes (``sqlite3.Error.sqlite_errorname`` without extension).
_REASONS = {
    "SQLITE_BUSY": ("outbox_busy", "is locked by another connection", True),
    "SQLITE_LOCKED": ("outbox_busy", "is locked by another connection", True),
    "SQLITE_FULL": ("outbox_full", "is full (disk or max_page_count)", False),
    "SQLITE_READONLY": ("outbox_read_only", "is read-only", False),
}
type _Queued = tuple[str, tuple[object, ...], asyncio.Future[int] | None]
"""A write: its statement, parameters and the future its caller awaits (None: nobody
waits; a failure is logged)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_messages (
    message_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts TEXT NOT NULL,
    attempt_offset INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_messages_status ON webhook_messages (status, created_at);
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    url TEXT PRIMARY KEY,
    disabled_at REAL NOT NULL,
    reason TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class StoredMessage:
    """A message as the outbox holds it (exact body bytes; no secrets)."""

    message_id: str
    url: str
    event_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    status: MessageStatus = "pending"
    attempts: tuple[ModelWebhookAttempt, ...] = ()
    attempt_offset: int = 0  # attempts made before the last replay
    reason: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def attempts_since_replay(self) -> int:
        return len(self.attempts) - self.attempt_offset


@runtime_checkable
class OutboxStore(Protocol):
    """What the node needs from a durable store (SQLite here; any database will do)."""

    async def add(self, message: StoredMessage) -> bool:
        """Store a new pending message; False (unchanged) when its id is already stored."""
        ...

    async def get(self, message_id: str) -> StoredMessage | None: ...

    async def record_attempt(self, message_id: str, attempt: ModelWebhookAttempt) -> None: ...

    async def finish(
        self,
        message_id: str,
        status: Literal["delivered", "dead"],
        attempt: ModelWebhookAttempt | None,
        reason: str | None,
    ) -> None:
        """Append ``attempt`` (if any) and set the final status, in one transaction."""
        ...

    async def pending(self) -> list[StoredMessage]:
        """Every message not yet delivered nor dead, oldest first."""
        ...

    async def count(self, status: MessageStatus) -> int:
        """How many messages have ``status``."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[ModelWebhookDeadLetter]: ...

    async def replay(self, message_id: str) -> StoredMessage:
        """Move a dead letter back to pending (its history kept); raise if not dead."""
        ...

    async def disable_endpoint(self, url: str, reason: str) -> None: ...

    async def enable_endpoint(self, url: str) -> None: ...

    async def is_disabled(self, url: str) -> bool: ...

    async def close(self) -> None: ...


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _attempt_json(attempt: ModelWebhookAttempt) -> str:
    """An attempt as JSON, written by hand: its fields are plain values this node made
    (the JSON types of ``ModelWebhookAttempt.model_dump_json``, read back by it)."""
    return json.dumps(
        {
            "attempt": attempt.attempt,
            "at": attempt.at.isoformat(),
            "status_code": attempt.status_code,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
        }
    )


def _row_to_message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        message_id=row["message_id"],
        url=row["url"],
        event_type=row["event_type"],
        body=bytes(row["body"]),
        headers=json.loads(row["headers"]),
        status=row["status"],
        attempts=tuple(ModelWebhookAttempt.model_validate(a) for a in json.loads(row["attempts"])),
        attempt_offset=row["attempt_offset"],
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _commit(conn: sqlite3.Connection, batch: list[_Queued]) -> list[int | sqlite3.Error]:
    """Run a batch of queued writes as one transaction; their row counts. When a write
    fails the batch, nothing of it stays (rolled back) and each write runs again in its own
    transaction, so that only the failing ones fail (their errors in the list). A busy
    file raises before any of it runs."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        counts: list[int | sqlite3.Error] = [
            conn.execute(sql, params).rowcount for sql, params, _ in batch
        ]
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:  # SQLite may already have rolled back (a full disk)
            conn.execute("ROLLBACK")
        if len(batch) == 1:
            return [exc]
        return [_commit_one(conn, item) for item in batch]
    return counts


def _commit_one(conn: sqlite3.Connection, item: _Queued) -> int | sqlite3.Error:
    try:
        return _commit(conn, [item])[0]
    except sqlite3.Error as exc:  # busy now: this write fails, typed
        return exc


def store_error(exc: BaseException, *, path: str, operation: str) -> InfraUnavailableError:
    """What a failed outbox call means for its caller, typed (see the module docstring)."""
    name = str(getattr(exc, "sqlite_errorname", None) or type(exc).__name__)
    primary = "_".join(name.split("_")[:2])  # SQLITE_BUSY_SNAPSHOT -> SQLITE_BUSY
    reason, what, retryable = _REASONS.get(primary, ("outbox_error", f"failed ({name})", False))
    return InfraUnavailableError(
        f"the webhook outbox {what}",
        transport=EnumTransport.INTERNAL,
        operation=operation,
        target=path,
        reason=reason,
        retryable=retryable,
    )


def _closed_error(path: str, operation: str) -> InfraUnavailableError:
    return InfraUnavailableError(
        "the webhook outbox is closed",
        transport=EnumTransport.INTERNAL,
        operation=operation,
        target=path,
        reason="outbox_error",
        retryable=False,
    )


type _Outcome = tuple[asyncio.Future[Any], object, BaseException | None]
"""What the writer hands back to a future: its result, or the exception to raise."""


def _settle(outcomes: list[_Outcome]) -> None:
    """On the event loop: resolve the futures of a batch (a caller that stopped waiting,
    cancelled, is skipped; its write landed all the same)."""
    for future, result, exc in outcomes:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def _hand_back(outcomes: list[_Outcome]) -> None:
    """From the writer thread: one wake-up of each event loop per batch."""
    loop = outcomes[0][0].get_loop()
    if all(future.get_loop() is loop for future, _, _ in outcomes):
        groups = {loop: outcomes}
    else:  # futures of several loops (a store shared across asyncio.run calls)
        groups = {}
        for outcome in outcomes:
            groups.setdefault(outcome[0].get_loop(), []).append(outcome)
    for each_loop, group in groups.items():
        try:
            each_loop.call_soon_threadsafe(_settle, group)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            continue


@dataclass(slots=True)
class _Call:
    """A read (or a one-off write) run on the writer thread, in its place in the queue."""

    fn: Callable[[sqlite3.Connection], object]
    future: asyncio.Future[Any]
    operation: str


_STOP = object()


class _Writer:
    """The writer thread's state: the connection, the queue of writes and calls, the
    off-thread checkpoints. Separate from the store so that a store dropped without
    ``close()`` stops its thread (a finalizer queues the stop)."""

    def __init__(
        self, conn: sqlite3.Connection, path: str, busy_timeout: float, checkpoint_every: int
    ) -> None:
        self.conn = conn
        self.path = path
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._busy_timeout = busy_timeout
        self._checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self.checkpoint_conn: sqlite3.Connection | None = None
        self.checkpointer: ThreadPoolExecutor | None = None
        self._checkpointing: Future[None] | None = None
        if path != ":memory:":
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self.checkpointer = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="webhook-checkpoint"
            )
        self.thread = threading.Thread(target=self.run, name="webhook-outbox", daemon=True)

    def run(self) -> None:
        """Take everything queued, commit each run of consecutive writes as one
        transaction, run each call in its place; until stopped."""
        get, get_nowait = self.queue.get, self.queue.get_nowait
        stopping = False
        while not stopping:
            items = [get()]
            while True:
                try:
                    items.append(get_nowait())
                except queue.Empty:
                    break
            writes: list[_Queued] = []
            for item in items:
                if type(item) is tuple:
                    writes.append(item)
                    continue
                if writes:
                    self.commit(writes)
                    writes = []
                if isinstance(item, _Call):
                    self.call(item)
                else:
                    stopping = True
            if writes:
                self.commit(writes)
        self.conn.close()

    def commit(self, batch: list[_Queued]) -> None:
        try:
            counts: list[int | sqlite3.Error] | sqlite3.Error = _commit(self.conn, batch)
        except sqlite3.Error as exc:  # busy past busy_timeout: nothing of it ran
            counts = exc
        else:
            self.maybe_checkpoint(len(batch))
        outcomes: list[_Outcome] = []
        for index, (_, _, future) in enumerate(batch):
            result = counts if isinstance(counts, sqlite3.Error) else counts[index]
            if future is not None:
                if isinstance(result, int):
                    outcomes.append((future, result, None))
                else:
                    error = store_error(result, path=self.path, operation="write")
                    outcomes.append((future, None, error))
            elif not isinstance(result, int):
                logger.warning(
                    "webhook outbox: a delivery was not recorded (%s); the message stays pending",
                    store_error(result, path=self.path, operation="write"),
                )
        if outcomes:
            _hand_back(outcomes)

    def call(self, item: _Call) -> None:
        try:
            outcome: _Outcome = (item.future, item.fn(self.conn), None)
        except sqlite3.Error as exc:
            error = store_error(exc, path=self.path, operation=item.operation)
            error.__cause__ = exc
            outcome = (item.future, None, error)
        except Exception as exc:
            outcome = (item.future, None, exc)
        _hand_back([outcome])

    def maybe_checkpoint(self, statements: int) -> None:
        """Start a PASSIVE checkpoint on the helper thread every ``checkpoint_every``
        statements (one at a time; the writer goes on meanwhile)."""
        if self.checkpointer is None:
            return
        self._since_checkpoint += statements
        if self._since_checkpoint < self._checkpoint_every or self._checkpointing is not None:
            return
        self._since_checkpoint = 0
        self._checkpointing = self.checkpointer.submit(self._run_checkpoint)
        self._checkpointing.add_done_callback(self._checkpoint_done)

    def _run_checkpoint(self) -> None:
        self.checkpoint()

    def checkpoint(self) -> None:
        if self.checkpoint_conn is None:
            self.checkpoint_conn = sqlite3.connect(
                self.path, check_same_thread=False, timeout=self._busy_timeout
            )
        self.checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_done(self, future: Future[None]) -> None:
        self._checkpointing = None
        exc = None if future.cancelled() else future.exception()
        if exc is not None:  # retried at the next one
            logger.warning("webhook outbox checkpoint failed: %s", type(exc).__name__)


class SqliteOutboxStore:
    """:class:`OutboxStore` in one SQLite file (``:memory:`` for a non-durable one).

    ``synchronous``: ``FULL`` (default) fsyncs the WAL at every commit (a committed
    message survives a power loss); ``NORMAL`` survives a crash of the process only.
    """

    def __init__(
        self,
        path: str = ":memory:",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
        busy_timeout_seconds: float = 5.0,
        checkpoint_every: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._clock = clock
        conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_seconds
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.executescript(_SCHEMA)
        self._writer = _Writer(conn, path, busy_timeout_seconds, checkpoint_every)
        self._put = self._writer.queue.put
        self._closed = False
        self._writer.thread.start()
        weakref.finalize(self, self._writer.queue.put, _STOP)

    def __repr__(self) -> str:
        return f"SqliteOutboxStore(path={self._path!r})"

    @property
    def _conn(self) -> sqlite3.Connection:
        """The writer's connection (tests set pragmas on it while the writer is idle)."""
        return self._writer.conn

    @property
    def _checkpoint_conn(self) -> sqlite3.Connection | None:
        return self._writer.checkpoint_conn

    async def _run[T](self, fn: Callable[[sqlite3.Connection], T], operation: str) -> T:
        """Run ``fn`` on the writer thread after every write queued before it (so a read
        sees them); its failure typed."""
        if self._closed:
            raise _closed_error(self._path, operation)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._put(_Call(fn, future, operation))
        return await future

    def _write(self, sql: str, params: tuple[object, ...]) -> asyncio.Future[int]:
        """Queue one statement for the next group commit; the future resolves to its row
        count once committed (or to the typed failure)."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(_closed_error(self._path, "write"))
        else:
            self._put((sql, params, future))
        return future

    async def add(self, message: StoredMessage) -> bool:
        now = self._clock()
        count = await self._write(
            "INSERT OR IGNORE INTO webhook_messages (message_id, url, event_type, body, "
            "headers, status, attempts, attempt_offset, reason, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', '[]', 0, NULL, ?, ?)",
            (
                message.message_id,
                message.url,
                message.event_type,
                message.body,
                json.dumps(message.headers),
                now,
                now,
            ),
        )
        return count == 1

    async def get(self, message_id: str) -> StoredMessage | None:
        def op(conn: sqlite3.Connection) -> StoredMessage | None:
            row = conn.execute(
                "SELECT * FROM webhook_messages WHERE message_id = ?", (message_id,)
            ).fetchone()
            return None if row is None else _row_to_message(row)

        return await self._run(op, "get")

    async def record_attempt(self, message_id: str, attempt: ModelWebhookAttempt) -> None:
        # One statement; json_insert appends in SQL (no read-modify-write race).
        await self._write(
            "UPDATE webhook_messages SET attempts = json_insert(attempts, '$[#]', json(?)), "
            "updated_at = ? WHERE message_id = ?",
            (_attempt_json(attempt), self._clock(), message_id),
        )

    def delivered_soon(self, message_id: str, attempt: ModelWebhookAttempt) -> None:
        """Record a delivery with its successful attempt in the next group commit, without
        waiting for it (the delivery engine's fast path). A crash, or a failure of that
        commit (logged), before it lands leaves the message pending: it is delivered again,
        with the same ``webhook-id``."""
        if self._closed:  # too late to record: the message stays pending
            logger.warning(
                "webhook outbox closed: a delivery was not recorded; the message stays pending"
            )
            return
        self._put(
            (
                "UPDATE webhook_messages SET attempts = json_insert(attempts, '$[#]', json(?)), "
                "status = 'delivered', updated_at = ? WHERE message_id = ?",
                (_attempt_json(attempt), self._clock(), message_id),
                None,
            )
        )

    async def finish(
        self,
        message_id: str,
        status: Literal["delivered", "dead"],
        attempt: ModelWebhookAttempt | None,
        reason: str | None,
    ) -> None:
        now = self._clock()
        if attempt is None:
            sql = (
                "UPDATE webhook_messages SET status = ?, reason = ?, updated_at = ? "
                "WHERE message_id = ?"
            )
            params: tuple[object, ...] = (status, reason, now, message_id)
        else:
            # One statement: the attempt and the final status land together or not at all.
            sql = (
                "UPDATE webhook_messages SET attempts = json_insert(attempts, '$[#]', json(?)), "
                "status = ?, reason = ?, updated_at = ? WHERE message_id = ?"
            )
            params = (_attempt_json(attempt), status, reason, now, message_id)
        await self._write(sql, params)

    async def pending(self) -> list[StoredMessage]:
        def op(conn: sqlite3.Connection) -> list[StoredMessage]:
            rows = conn.execute(
                "SELECT * FROM webhook_messages WHERE status = 'pending' ORDER BY created_at"
            ).fetchall()
            return [_row_to_message(row) for row in rows]

        return await self._run(op, "pending")

    async def count(self, status: MessageStatus) -> int:
        """How many messages have ``status``."""

        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) FROM webhook_messages WHERE status = ?", (status,)
            ).fetchone()
            return int(row[0])

        return await self._run(op, "count")

    async def dead_letters(self, limit: int = 100) -> list[ModelWebhookDeadLetter]:
        def op(conn: sqlite3.Connection) -> list[ModelWebhookDeadLetter]:
            rows = conn.execute(
                "SELECT * FROM webhook_messages WHERE status = 'dead' "
                "ORDER BY updated_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
            letters: list[ModelWebhookDeadLetter] = []
            for row in rows:
                message = _row_to_message(row)
                letters.append(
                    ModelWebhookDeadLetter(
                        message_id=message.message_id,
                        url=message.url,
                        event_type=message.event_type,
                        reason=message.reason or "unknown",
                        created_at=_dt(message.created_at),
                        dead_lettered_at=_dt(message.updated_at),
                        attempts=message.attempts,
                        body_bytes=len(message.body),
                    )
                )
            return letters

        return await self._run(op, "dead_letters")

    async def replay(self, message_id: str) -> StoredMessage:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE webhook_messages SET status = 'pending', reason = NULL, "
                "attempt_offset = json_array_length(attempts), updated_at = ? "
                "WHERE message_id = ? AND status = 'dead'",
                (now, message_id),
            )
            return cursor.rowcount

        if await self._run(op, "replay") != 1:
            raise InfraNotFoundError(
                f"no dead letter with id {message_id!r}",
                transport=EnumTransport.HTTP,
                operation="replay",
                target=self._path,
            )
        message = await self.get(message_id)
        assert message is not None  # noqa: S101 - just updated in this store
        return message

    async def disable_endpoint(self, url: str, reason: str) -> None:
        now = self._clock()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO webhook_endpoints (url, disabled_at, reason) "
                "VALUES (?, ?, ?)",
                (url, now, reason),
            )

        await self._run(op, "disable_endpoint")

    async def enable_endpoint(self, url: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM webhook_endpoints WHERE url = ?", (url,))

        await self._run(op, "enable_endpoint")

    async def is_disabled(self, url: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT 1 FROM webhook_endpoints WHERE url = ?", (url,)).fetchone()
            return row is not None

        return await self._run(op, "is_disabled")

    async def close(self) -> None:
        """Commit what is queued, stop the writer thread, close the file; idempotent."""
        if self._closed:
            return
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._put(_Call(lambda conn: None, done, "close"))  # after every queued write
        self._put(_STOP)
        self._closed = True
        await done
        writer = self._writer
        await asyncio.to_thread(writer.thread.join)
        if writer.checkpointer is not None:
            await asyncio.to_thread(writer.checkpointer.shutdown, wait=True)
            if writer.checkpoint_conn is not None:
                writer.checkpoint_conn.close()
