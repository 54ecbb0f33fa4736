"""A breaker store in Redis, so the replicas of a service share one breaker per target.

Each breaker has two keys sharing one Redis Cluster hash tag:

* ``<prefix>:{<transport>:<target>}``: a hash with the shared record (state, version,
  open_until, trip_count, updated_at, reason);
* ``<prefix>:{<transport>:<target>}:probes``: a sorted set of half-open probe permits scored
  by their lease expiry, dropped whenever a new record version is written.

Compare-and-set and probe acquisition are Lua scripts, so each is atomic against every
other client of the server. A permit's lease expires on its own (score pruned on the next
acquisition, and the set itself carries a Redis TTL), so a crashed replica cannot hold one
forever. Targets are stripped of any ``user:password@`` before they become part of a key.
Every call has a deadline; failures are the taxonomy's errors (transport ``redis``).
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, Self, cast
from urllib.parse import quote, unquote

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis import exceptions as redis_errors

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConnectionError,
    InfraError,
    InfraPermissionError,
    InfraProtocolError,
    InfraTimeoutError,
    InfraValidationError,
)
from omnibase_infra.redaction import strip_userinfo
from omnibase_infra.resilience.breaker import (
    BreakerKey,
    BreakerStoreRecord,
    EnumCircuitState,
)

__all__ = ["DEFAULT_PREFIX", "RedisBreakerStore"]

DEFAULT_PREFIX = "omnibase_infra:breaker"
_FIELDS = ("state", "version", "open_until", "trip_count", "updated_at", "reason")
# Characters kept as they are in the key; braces (hash tags), '%', whitespace and
# non-ASCII are percent-encoded so any target maps to exactly one key and back.
_KEY_SAFE = "!#$&'()*+,/:;=?@[]~"

# KEYS: record, probes. ARGV: expected version, new version, state, open_until ("" = none),
# trip_count, updated_at, reason, record ttl ms (0 = none).
_CAS = """
local current = redis.call('HGET', KEYS[1], 'version')
if (tonumber(current) or 0) ~= tonumber(ARGV[1]) then
  if current then
    return {0, redis.call('HMGET', KEYS[1], 'state', 'version', 'open_until',
                          'trip_count', 'updated_at', 'reason')}
  end
  return {0}
end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'version', ARGV[2], 'open_until', ARGV[4],
           'trip_count', ARGV[5], 'updated_at', ARGV[6], 'reason', ARGV[7])
