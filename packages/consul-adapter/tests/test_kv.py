"""KV against the real agent: values as bytes or JSON, reads, check-and-set, deletes."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from omnibase_infra.errors import InfraConflictError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.consul import (
    ModelConsulKVDeleteRequest,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import NodeConsulAdapterEffect

from .conftest import kv_get, kv_put


async def _keys(
    node: NodeConsulAdapterEffect, prefix: str, separator: str | None = None
) -> list[str]:
    read = ModelConsulKVReadRequest(operation="kv_keys", key=prefix, separator=separator)
    return list((await node.kv_read(read)).keys)


async def test_put_and_get_bytes_and_json(node: NodeConsulAdapterEffect, prefix: str) -> None:
    await kv_put(node, f"{prefix}/raw", b"\x00\xffbinary")
    await kv_put(node, f"{prefix}/doc", {"replicas": 3, "tags": ["a"]}, flags=7)
    await kv_put(node, f"{prefix}/dir", None)
    raw = await kv_get(node, f"{prefix}/raw")
    doc = await kv_get(node, f"{prefix}/doc")
    folder = await kv_get(node, f"{prefix}/dir")
    assert raw is not None
    assert raw.value == b"\x00\xffbinary"
    assert doc is not None
    assert doc.json_value() == {"replicas": 3, "tags": ["a"]}
    assert doc.flags == 7
    assert doc.modify_index >= doc.create_index > 0
    assert folder is not None
    assert folder.value is None
    assert folder.json_value() is None
    assert await kv_get(node, f"{prefix}/missing") is None


async def test_tree_and_keys(node: NodeConsulAdapterEffect, prefix: str) -> None:
    for key in ("a/1", "a/2", "b"):
        await kv_put(node, f"{prefix}/{key}", key)
    tree = await node.kv_read(ModelConsulKVReadRequest(operation="kv_get_tree", key=f"{prefix}/a/"))
    assert [(e.key, e.json_value()) for e in tree.entries] == [
        (f"{prefix}/a/1", "a/1"),
        (f"{prefix}/a/2", "a/2"),
    ]
    assert await _keys(node, f"{prefix}/") == [f"{prefix}/a/1", f"{prefix}/a/2", f"{prefix}/b"]
    assert await _keys(node, f"{prefix}/", separator="/") == [f"{prefix}/a/", f"{prefix}/b"]
    none = ModelConsulKVReadRequest(operation="kv_get_tree", key=f"{prefix}/none/")
    assert (await node.kv_read(none)).entries == ()
    assert await _keys(node, f"{prefix}/none/") == []


async def test_cas_zero_creates_only(node: NodeConsulAdapterEffect, prefix: str) -> None:
    correlation = ModelCorrelationContext.fresh()
    await kv_put(node, f"{prefix}/k", b"first", cas=0)
    with pytest.raises(InfraConflictError) as caught:
        await kv_put(node, f"{prefix}/k", b"second", cas=0, correlation=correlation)
    assert caught.value.correlation_id == correlation.correlation_id
    assert caught.value.index == 0
    assert not caught.value.retryable
    entry = await kv_get(node, f"{prefix}/k")
    assert entry is not None
    assert entry.value == b"first"


async def test_cas_race_has_exactly_one_winner(node: NodeConsulAdapterEffect, prefix: str) -> None:
    await kv_put(node, f"{prefix}/counter", 0)
    entry = await kv_get(node, f"{prefix}/counter")
    assert entry is not None
    results = await asyncio.gather(
        *(kv_put(node, f"{prefix}/counter", n, cas=entry.modify_index) for n in (1, 2)),
        return_exceptions=True,
    )
    winners = [n for n, result in zip((1, 2), results, strict=True) if result is None]
    losers = [result for result in results if isinstance(result, InfraConflictError)]
    assert len(winners) == 1
    assert len(losers) == 1
    after = await kv_get(node, f"{prefix}/counter")
    assert after is not None
    assert after.json_value() == winners[0]


async def test_delete_with_cas_and_recurse(node: NodeConsulAdapterEffect, prefix: str) -> None:
    await kv_put(node, f"{prefix}/x", b"1")
    entry = await kv_get(node, f"{prefix}/x")
    assert entry is not None
    with pytest.raises(InfraConflictError):
        await node.kv_delete(
            ModelConsulKVDeleteRequest(key=f"{prefix}/x", cas=entry.modify_index + 1000)
        )
    await node.kv_delete(ModelConsulKVDeleteRequest(key=f"{prefix}/x", cas=entry.modify_index))
    assert await kv_get(node, f"{prefix}/x") is None
    await kv_put(node, f"{prefix}/t/1", b"1")
    await kv_put(node, f"{prefix}/t/2", b"2")
    await node.kv_delete(ModelConsulKVDeleteRequest(key=f"{prefix}/t/", recurse=True))
    assert await _keys(node, f"{prefix}/") == []


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
def test_keys_an_http_client_would_rewrite_are_refused(key: str, reason: str) -> None:
    # Refused by the request models, before any request: aiohttp would collapse them into
    # another key.
    with pytest.raises(ValidationError, match=reason):
        ModelConsulKVPutRequest(key=key, value=b"x")
    with pytest.raises(ValidationError):
        ModelConsulKVReadRequest(key=key)
    with pytest.raises(ValidationError):
        ModelConsulKVDeleteRequest(key=key)


async def test_folder_keys_and_the_root_prefix_are_allowed(
    node: NodeConsulAdapterEffect, prefix: str
) -> None:
    await kv_put(node, f"{prefix}/folder/", None)
    await kv_put(node, f"{prefix}/odd key?#%", b"v")  # quoted in the URL, not rewritten
    entry = await kv_get(node, f"{prefix}/odd key?#%")
    assert entry is not None
    assert entry.key == f"{prefix}/odd key?#%"
    assert f"{prefix}/folder/" in await _keys(node, "")
    with pytest.raises(ValidationError):
        ModelConsulKVReadRequest(operation="kv_get_tree", key="/")
    await node.kv_delete(ModelConsulKVDeleteRequest(key=f"{prefix}/", recurse=True))
    assert await _keys(node, f"{prefix}/") == []
