"""The ``__main__`` command line: a breaker's shared state from the real Redis, as JSON."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import EnumInfraErrorCode
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0 import RedisBreakerStore
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0.__main__ import URL_ENV, main
from omnibase_infra.redaction import carries_secret
from omnibase_infra.resilience.breaker import BreakerKey, BreakerStoreRecord, EnumCircuitState
from omnibase_infra_testing.process import LOOPBACK, free_port
from omnibase_infra_testing.services.redis import RedisService

pytestmark = pytest.mark.real_service

MODULE = "omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0"
OPEN_KEY = BreakerKey(EnumTransport.POSTGRES, "db.internal:5432")
CLOSED_KEY = BreakerKey(EnumTransport.HTTP, "hooks.example:443")


async def _seed(url: str, prefix: str) -> float:
    """An open breaker holding one probe permit... and a closed one, written by 'replicas'."""
    now = time.time()
    async with RedisBreakerStore.from_url(url, prefix=prefix) as store:
        half_open = BreakerStoreRecord(
            state=EnumCircuitState.HALF_OPEN, version=1, trip_count=2, updated_at=now
        )
        assert (await store.compare_and_set(OPEN_KEY, 0, half_open))[0]
        token = await store.try_acquire_probe(
            OPEN_KEY, version=1, max_probes=3, now=now, lease_seconds=60
        )
        assert token is not None
        closed = BreakerStoreRecord(
            state=EnumCircuitState.CLOSED, version=1, updated_at=now, reason="reset"
        )
        assert (await store.compare_and_set(CLOSED_KEY, 0, closed))[0]
    return now


async def _cleanup(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def seeded(redis_service: RedisService) -> Iterator[tuple[str, float]]:
    prefix = f"omnibase_infra_test:{uuid.uuid4().hex}"
    now = asyncio.run(_seed(redis_service.url, prefix))
    try:
        yield prefix, now
    finally:
        asyncio.run(_cleanup(redis_service.url, prefix))


def test_one_breaker(
    redis_service: RedisService,
    seeded: tuple[str, float],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix, now = seeded
    monkeypatch.setattr("sys.stdin", io.StringIO(redis_service.url + "\n"))
    argv = ["--redis-url-stdin", "--prefix", prefix, "postgres", "db.internal:5432"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "breaker": "postgres/db.internal:5432",
        "transport": "postgres",
        "target": "db.internal:5432",
        "stored": True,
        "state": "half_open",
        "version": 1,
        "open_until": None,
        "open_for_seconds": None,
        "trip_count": 2,
        "updated_at": now,
        "reason": "",
        "probes_held": 1,
    }


def test_every_breaker_from_the_environment(
    redis_service: RedisService,
    seeded: tuple[str, float],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix, _ = seeded
    monkeypatch.setenv(URL_ENV, redis_service.url)
    assert main(["--prefix", prefix]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(b["breaker"], b["state"]) for b in listed] == [
        ("http/hooks.example:443", "closed"),
        ("postgres/db.internal:5432", "half_open"),
    ]


def test_unknown_breaker(
    redis_service: RedisService,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--redis-url`` is fine without a password (with one: the variable, as here)."""
    if carries_secret(redis_service.url):
        monkeypatch.setenv(URL_ENV, redis_service.url)
        argv = ["--prefix", prefix, "consul", "c:8500"]
    else:
        argv = ["--redis-url", redis_service.url, "--prefix", prefix, "consul", "c:8500"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["stored"], out["state"], out["version"], out["probes_held"]) == (False, None, 0, 0)


def test_open_breaker_reports_remaining_wait(
    redis_service: RedisService,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def seed() -> None:
        async with RedisBreakerStore.from_url(redis_service.url, prefix=prefix) as store:
            record = BreakerStoreRecord(
                state=EnumCircuitState.OPEN,
                version=1,
                open_until=time.time() + 30,
                trip_count=1,
                reason="failure_rate",
            )
            await store.compare_and_set(OPEN_KEY, 0, record)

    asyncio.run(seed())
    try:
        monkeypatch.setenv(URL_ENV, redis_service.url)
        assert main(["--prefix", prefix, "postgres", OPEN_KEY.target]) == 0
    finally:
        asyncio.run(_cleanup(redis_service.url, prefix))
    out = json.loads(capsys.readouterr().out)
    assert (out["state"], out["reason"]) == ("open", "failure_rate")
    assert 25 < out["open_for_seconds"] <= 30


def test_unreachable_store_is_a_redacted_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, f"redis://:hunter2@{LOOPBACK}:{free_port()}/0")
    assert main(["--timeout", "0.5"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err)["error"]
    assert error["transport"] == "redis"
    assert error["code"] == str(EnumInfraErrorCode.CONNECTION_FAILED)
    assert "hunter2" not in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["postgres", "db:5432"], f"no Redis URL: set {URL_ENV}"),
        (["--redis-url", "redis://:pw-9@x:1/0"], "holds a password or token, and a command"),
        (["--redis-url", "redis://user:pw-9@x:1/0"], "--redis-url-stdin and write the Redis"),
        (["--redis-url-stdin", "--redis-url", "redis://x"], "not both"),
        (["--redis-url-stdin"], "no Redis URL"),
        (["--redis-url", "redis://x", "postgres"], "give both TRANSPORT and TARGET"),
        (["--redis-url", "redis://x", "smtp", "mail:25"], "invalid choice"),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "pw-9" not in err


def test_runs_as_a_module(redis_service: RedisService, seeded: tuple[str, float]) -> None:
    prefix, _ = seeded
    env = {**os.environ, URL_ENV: redis_service.url}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", MODULE, "--prefix", prefix, "http", "hooks.example:443"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["state"] == "closed"