redis.call('DEL', KEYS[2])
if tonumber(ARGV[8]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
end
return {1}
"""

# KEYS: record, probes. ARGV: version, max probes, now, lease expiry, token, lease ms.
_ACQUIRE = """
local record = redis.call('HMGET', KEYS[1], 'version', 'state')
if record[1] ~= ARGV[1] or record[2] ~= 'half_open' then
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[6]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return 1
"""


def _pending[T](reply: Awaitable[T] | T) -> Awaitable[T]:
    """redis-py types its commands for both clients; on ``redis.asyncio`` they are awaitable."""
    return cast("Awaitable[T]", reply)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _float_arg(value: float) -> str:
    return repr(float(value))  # round-trips exactly


class RedisBreakerStore:
    """A :class:`~omnibase_infra.resilience.breaker.ProtocolBreakerStore` on Redis.

    Pass a ``redis.asyncio.Redis`` client (the caller closes it) or use :meth:`from_url`
    (the store owns the client; close it with :meth:`aclose` or ``async with``).
    ``timeout_seconds`` bounds every operation; ``record_ttl_seconds`` (optional) lets the
    records of breakers that are no longer written expire; ``server`` names the server in
    errors (default: the client's host:port).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_seconds: float = 0.25,
        record_ttl_seconds: float | None = None,
        server: str | None = None,
    ) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise InfraValidationError(
                "the key prefix must be non-empty and free of '{' and '}'",
                transport=EnumTransport.REDIS,
                operation="breaker_store_init",
            )
        if timeout_seconds <= 0 or (record_ttl_seconds is not None and record_ttl_seconds <= 0):
            raise InfraValidationError(
                "timeout_seconds and record_ttl_seconds must be positive",
                transport=EnumTransport.REDIS,
                operation="breaker_store_init",
            )
        self._client = client
        self._prefix = prefix
        self._timeout = timeout_seconds
        self._record_ttl_ms = (
            0 if record_ttl_seconds is None else math.ceil(record_ttl_seconds * 1000)
        )
        self._server = strip_userinfo(server) if server else _describe(client)
        self._owns_client = False
        self._cas = client.register_script(_CAS)
        self._acquire = client.register_script(_ACQUIRE)

    @classmethod
    def from_url(
        cls,
        url: SecretStr | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_seconds: float = 0.25,
        record_ttl_seconds: float | None = None,
    ) -> Self:
        """A store with its own client for ``url`` (``redis://[:password@]host:port/db``)."""
        raw = url.get_secret_value() if isinstance(url, SecretStr) else url
        try:
            client = aioredis.Redis.from_url(
                raw, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
            )
        except ValueError:
            # The URL may hold a password: neither it nor the parser's message is repeated.
            raise InfraValidationError(
                "invalid Redis URL (expected redis://, rediss:// or unix://)",
                transport=EnumTransport.REDIS,
                operation="breaker_store_init",
            ) from None
        store = cls(
            client,
            prefix=prefix,
            timeout_seconds=timeout_seconds,
            record_ttl_seconds=record_ttl_seconds,
        )
        store._owns_client = True
        return store

    @property
    def server(self) -> str:
        """The Redis server as ``host:port`` (never with credentials)."""
        return self._server

    def __repr__(self) -> str:
        return f"RedisBreakerStore(server={self._server!r}, prefix={self._prefix!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client if the store created it (:meth:`from_url`)."""
        if self._owns_client:
            await self._client.aclose()

    # --- keys -------------------------------------------------------------------------

    def record_key(self, key: BreakerKey) -> str:
        """The Redis key of ``key``'s record (the target without credentials)."""
        target = quote(strip_userinfo(key.target), safe=_KEY_SAFE)
        return f"{self._prefix}:{{{key.transport.value}:{target}}}"

    def _probes_key(self, record_key: str) -> str:
        return f"{record_key}:probes"

    def parse_key(self, redis_key: str) -> BreakerKey | None:
        """The breaker a record key belongs to (None for any other key)."""
        head = f"{self._prefix}:{{"
        if not (redis_key.startswith(head) and redis_key.endswith("}")):
            return None
        transport, sep, target = redis_key[len(head) : -1].partition(":")
        try:
            return BreakerKey(EnumTransport(transport), unquote(target)) if sep else None
        except ValueError:
            return None

    # --- the protocol -------------------------------------------------------------------

    async def load(self, key: BreakerKey) -> BreakerStoreRecord | None:
        """The stored record, or None when nothing was written for ``key``."""
        fields = await self._run(
            "breaker_store_load", _pending(self._client.hmget(self.record_key(key), list(_FIELDS)))
        )
        return self._record(fields)

    async def compare_and_set(
        self, key: BreakerKey, expected_version: int, record: BreakerStoreRecord
    ) -> tuple[bool, BreakerStoreRecord | None]:
        """Store ``record`` iff the stored version is ``expected_version`` (0: absent)."""
        if record.version != expected_version + 1:
            raise InfraValidationError(
                f"record version {record.version} must be expected_version + 1",
                transport=EnumTransport.REDIS,
                operation="breaker_store_cas",
                target=self._server,
            )
        record_key = self.record_key(key)
        args: list[str | int] = [
            expected_version,
            record.version,
            record.state.value,
            "" if record.open_until is None else _float_arg(record.open_until),
            record.trip_count,
            _float_arg(record.updated_at),
            record.reason,
            self._record_ttl_ms,
        ]
        reply = await self._run(
            "breaker_store_cas",
            self._cas(keys=[record_key, self._probes_key(record_key)], args=args),
        )
        if int(reply[0]) == 1:
            return True, record
        return False, self._record(reply[1]) if len(reply) > 1 else None

    async def try_acquire_probe(
        self,
        key: BreakerKey,
        *,
        version: int,
        max_probes: int,
        now: float,
        lease_seconds: float,
    ) -> str | None:
        """A probe permit while ``version`` is the stored half-open record and one is free."""
        record_key = self.record_key(key)
        token = f"{version}:{secrets.token_hex(8)}"
        lease_ms = max(1, math.ceil(lease_seconds * 1000))
        args: list[str | int] = [
            version,
            max_probes,
            _float_arg(now),
            _float_arg(now + lease_seconds),
            token,
            lease_ms,
        ]
        granted = await self._run(
            "breaker_store_acquire_probe",
            self._acquire(keys=[record_key, self._probes_key(record_key)], args=args),
        )
        return token if int(granted) == 1 else None

    async def release_probe(self, key: BreakerKey, token: str) -> None:
        """Give a permit back; unknown or expired tokens are ignored."""
        probes = self._probes_key(self.record_key(key))
        await self._run("breaker_store_release_probe", _pending(self._client.zrem(probes, token)))

    # --- inspection (CLI, operators) ------------------------------------------------------

    async def probes_held(self, key: BreakerKey, *, now: float) -> int:
        """Unexpired probe permits held for ``key`` at ``now`` (epoch seconds)."""
        probes = self._probes_key(self.record_key(key))
        count = await self._run(
            "breaker_store_probes",
            _pending(self._client.zcount(probes, f"({_float_arg(now)}", "+inf")),
        )
        return int(count)

    async def keys(self) -> list[BreakerKey]:
        """Every breaker with a record under this store's prefix, sorted."""
        found = await self._run("breaker_store_scan", self._scan())
        return sorted(found, key=str)

    async def _scan(self) -> list[BreakerKey]:
        found: list[BreakerKey] = []
        pattern = f"{_glob_escape(self._prefix)}:{{*}}"
        cursor: AsyncIterator[Any] = self._client.scan_iter(match=pattern)
        async for raw in cursor:
            key = self.parse_key(_text(raw))
            if key is not None:
                found.append(key)
        return found

    # --- helpers --------------------------------------------------------------------------

    def _record(self, fields: Sequence[object] | None) -> BreakerStoreRecord | None:
        if not fields or fields[1] is None:
            return None
        state, version, open_until, trip_count, updated_at, reason = (
            None if value is None else _text(value) for value in fields
        )
        try:
            return BreakerStoreRecord(
                state=EnumCircuitState(state or ""),
                version=int(version or 0),
                open_until=float(open_until) if open_until else None,
                trip_count=int(trip_count or 0),
                updated_at=float(updated_at or 0.0),
                reason=reason or "",
            )
        except ValueError as exc:
            raise InfraProtocolError(
                "malformed breaker record in Redis",
                transport=EnumTransport.REDIS,
                operation="breaker_store_load",
                target=self._server,
            ) from exc

    async def _run[T](self, operation: str, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except TimeoutError as exc:
            raise InfraTimeoutError(
                f"Redis did not answer within {self._timeout:g} s",
                transport=EnumTransport.REDIS,
                operation=operation,
                target=self._server,
                timeout_seconds=self._timeout,
            ) from exc
        except redis_errors.RedisError as exc:
            raise self._translate(exc, operation) from exc

    def _translate(self, exc: redis_errors.RedisError, operation: str) -> InfraError:
        common: dict[str, Any] = {
            "transport": EnumTransport.REDIS,
            "operation": operation,
            "target": self._server,
        }
        name = type(exc).__name__
        if isinstance(exc, redis_errors.AuthenticationError):
            return InfraAuthenticationError(f"Redis refused the credentials ({name})", **common)
        if isinstance(exc, redis_errors.NoPermissionError):
            return InfraPermissionError(f"the Redis user may not run this ({name})", **common)
        if isinstance(exc, redis_errors.TimeoutError):  # the client's own socket timeout
            timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout")
            return InfraTimeoutError(
                f"Redis timed out ({name})",
                timeout_seconds=float(timeout or self._timeout),
                **common,
            )
        if isinstance(exc, redis_errors.ConnectionError):  # BusyLoadingError included
            return InfraConnectionError(f"cannot reach Redis ({name}): {exc}", **common)
        # ResponseError (WRONGTYPE, script errors), InvalidResponse, DataError, ...
        return InfraProtocolError(f"Redis rejected the command ({name}): {exc}", **common)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in text)


def _describe(client: aioredis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
