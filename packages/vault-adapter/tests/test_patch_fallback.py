"""``patch_mode`` against a server without PATCH (Vault before 1.9 answers 405).

A small HTTP proxy on 127.0.0.1 stands in front of the real OpenBao: it answers 405 to
every PATCH and forwards everything else unchanged, so the node talks to a real server that
lacks only that method.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.vault import (
    ModelVaultConfig,
    ModelVaultKvPatchRequest,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect

from .conftest import FAST_RETRY


class _NoPatchProxy(BaseHTTPRequestHandler):
    upstream = ""
    seen: list[str]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``seen`` instead."""

    def _forward(self) -> None:
        type(self).seen.append(self.command)
        if self.command == "PATCH":
            body = b'{"errors":["1 error occurred:\\n\\t* unsupported operation\\n\\n"]}'
            self.send_response(405)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        request = urllib.request.Request(  # noqa: S310 - the upstream is http://127.0.0.1
            self.upstream + self.path,
            data=data,
            method=self.command,
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                status, headers, payload = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as exc:
            status, headers, payload = exc.code, exc.headers, exc.read()
        self.send_response(status)
        self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_LIST = _forward


@pytest.fixture
def no_patch_server(config: ModelVaultConfig) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Proxy", (_NoPatchProxy,), {"upstream": config.url, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


async def test_auto_falls_back_to_read_and_check_and_set_write(
    config: ModelVaultConfig, no_patch_server: tuple[str, list[str]], prefix: str
) -> None:
    url, seen = no_patch_server
    node = NodeVaultAdapterEffect(
        config=config.model_copy(update={"url": url}), policy_overrides=FAST_RETRY
    )
    try:
        path = f"{prefix}/app"
        await node.kv_write(
            ModelVaultKvWriteRequest(path=path, data={"a": SecretStr("1"), "b": SecretStr("2")})
        )
        patched = await node.kv_patch(
            ModelVaultKvPatchRequest(path=path, data={"a": SecretStr("9"), "b": None})
        )
        assert patched.version == 2
        now = await node.kv_read(ModelVaultKvReadRequest(path=path))
        assert now.data is not None
        assert {k: v.get_secret_value() for k, v in now.data.items()} == {"a": "9"}
        # The server was asked once, refused, and the read + CAS write did the merge.
        assert seen.count("PATCH") == 1
    finally:
        await node.close()


async def test_server_mode_says_the_server_has_no_patch(
    config: ModelVaultConfig, no_patch_server: tuple[str, list[str]], prefix: str
) -> None:
    url, _ = no_patch_server
    node = NodeVaultAdapterEffect(
        config=config.model_copy(update={"url": url}),
        policy_overrides=FAST_RETRY,
        patch_mode="server",
    )
    try:
        await node.kv_write(
            ModelVaultKvWriteRequest(path=f"{prefix}/s", data={"a": SecretStr("1")})
        )
        with pytest.raises(InfraConfigurationError, match="does not support PATCH"):
            await node.kv_patch(
                ModelVaultKvPatchRequest(path=f"{prefix}/s", data={"a": SecretStr("2")})
            )
    finally:
        await node.close()
