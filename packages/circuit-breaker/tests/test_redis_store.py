"""RedisBreakerStore against the real Redis of the harness: the store protocol, atomicity
across clients, probe leases, key namespacing and error translation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import cast

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from redis import exceptions as redis_errors

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConnectionError,
    InfraPermissionError,
    InfraProtocolError,
    InfraTimeoutError,
    InfraValidationError,
)
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0 import RedisBreakerStore
from omnibase_infra.resilience.breaker import (
    BreakerKey,
    BreakerStoreRecord,
    EnumCircuitState,
    ProtocolBreakerStore,
)
from omnibase_infra_testing.process import LOOPBACK, free_port
from omnibase_infra_testing.services.redis import RedisService

pytestmark = pytest.mark.real_service

KEY = BreakerKey(EnumTransport.POSTGRES, "db.internal:5432")
NOW = 1_750_000_000.125


def _record(version: int, state: EnumCircuitState = EnumCircuitState.OPEN) -> BreakerStoreRecord:
    return BreakerStoreRecord(
        state=state,
        version=version,
        open_until=NOW + 30.5 if state is EnumCircuitState.OPEN else None,
        trip_count=version,
        updated_at=NOW + version / 3,
        reason="failure_rate",
    )


async def _acquire(
    store: RedisBreakerStore,
    version: int,
    *,
    max_probes: int = 1,
    now: float = NOW,
    lease: float = 5.0,
) -> str | None:
    return await store.try_acquire_probe(
        KEY, version=version, max_probes=max_probes, now=now, lease_seconds=lease
    )


async def _pttl(client: aioredis.Redis, key: str) -> int:
    reply: Awaitable[int] | int = client.pttl(key)  # redis-py types both clients at once
    return await cast("Awaitable[int]", reply)


async def _half_open(store: RedisBreakerStore, key: BreakerKey = KEY) -> int:
    assert (await store.compare_and_set(key, 0, _record(1, EnumCircuitState.HALF_OPEN)))[0]
    return 1


@pytest.fixture
async def second_store(
    redis_service: RedisService, prefix: str
) -> AsyncIterator[RedisBreakerStore]:
    """Another replica: its own client and connection pool, the same server and prefix."""
    async with RedisBreakerStore.from_url(
        SecretStr(redis_service.url), prefix=prefix, timeout_seconds=2.0
    ) as other:
        yield other


async def test_satisfies_the_protocol(store: RedisBreakerStore) -> None:
    assert isinstance(store, ProtocolBreakerStore)


async def test_load_absent_then_round_trip(store: RedisBreakerStore) -> None:
    assert await store.load(KEY) is None
    first = _record(1)
    assert await store.compare_and_set(KEY, 0, first) == (True, first)
    assert await store.load(KEY) == first  # floats, enum and reason survive exactly
    closed = _record(2, EnumCircuitState.CLOSED)
    assert await store.compare_and_set(KEY, 1, closed) == (True, closed)
    loaded = await store.load(KEY)
    assert loaded == closed
    assert loaded is not None
    assert loaded.open_until is None


async def test_stale_version_loses_and_sees_the_winner(
    store: RedisBreakerStore, second_store: RedisBreakerStore
) -> None:
    winner = _record(1)
    assert (await store.compare_and_set(KEY, 0, winner))[0]
    applied, current = await second_store.compare_and_set(
        KEY, 0, _record(1, EnumCircuitState.FORCED_OPEN)
    )
    assert not applied
    assert current == winner
    applied, current = await second_store.compare_and_set(KEY, 4, _record(5))
    assert (applied, current) == (False, winner)


async def test_expected_version_on_absent_record(store: RedisBreakerStore) -> None:
    assert await store.compare_and_set(KEY, 2, _record(3)) == (False, None)
    assert await store.load(KEY) is None


async def test_version_must_follow_expected(store: RedisBreakerStore) -> None:
    with pytest.raises(InfraValidationError, match="expected_version"):
        await store.compare_and_set(KEY, 0, _record(2))


async def test_cas_is_atomic_across_clients(
    store: RedisBreakerStore, second_store: RedisBreakerStore
) -> None:
    assert (await store.compare_and_set(KEY, 0, _record(1)))[0]
    attempts = [
        (store if i % 2 else second_store).compare_and_set(
            KEY, 1, _record(2, EnumCircuitState.HALF_OPEN)
        )
        for i in range(20)
    ]
    results = await asyncio.gather(*attempts)
    assert sum(applied for applied, _ in results) == 1
    assert all(current is not None and current.version == 2 for _, current in results)


async def test_probe_needs_the_half_open_version(store: RedisBreakerStore) -> None:
    assert await _acquire(store, 1) is None  # nothing stored
    assert (await store.compare_and_set(KEY, 0, _record(1)))[0]
    assert await _acquire(store, 1) is None  # open
    assert (await store.compare_and_set(KEY, 1, _record(2, EnumCircuitState.HALF_OPEN)))[0]
    assert await _acquire(store, 1) is None  # old version
    assert await _acquire(store, 2) is not None


async def test_probe_permits_are_bounded_and_released(store: RedisBreakerStore) -> None:
    version = await _half_open(store)
    first = await _acquire(store, version, max_probes=2)
    second = await _acquire(store, version, max_probes=2)
    assert first is not None
    assert second is not None
    assert first != second
    assert await _acquire(store, version, max_probes=2) is None
    assert await store.probes_held(KEY, now=NOW) == 2
    await store.release_probe(KEY, first)
    await store.release_probe(KEY, first)  # idempotent
    await store.release_probe(KEY, "1:unknown")
    third = await _acquire(store, version, max_probes=2)
    assert third is not None
    assert await _acquire(store, version, max_probes=2) is None


async def test_probe_permits_are_counted_atomically_across_clients(
    store: RedisBreakerStore, second_store: RedisBreakerStore
) -> None:
    version = await _half_open(store)
    attempts = [
        (store if i % 2 else second_store).try_acquire_probe(
            KEY, version=version, max_probes=3, now=NOW, lease_seconds=5.0
        )
        for i in range(30)
    ]
    tokens = await asyncio.gather(*attempts)
    granted = [t for t in tokens if t is not None]
    assert len(granted) == 3
    assert len(set(granted)) == 3


async def test_a_dead_holders_permit_expires(
    store: RedisBreakerStore, redis_client: aioredis.Redis
) -> None:
    version = await _half_open(store)
    held = await store.try_acquire_probe(
        KEY, version=version, max_probes=1, now=NOW, lease_seconds=2.0
    )
    assert held is not None  # ... and its replica dies without releasing it
    assert await _acquire(store, version, now=NOW + 1.999, lease=2.0) is None
    assert await store.probes_held(KEY, now=NOW + 2.0) == 0
    assert await _acquire(store, version, now=NOW + 2.0, lease=2.0) is not None
    # The permit set also expires by itself in Redis, even if nobody asks again.
    ttl = await _pttl(redis_client, store.record_key(KEY) + ":probes")
    assert 0 < ttl <= 2000


async def test_a_new_version_drops_older_permits(store: RedisBreakerStore) -> None:
    version = await _half_open(store)
    assert await _acquire(store, version, lease=60.0) is not None
    assert (await store.compare_and_set(KEY, 1, _record(2, EnumCircuitState.OPEN)))[0]
    assert (await store.compare_and_set(KEY, 2, _record(3, EnumCircuitState.HALF_OPEN)))[0]
    assert await store.probes_held(KEY, now=NOW) == 0
    assert await _acquire(store, 3, lease=60.0) is not None


async def test_keys_are_namespaced_and_free_of_credentials(
    store: RedisBreakerStore, redis_client: aioredis.Redis, prefix: str
) -> None:
    secret_key = BreakerKey(EnumTransport.HTTP, "svc:hunter2@hooks.example:443")
    odd_key = BreakerKey(EnumTransport.CONSUL, "a {tag} with spaces/%")
    for key in (secret_key, odd_key, KEY):
        assert (await store.compare_and_set(key, 0, _record(1)))[0]
    await redis_client.set(f"{prefix}:unrelated", b"x")
    await redis_client.set(f"{prefix}:{{bogus:x}}", b"x")  # not a transport
    raw = [k.decode() async for k in redis_client.scan_iter(match=f"{prefix}:*")]
    assert all(k.startswith(f"{prefix}:") for k in raw)
    assert not any("hunter2" in k for k in raw)
    assert store.record_key(secret_key) == f"{prefix}:{{http:hooks.example:443}}"
    assert await store.keys() == sorted(
        [BreakerKey(EnumTransport.HTTP, "hooks.example:443"), odd_key, KEY], key=str
    )
    assert store.parse_key(store.record_key(odd_key)) == odd_key
    assert store.parse_key("other:{postgres:db}") is None
    assert store.parse_key(f"{prefix}:{{postgres}}") is None
    # The same breaker, asked for with or without credentials, is one record.
    assert await store.load(BreakerKey(EnumTransport.HTTP, "hooks.example:443")) == _record(1)


async def test_record_ttl(redis_client: aioredis.Redis, prefix: str) -> None:
    store = RedisBreakerStore(redis_client, prefix=prefix, record_ttl_seconds=60)
    assert (await store.compare_and_set(KEY, 0, _record(1)))[0]
    assert 0 < await _pttl(redis_client, store.record_key(KEY)) <= 60_000
    persistent = RedisBreakerStore(redis_client, prefix=prefix + ":p")
    assert (await persistent.compare_and_set(KEY, 0, _record(1)))[0]
    assert await _pttl(redis_client, persistent.record_key(KEY)) == -1
    await redis_client.delete(persistent.record_key(KEY))


async def test_malformed_records_are_protocol_errors(
    store: RedisBreakerStore, redis_client: aioredis.Redis
) -> None:
    malformed = {"state": "bogus", "version": "1"}
    await cast("Awaitable[int]", redis_client.hset(store.record_key(KEY), mapping=malformed))
    with pytest.raises(InfraProtocolError, match="malformed") as caught:
        await store.load(KEY)
    assert caught.value.transport is EnumTransport.REDIS
    await redis_client.delete(store.record_key(KEY))
    await redis_client.set(store.record_key(KEY), b"not a hash")
    with pytest.raises(InfraProtocolError, match="WRONGTYPE"):
        await store.load(KEY)


async def test_unreachable_server_is_a_connection_error() -> None:
    port = free_port()
    async with RedisBreakerStore.from_url(f"redis://{LOOPBACK}:{port}/0") as dead:
        with pytest.raises(InfraConnectionError) as caught:
            await dead.load(KEY)
    error = caught.value
    assert error.transport is EnumTransport.REDIS
    assert error.operation == "breaker_store_load"
    assert error.target == f"{LOOPBACK}:{port}"
    assert error.retryable


async def test_a_silent_server_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(swallow, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(host=LOOPBACK, port=port)  # no socket timeout of its own
    store = RedisBreakerStore(client, timeout_seconds=0.05)
    try:
        with pytest.raises(InfraTimeoutError) as caught:
            await store.compare_and_set(KEY, 0, _record(1))
    finally:
        await client.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert caught.value.operation == "breaker_store_cas"
    assert caught.value.target == f"{LOOPBACK}:{port}"


async def test_wrong_password_is_an_authentication_error(
    redis_service: RedisService, redis_client: aioredis.Redis
) -> None:
    user = f"omnibase-test-{uuid.uuid4().hex[:8]}"
    await redis_client.acl_setuser(
        user, enabled=True, passwords=["+right-pass"], keys=["*"], commands=["+@all"]
    )
    url = f"redis://{user}:wrong-pass@{redis_service.host}:{redis_service.port}/0"
    try:
        async with RedisBreakerStore.from_url(SecretStr(url)) as store:
            assert "wrong-pass" not in repr(store)
            assert store.server == f"{redis_service.host}:{redis_service.port}"
            with pytest.raises(InfraAuthenticationError) as caught:
                await store.load(KEY)
    finally:
        await redis_client.acl_deluser(user)
    assert "wrong-pass" not in str(caught.value)
    assert not caught.value.retryable


async def test_the_clients_own_socket_timeout_is_a_timeout_error() -> None:
    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(swallow, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(host=LOOPBACK, port=port, socket_timeout=0.05)
    try:
        with pytest.raises(InfraTimeoutError, match="Redis timed out") as caught:
            await RedisBreakerStore(client, timeout_seconds=5.0).load(KEY)
    finally:
        await client.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert isinstance(caught.value.__cause__, redis_errors.TimeoutError)
    assert caught.value.timeout_seconds == 0.05


async def test_a_user_without_the_commands_gets_a_permission_error(
    redis_service: RedisService, redis_client: aioredis.Redis
) -> None:
    user = f"omnibase-test-{uuid.uuid4().hex[:8]}"
    await redis_client.acl_setuser(
        user, enabled=True, passwords=["+pass"], keys=["*"], commands=["-@all", "+hello", "+auth"]
    )
    url = f"redis://{user}:pass@{redis_service.host}:{redis_service.port}/0"
    try:
        async with RedisBreakerStore.from_url(url) as store:
            with pytest.raises(InfraPermissionError) as caught:
                await store.load(KEY)
    finally:
        await redis_client.acl_deluser(user)
    assert caught.value.operation == "breaker_store_load"
    assert not caught.value.retryable


def test_unix_socket_server_name() -> None:
    client = aioredis.Redis(unix_socket_path="/run/redis/redis.sock")
    assert RedisBreakerStore(client).server == "unix:/run/redis/redis.sock"


def test_invalid_settings_are_rejected(redis_client: aioredis.Redis) -> None:
    with pytest.raises(InfraValidationError, match="prefix"):
        RedisBreakerStore(redis_client, prefix="a{b}")
    with pytest.raises(InfraValidationError, match="positive"):
        RedisBreakerStore(redis_client, timeout_seconds=0)
    with pytest.raises(InfraValidationError, match="positive"):
        RedisBreakerStore(redis_client, record_ttl_seconds=-1)
    with pytest.raises(InfraValidationError, match="invalid Redis URL") as caught:
        RedisBreakerStore.from_url(SecretStr("http://user:s3cret@host:1"))
    assert "s3cret" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_borrowed_client_stays_open(redis_client: aioredis.Redis, prefix: str) -> None:
    async with RedisBreakerStore(redis_client, prefix=prefix, server="u:p@cache:6379") as store:
        assert store.server == "cache:6379"
    assert await redis_client.ping() is True


async def test_glob_characters_in_prefix_are_literal(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    starred = RedisBreakerStore(redis_client, prefix=f"{prefix}:*")
    plain = RedisBreakerStore(redis_client, prefix=f"{prefix}:x")
    assert (await plain.compare_and_set(KEY, 0, _record(1)))[0]
    assert await starred.keys() == []
    assert await plain.keys() == [KEY]
