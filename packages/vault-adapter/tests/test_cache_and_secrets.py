"""The read cache (injected clock, invalidated by own writes) and secrets that never leak."""

from __future__ import annotations

import logging

import hvac  # type: ignore[import-untyped]
import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraConflictError, InfraError, error_to_safe_dict
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvDeleteRequest,
    ModelVaultKvPatchRequest,
    ModelVaultKvReadRequest,
    ModelVaultKvSecret,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect, SecretCache

from .conftest import FAST_RETRY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cached_reads_expire_and_own_writes_invalidate(
    config: ModelVaultConfig, root: hvac.Client, prefix: str
) -> None:
    clock = Clock()
    cached = config.model_copy(update={"cache_ttl_seconds": 30.0})
    node = NodeVaultAdapterEffect(config=cached, policy_overrides=FAST_RETRY, clock=clock)
    path = f"{prefix}/cached"
    read = ModelVaultKvReadRequest(path=path)
    try:
        await node.kv_write(ModelVaultKvWriteRequest(path=path, data={"k": SecretStr("one")}))
        assert (await node.kv_read(read)).version == 1
        # Changed behind the node's back: the cache answers until the TTL passes.
        root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "two"})
        assert (await node.kv_read(read)).version == 1
        fresh = await node.kv_read(ModelVaultKvReadRequest(path=path, use_cache=False))
        assert fresh.version == 2
        clock.now += 31
        assert (await node.kv_read(read)).version == 2
        # The node's own write invalidates at once, as do patch and delete.
        await node.kv_write(ModelVaultKvWriteRequest(path=path, data={"k": SecretStr("three")}))
        assert (await node.kv_read(read)).version == 3
        await node.kv_patch(ModelVaultKvPatchRequest(path=path, data={"j": SecretStr("x")}))
        assert (await node.kv_read(read)).version == 4
        await node.kv_delete(ModelVaultKvDeleteRequest(path=path))
        assert (await node.kv_read(read)).deleted is True
        assert len(node.cache) == 1
    finally:
        await node.close()
    assert len(node.cache) == 0
    await node.close()  # idempotent


def test_cache_off_stores_nothing() -> None:
    cache = SecretCache(0.0, max_entries=8)
    cache.put(("secret", "a", None), ModelVaultKvSecret(path="a", data={}, version=1))
    assert cache.get(("secret", "a", None)) is None
    assert len(cache) == 0


def test_cache_is_bounded_least_recently_used_out_first() -> None:
    clock = Clock()
    cache = SecretCache(30.0, max_entries=2, clock=clock)
    secrets = {name: ModelVaultKvSecret(path=name, data={}, version=1) for name in "abc"}
    cache.put(("secret", "a", None), secrets["a"])
    cache.put(("secret", "b", None), secrets["b"])
    assert cache.get(("secret", "a", None)) is secrets["a"]  # a is now the most recent
    cache.put(("secret", "c", None), secrets["c"])
    assert (len(cache), cache.evictions, cache.max_entries) == (2, 1, 2)
    assert cache.get(("secret", "b", None)) is None  # the least recently used went out
    assert cache.get(("secret", "a", None)) is secrets["a"]
    cache.put(("secret", "a", None), secrets["a"])  # a put of a held key evicts nothing
    assert (len(cache), cache.evictions) == (2, 1)
    with pytest.raises(ValueError, match="at least 1"):
        SecretCache(30.0, max_entries=0)


async def test_the_node_cache_holds_at_most_cache_max_entries(
    config: ModelVaultConfig, root: hvac.Client, prefix: str
) -> None:
    """Three secrets read through a cache of two: the first one read is forgotten, so a
    change behind the node's back shows at its next read, while the others still answer
    from the cache."""
    bounded = config.model_copy(update={"cache_ttl_seconds": 300.0, "cache_max_entries": 2})
    assert ModelVaultConfig.model_fields["cache_max_entries"].default == 1024
    node = NodeVaultAdapterEffect(config=bounded, policy_overrides=FAST_RETRY)
    paths = [f"{prefix}/lru-{n}" for n in range(3)]
    try:
        for path in paths:
            root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "one"})
            assert (await node.kv_read(ModelVaultKvReadRequest(path=path))).version == 1
        assert (len(node.cache), node.cache.evictions) == (2, 1)
        for path in paths:
            root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "two"})
        newest_first = [
            (await node.kv_read(ModelVaultKvReadRequest(path=p))).version for p in paths[::-1]
        ]
        assert newest_first == [1, 1, 2]  # paths[0] was evicted: read from the server
    finally:
        await node.close()


async def test_client_patch_gives_up_after_losing_every_cas_race(
    config: ModelVaultConfig, root: hvac.Client, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = NodeVaultAdapterEffect(config=config, policy_overrides=FAST_RETRY, patch_mode="client")
    path = f"{prefix}/race"
    await node.kv_write(ModelVaultKvWriteRequest(path=path, data={"k": SecretStr("0")}))
    original = node._kv.read  # the KV engine's read, which the client-side patch uses

    async def read_then_race(request: ModelVaultKvReadRequest) -> object:
        result = await original(request)
        root.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "other"})
        return result

    monkeypatch.setattr(node._kv, "read", read_then_race)
    try:
        with pytest.raises(InfraConflictError, match="check-and-set races"):
            await node.kv_patch(ModelVaultKvPatchRequest(path=path, data={"k": SecretStr("1")}))
    finally:
        await node.close()


SECRETS = ("s3cr3t-Value-Alpha", "s3cr3t-Value-Beta")


async def test_secret_values_never_reach_logs_errors_or_reprs(
    node: NodeVaultAdapterEffect,
    config: ModelVaultConfig,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    path = f"{prefix}/leak"
    request = ModelVaultKvWriteRequest(path=path, data={"password": SecretStr(SECRETS[0])}, cas=0)
    texts += [repr(request), str(request.model_dump()), request.model_dump_json()]
    await node.kv_write(request)
    for attempt in (request, request.model_copy(update={"data": {"p": SecretStr(SECRETS[1])}})):
        with pytest.raises(InfraError) as failed:
            await node.kv_write(attempt)
        texts += [str(failed.value), repr(failed.value), str(error_to_safe_dict(failed.value))]
    secret = await node.kv_read(ModelVaultKvReadRequest(path=path))
    texts += [repr(secret), str(secret), secret.model_dump_json(), repr(node), repr(config)]
    texts += [r.getMessage() + str(r.__dict__) for r in caplog.records]
    assert caplog.records, "the failures were logged"
    token = config.token.get_secret_value() if config.token else ""
    for text in texts:
        for value in (*SECRETS, token):
            assert value not in text
