"""KV against the real agent: values as bytes or JSON, reads, check-and-set, deletes."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from omnibase_infra.errors import InfraConflictError, InfraValidationError
from omnibase_infra.nodes.node_consul_adapter_effect import ConsulClient


async def test_put_and_get_bytes_and_json(client: ConsulClient, prefix: str) -> None:
    await client.kv_put(f"{prefix}/raw", b"\x00\xffbinary")
    await client.kv_put(f"{prefix}/doc", {"replicas": 3, "tags": ["a"]}, flags=7)
    await client.kv_put(f"{prefix}/dir", None)
    raw = await client.kv_get(f"{prefix}/raw")
    doc = await client.kv_get(f"{prefix}/doc")
    folder = await client.kv_get(f"{prefix}/dir")
    assert raw is not None
    assert raw.value == b"\x00\xffbinary"
    assert doc is not None
    assert doc.json_value() == {"replicas": 3, "tags": ["a"]}
    assert doc.flags == 7
    assert doc.modify_index >= doc.create_index > 0
    assert folder is not None
    assert folder.value is None
    assert folder.json_value() is None
    assert await client.kv_get(f"{prefix}/missing") is None


async def test_tree_and_keys(client: ConsulClient, prefix: str) -> None:
    for key in ("a/1", "a/2", "b"):
        await client.kv_put(f"{prefix}/{key}", key)
    tree = await client.kv_get_tree(f"{prefix}/a/")
    assert [(e.key, e.json_value()) for e in tree] == [
        (f"{prefix}/a/1", "a/1"),
        (f"{prefix}/a/2", "a/2"),
    ]
    assert await client.kv_keys(f"{prefix}/") == [f"{prefix}/a/1", f"{prefix}/a/2", f"{prefix}/b"]
    assert await client.kv_keys(f"{prefix}/", separator="/") == [f"{prefix}/a/", f"{prefix}/b"]
    assert await client.kv_get_tree(f"{prefix}/none/") == []
    assert await client.kv_keys(f"{prefix}/none/") == []


async def test_cas_zero_creates_only(client: ConsulClient, prefix: str) -> None:
    cid = uuid.uuid4()
    await client.kv_put(f"{prefix}/k", b"first", cas=0)
    with pytest.raises(InfraConflictError) as caught:
        await client.kv_put(f"{prefix}/k", b"second", cas=0, correlation_id=cid)
    assert caught.value.correlation_id == cid
    assert caught.value.index == 0
    assert not caught.value.retryable
    entry = await client.kv_get(f"{prefix}/k")
    assert entry is not None
    assert entry.value == b"first"


async def test_cas_race_has_exactly_one_winner(client: ConsulClient, prefix: str) -> None:
    await client.kv_put(f"{prefix}/counter", 0)
    entry = await client.kv_get(f"{prefix}/counter")
    assert entry is not None
    results = await asyncio.gather(
        *(client.kv_put(f"{prefix}/counter", n, cas=entry.modify_index) for n in (1, 2)),
        return_exceptions=True,
    )
    winners = [n for n, result in zip((1, 2), results, strict=True) if result is None]
    losers = [result for result in results if isinstance(result, InfraConflictError)]
    assert len(winners) == 1
    assert len(losers) == 1
    after = await client.kv_get(f"{prefix}/counter")
    assert after is not None
    assert after.json_value() == winners[0]


async def test_delete_with_cas_and_recurse(client: ConsulClient, prefix: str) -> None:
    await client.kv_put(f"{prefix}/x", b"1")
    entry = await client.kv_get(f"{prefix}/x")
    assert entry is not None
    with pytest.raises(InfraConflictError):
        await client.kv_delete(f"{prefix}/x", cas=entry.modify_index + 1000)
    await client.kv_delete(f"{prefix}/x", cas=entry.modify_index)
    assert await client.kv_get(f"{prefix}/x") is None
    await client.kv_put(f"{prefix}/t/1", b"1")
    await client.kv_put(f"{prefix}/t/2", b"2")
    await client.kv_delete(f"{prefix}/t/", recurse=True)
    assert await client.kv_keys(f"{prefix}/") == []


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("/abs", "starts with '/'"),
        ("a//b", "empty segment"),
        ("a/../b", "'..' segment"),
        ("a/./b", "'.' segment"),
        ("..", "'..' segment"),
        ("", "empty"),
        ("a\nb", "control character"),
    ],
)
async def test_keys_an_http_client_would_rewrite_are_refused(
    client: ConsulClient, key: str, reason: str
) -> None:
    # Refused before any request: aiohttp would collapse them into another key.
    with pytest.raises(InfraValidationError, match=reason) as refused:
        await client.kv_put(key, b"x")
    assert refused.value.operation == "kv_put"
    with pytest.raises(InfraValidationError):
        await client.kv_get(key)
    with pytest.raises(InfraValidationError):
        await client.kv_delete(key)


async def test_folder_keys_and_the_root_prefix_are_allowed(
    client: ConsulClient, prefix: str
) -> None:
    await client.kv_put(f"{prefix}/folder/", None)
    await client.kv_put(f"{prefix}/odd key?#%", b"v")  # quoted in the URL, not rewritten
    entry = await client.kv_get(f"{prefix}/odd key?#%")
    assert entry is not None
    assert entry.key == f"{prefix}/odd key?#%"
    assert f"{prefix}/folder/" in await client.kv_keys("")
    with pytest.raises(InfraValidationError):
        await client.kv_get_tree("/")
    await client.kv_delete(f"{prefix}/", recurse=True)
    assert await client.kv_keys(f"{prefix}/") == []
