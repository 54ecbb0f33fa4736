"""The durable outbox and dead-letter store: a Protocol and its SQLite implementation.

A message is written (``pending``) before its first attempt; every attempt is appended to
its history; it ends ``delivered`` or ``dead`` (a dead letter, replayable). Endpoints that
answered 410 Gone are recorded as disabled. Signing secrets are never stored.

:class:`SqliteOutboxStore` uses the standard library's ``sqlite3`` in WAL mode with one
connection. Every write is one short transaction. With ``synchronous=NORMAL`` (survives a
crash of the process: the WAL is in the OS's hands once committed) a commit does not wait
for the disk, so transactions run inline on the event loop (tens of microseconds; a thread
hop per write costs more than the write). With ``FULL`` (survives power loss too) every
commit waits for an fsync, so they run on one worker thread instead (``offload``).
Inline, SQLite's automatic WAL checkpoint (which fsyncs the WAL and the database file)
would stall the event loop every ~1,000 pages; it is turned off and a ``PASSIVE``
checkpoint runs on a helper thread with its own connection every ``checkpoint_every``
statements instead (checkpoints move committed pages; they do not change durability).
One process writes a file at a time. When another connection holds the write lock, an
inline commit waits at most ``INLINE_BUSY_SECONDS`` on the loop; the batch then goes to a
helper thread that waits up to ``busy_timeout_seconds`` (writes and reads keep their order
there until it has committed), so a busy file never stalls the event loop for longer.

Failures are typed (``InfraUnavailableError`` with ``reason``): ``outbox_busy`` (the lock
was held past ``busy_timeout_seconds``; retryable), ``outbox_full`` (the disk, or
``max_page_count``), ``outbox_read_only``, ``outbox_error`` (anything else). A failed write
changes nothing (its transaction is rolled back): a message whose ``add`` failed was not
accepted, and the caller is told; one whose later writes failed stays pending and is
delivered again with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, runtime_checkable

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraError, InfraNotFoundError, InfraUnavailableError
from omnibase_infra.models.webhook import ModelWebhookAttempt, ModelWebhookDeadLetter

__all__ = [
    "INLINE_BUSY_SECONDS",
    "MessageStatus",
    "OutboxStore",
    "SqliteOutboxStore",
    "StoredMessage",
]

logger = logging.getLogger("omnibase_infra.nodes.node_webhook_effect")

type MessageStatus = Literal["pending", "delivered", "dead"]

INLINE_BUSY_SECONDS = 0.02
"""The longest an inline commit waits on the event loop for another connection's lock."""
# SQLite's primary result codes (``sqlite3.Error.sqlite_errorname`` without extension).
_REASONS = {
    "SQLITE_BUSY": ("outbox_busy", "is locked by another connection", True),
    "SQLITE_LOCKED": ("outbox_busy", "is locked by another connection", True),
    "SQLITE_FULL": ("outbox_full", "is full (disk or max_page_count)", False),
    "SQLITE_READONLY": ("outbox_read_only", "is read-only", False),
}
type _Queued = tuple[str, tuple[object, ...], asyncio.Future[int]]

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


def _log_failed_write(future: asyncio.Future[int]) -> None:
    exc = None if future.cancelled() else future.exception()
    if exc is not None:
        logger.warning(
            "webhook outbox: a delivery was not recorded (%s); the message stays pending", exc
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


def _commit_waiting(
    conn: sqlite3.Connection, batch: list[_Queued], wait: float
) -> list[int | sqlite3.Error]:
    """``_commit`` on the helper thread, waiting up to ``wait`` seconds for the lock."""
    conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
    try:
        return _commit(conn, batch)
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(INLINE_BUSY_SECONDS * 1000)}")


