"""The aiohttp transport under python-consul's own API objects, on the real agent."""

from __future__ import annotations

import aiohttp
import pytest

from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect import AioConsul, ConsulStatusError
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0 import AioHttpTransport, transport


async def test_python_consul_api_runs_on_the_event_loop(
    consul_config: ModelConsulConfig, prefix: str
) -> None:
    api = AioConsul(consul_config)
    assert isinstance(api.http, AioHttpTransport)
    try:
        # POST (prepared queries), PUT, GET with index, DELETE: coroutines on one session.
        query_id = (await api.query.create(f"{prefix}-svc", name=prefix))["ID"]
        assert await api.kv.put(f"{prefix}/k", "v") is True
        index, item = await api.kv.get(f"{prefix}/k")
        assert int(index) > 0
        assert item["Value"] == b"v"
        assert (await api.query.get(query_id))[0]["Name"] == prefix
        await api.query.delete(query_id)
        with pytest.raises(ConsulStatusError) as missing:
            await api.query.get(query_id)  # 404 outside a KV read is an error
        assert missing.value.status == 404
        index, item = await api.kv.get(f"{prefix}/none")  # a KV read's 404: no such key
        assert int(index) > 0
        assert item is None
        await api.http.close()
        await api.http.close()  # closing twice is harmless
        assert await api.status.leader()  # a closed transport reopens on use
    finally:
        await api.http.close()


async def test_kv_reads_skip_python_consul(
    consul_config: ModelConsulConfig, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node's KV reads: URLs encoded once and kept (a bounded cache), the datacenter in
    the query, a read with an index but no wait, the JSON decoded as python-consul would."""
    monkeypatch.setattr(transport, "_URL_CACHE_SIZE", 2)
    api = AioConsul(consul_config.model_copy(update={"datacenter": "dc1"}))
    try:
        assert await api.kv.put(f"{prefix}/a b", b"v") is True
        index, items = await api.read_kv(f"{prefix}/a b")
        assert [(item["Key"], item["Value"]) for item in items] == [(f"{prefix}/a b", b"v")]
        assert index > 0
        assert (await api.read_kv(f"{prefix}/a b", index=1))[1] == items  # no wait: at once
        assert await api.read_kv(f"{prefix}/", keys=True, separator="/") == (
            index,
            [f"{prefix}/a b"],
        )
        assert await api.read_kv(f"{prefix}/none") == (index, None)
        assert len(api.http._urls) <= 2  # cleared when full
        url = api.http.url(f"/v1/kv/{prefix}/a b", (("dc", "dc1"),))
        assert str(url).endswith(f"/v1/kv/{prefix}/a%20b?dc=dc1")
    finally:
        await api.http.close()


async def test_answers_come_uncompressed_unless_configured(
    consul_config: ModelConsulConfig, prefix: str
) -> None:
    """Consul gzips every answer a client accepts compressed (aiohttp accepts gzip by
    default): the node asks for none unless ``compress_responses``; either way the value
    reads the same. The session has no aiohttp timeout (the runner's deadline bounds each
    attempt) and keeps no cookies."""
    encodings: dict[bool, str | None] = {}
    for compress in (False, True):
        api = AioConsul(consul_config.model_copy(update={"compress_responses": compress}))
        try:
            assert await api.kv.put(f"{prefix}/z", b"v" * 300) is True
            _, headers, _ = await api.http.send("GET", api.http.url(f"/v1/kv/{prefix}/z"))
            encodings[compress] = headers.get("Content-Encoding")
            assert (await api.read_kv(f"{prefix}/z"))[1][0]["Value"] == b"v" * 300
            session = api.http._session
            assert session is not None
            assert session.timeout.total is None
            assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        finally:
            await api.http.close()
    assert encodings == {False: None, True: "gzip"}
