"""Redis smoke tests: the harness's server is a real Redis, reached over TCP with redis-py.

Pass both with the private ``redis-server`` (default) and with an external server
(``OMNIBASE_INFRA_TEST_REDIS_URL``). The start/stop tests always use a private server.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from omnibase_infra_testing.process import LOOPBACK, ServiceStartError, free_port, port_accepts
from omnibase_infra_testing.services.redis import (
    INSTALL_HINT,
    SERVICE,
    URL_ENV,
    RedisNotFoundError,
    RedisService,
    external_redis,
    find_redis_server,
    get_redis,
    ping,
    start_redis,
)
from omnibase_infra_testing.unavailable import service_unavailable

pytestmark = pytest.mark.real_service


def _private_redis() -> RedisService:
    try:
        return start_redis()
    except RedisNotFoundError as exc:
        service_unavailable(SERVICE, str(exc), INSTALL_HINT)


@pytest.fixture
def private_redis() -> Iterator[RedisService]:
    service = _private_redis()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
async def client(redis_service: RedisService) -> AsyncIterator[aioredis.Redis]:
    conn = aioredis.Redis.from_url(redis_service.url, socket_timeout=5)
    try:
        yield conn
    finally:
        await conn.aclose()


async def test_set_get_round_trip(client: aioredis.Redis) -> None:
    key = f"omnibase-smoke:{uuid.uuid4().hex}"
    assert await client.set(key, b"hello redis", px=60_000) is True
    assert await client.get(key) == b"hello redis"
    assert 0 < await client.pttl(key) <= 60_000
    assert await client.delete(key) == 1
    assert await client.get(key) is None


async def test_lua_scripts_run(client: aioredis.Redis) -> None:
    key = f"omnibase-smoke:{uuid.uuid4().hex}"
    incr = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await incr(keys=[key], args=[5]) == 5
    assert await incr(keys=[key], args=[2]) == 7
    await client.delete(key)


async def test_private_server_has_no_persistence(private_redis: RedisService) -> None:
    conn = aioredis.Redis.from_url(private_redis.url)
    try:
        config = await conn.config_get("save")
        appendonly = await conn.config_get("appendonly")
        bind = await conn.config_get("bind")
    finally:
        await conn.aclose()
    assert config == {"save": ""}
    assert appendonly == {"appendonly": "no"}
    assert bind == {"bind": LOOPBACK}
    assert private_redis.url == f"redis://{LOOPBACK}:{private_redis.port}/0"
    assert not private_redis.external


def test_stop_by_pid_frees_port() -> None:
    service = _private_redis()
    pid, port = service.pid, service.port
    assert pid is not None
    os.kill(pid, 0)
    service.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not port_accepts(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
    service.stop()  # idempotent


def test_external_url_is_used_as_is(
    private_redis: RedisService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, private_redis.url)
    service = get_redis()
    assert service.external
    assert service.pid is None
    assert (service.host, service.port) == (LOOPBACK, private_redis.port)
    service.stop()  # a no-op: the server still answers
    ping(LOOPBACK, private_redis.port)


async def test_external_url_with_password(private_redis: RedisService) -> None:
    conn = aioredis.Redis.from_url(private_redis.url)
    try:
        await conn.config_set("requirepass", "smoke-pass")
    finally:
        await conn.aclose()
    url = f"redis://:smoke-pass@{LOOPBACK}:{private_redis.port}/0"
    assert external_redis(url).external
    with pytest.raises(ServiceStartError, match="does not answer PING") as caught:
        external_redis(f"redis://:wrong-pass@{LOOPBACK}:{private_redis.port}/0")
    assert "wrong-pass" not in str(caught.value)
    assert "smoke-pass" not in repr(external_redis(url))


def test_external_url_that_does_not_answer() -> None:
    port = free_port()
    with pytest.raises(ServiceStartError, match="does not answer PING"):
        external_redis(f"redis://{LOOPBACK}:{port}/0")
    with pytest.raises(ServiceStartError, match="redis:// URL"):
        external_redis(f"http://{LOOPBACK}:{port}")


def test_missing_binary_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RedisNotFoundError, match="redis-server is not on PATH"):
        find_redis_server()
    assert "apt-get install redis-server" in INSTALL_HINT
    assert URL_ENV in INSTALL_HINT