def _is_busy(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return isinstance(name, str) and name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


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


def _settle(
    batch: list[_Queued], outcome: list[int | sqlite3.Error] | InfraError, path: str
) -> None:
    """Resolve a batch's futures with their row counts or typed failures; a writer that
    stopped waiting (cancelled) is skipped."""
    for index, (_, _, future) in enumerate(batch):
        if future.done():
            continue
        result = outcome if isinstance(outcome, InfraError) else outcome[index]
        if isinstance(result, int):
            future.set_result(result)
        else:
            future.set_exception(
                result
                if isinstance(result, InfraError)
                else store_error(result, path=path, operation="write")
            )


class SqliteOutboxStore:
    """:class:`OutboxStore` in one SQLite file (``:memory:`` for a non-durable one)."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        offload: bool | None = None,
        busy_timeout_seconds: float = 5.0,
        checkpoint_every: int = 2000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._busy_timeout = busy_timeout_seconds
        self._clock = clock
        self._offload = synchronous == "FULL" if offload is None else offload
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-outbox")
            if self._offload
            else None
        )
        self._conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_seconds
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.executescript(_SCHEMA)
        # Inline commits hold the loop: they wait only briefly for another writer's lock,
        # then hand the batch to the helper thread (``_waiter``), which waits the rest.
        self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-wait")
        self._waiting = 0  # batches on the helper thread: writes and reads go there too
        if not self._offload:
            self._conn.execute(f"PRAGMA busy_timeout={int(INLINE_BUSY_SECONDS * 1000)}")
        self._closed = False
        self._batch: list[_Queued] = []
        self._flushes: set[asyncio.Future[list[int | sqlite3.Error]]] = set()
        # Off-loop checkpoints (inline commits on a file only; see the module docstring).
        self._checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        if not self._offload and path != ":memory:":
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="webhook-checkpoint"
            )

    def __repr__(self) -> str:
        return f"SqliteOutboxStore(path={self._path!r})"

    async def _run[T](self, fn: Callable[[sqlite3.Connection], T], operation: str) -> T:
        """Run ``fn`` on the connection (after the queued writes), its failure typed."""
        if self._batch:
            self._start_flush()  # queued writes first: a read sees every write made before it
        executor = self._executor if self._waiting == 0 else self._waiter
        try:
            if executor is None:
                return fn(self._conn)
            return await asyncio.get_running_loop().run_in_executor(executor, fn, self._conn)
        except sqlite3.Error as exc:
            raise store_error(exc, path=self._path, operation=operation) from exc

    def _write(self, sql: str, params: tuple[object, ...]) -> asyncio.Future[int]:
        """Queue one statement; writes queued in the same loop iteration share one
        transaction (group commit). The future resolves to the row count once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._batch.append((sql, params, future))
        if len(self._batch) == 1:
            loop.call_soon(self._start_flush)
        return future

    def _start_flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        if self._executor is None and self._waiting == 0:
            # Inline commits (no fsync to wait for): settle the batch now, no task per flush.
            try:
                counts = _commit(self._conn, batch)
            except sqlite3.Error as exc:
                if _is_busy(exc):
                    # Another connection holds the lock: wait for it off the loop.
                    self._submit(batch, self._waiter)
                    return
                _settle(batch, store_error(exc, path=self._path, operation="write"), self._path)
                return
            _settle(batch, counts, self._path)
            self._maybe_checkpoint(len(batch))
            return
        self._submit(batch, self._executor or self._waiter)

    def _submit(self, batch: list[_Queued], executor: ThreadPoolExecutor) -> None:
        """Commit ``batch`` on a worker thread, submitted now: batches and reads run there
        in the order they were issued."""
        if executor is self._executor:
            call = functools.partial(_commit, self._conn, batch)
        else:
            self._waiting += 1
            call = functools.partial(_commit_waiting, self._conn, batch, self._busy_timeout)
        flush = asyncio.get_running_loop().run_in_executor(executor, call)
        self._flushes.add(flush)
        flush.add_done_callback(functools.partial(self._flushed, batch, executor))

    def _flushed(
        self,
        batch: list[_Queued],
        executor: ThreadPoolExecutor,
        flush: asyncio.Future[list[int | sqlite3.Error]],
    ) -> None:
        self._flushes.discard(flush)
        if executor is not self._executor:
            self._waiting -= 1  # back to inline commits once the helper thread is idle
        exc = flush.exception()
        if exc is not None:
            _settle(batch, store_error(exc, path=self._path, operation="write"), self._path)
        else:
            _settle(batch, flush.result(), self._path)

    def _maybe_checkpoint(self, statements: int) -> None:
        """Start a PASSIVE checkpoint on the helper thread every ``checkpoint_every``
        statements (one at a time; writers go on meanwhile)."""
        if self._checkpointer is None:
            return
        self._since_checkpoint += statements
        if self._since_checkpoint < self._checkpoint_every or self._checkpointing is not None:
            return
        self._since_checkpoint = 0
        future = asyncio.get_running_loop().run_in_executor(self._checkpointer, self._checkpoint)
        self._checkpointing = future
        future.add_done_callback(self._checkpoint_done)

    def _checkpoint(self) -> None:
        if self._checkpoint_conn is None:
            self._checkpoint_conn = sqlite3.connect(
                self._path, check_same_thread=False, timeout=self._busy_timeout
            )
        self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpointing = None
        exc = None if future.cancelled() else future.exception()
        if exc is not None:  # retried at the next one
            logger.warning("webhook outbox checkpoint failed: %s", type(exc).__name__)

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
        future = self._write(
            "UPDATE webhook_messages SET attempts = json_insert(attempts, '$[#]', json(?)), "
            "status = 'delivered', updated_at = ? WHERE message_id = ?",
            (_attempt_json(attempt), self._clock(), message_id),
        )
        future.add_done_callback(_log_failed_write)

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
        """Close the file and the worker thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._start_flush()
        if self._flushes:
            await asyncio.wait(list(self._flushes))
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
            if self._checkpoint_conn is not None:
                self._checkpoint_conn.close()
        await self._run(lambda conn: conn.close(), "close")
        self._waiter.shutdown(wait=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
