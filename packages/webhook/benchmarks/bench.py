"""bench(webhook): signed deliveries per second at concurrency 32, through the node versus
raw aiohttp, to one local receiver, in one run, interleaved (``tools/benchlib.py``).
Target: >= 0.85x raw aiohttp.

The receiver is a minimal aiohttp server (answers 200 to every POST) in a child process,
so it does not share the event loop of the contenders. The node runs as configured by
default with a file outbox: the durable SQLite outbox (a temporary file, WAL,
``synchronous=FULL``: every message committed and fsynced before its first attempt), the
SSRF guard (loopback allow-listed), its breaker and signing; its requests (models holding
the payload) are built beforehand.

The baseline is raw aiohttp at its best for this workload (aiohttp's client docs: one
``ClientSession`` shared by every request, its ``TCPConnector`` pool as large as the
concurrency, 32): each request serialises the same payload and signs it with the same
Standard Webhooks signer (``webhook-id`` made beforehand, the timestamp at sending), as a
sender must and as the node does; no outbox, no retries, no SSRF guard, no telemetry.

Both sides start each timed pass from a collected heap (``gc.collect()``): the requests
built beforehand would otherwise be promoted through the generations during the pass and
charge a full collection to whichever side allocates more. Run by
``nox -s "bench(webhook)"``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import benchlib  # type: ignore[import-not-found]  # tools/ on PYTHONPATH
from pydantic import SecretStr

from omnibase_infra.models.webhook import (
    ModelWebhookConfig,
    ModelWebhookSendRequest,
    new_message_id,
)
from omnibase_infra.nodes.node_webhook_effect import NodeWebhookEffect
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import WebhookSigner

CONCURRENCY = 32
TARGET = 0.85
PAYLOAD = {"type": "invoice.paid", "data": {"id": 12345, "amount": "99.90", "currency": "EUR"}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("receiver did not start")


async def _pool(count: int, job: object) -> float:
    """Run ``job(i)`` for i in range(count) on CONCURRENCY workers; deliveries per second."""
    queue = iter(range(count))
    gc.collect()  # the inputs built beforehand: collected now, not during the pass

    async def worker() -> None:
        for index in queue:
            await job(index)  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def _ours(url: str, secret: SecretStr, count: int, outbox: str) -> float:
    node = NodeWebhookEffect(
        config=ModelWebhookConfig(
            outbox_path=outbox, allow_networks=("127.0.0.0/8",), max_concurrency=CONCURRENCY
        )
    )
    requests = [
        ModelWebhookSendRequest(url=url, secrets=(secret,), payload=PAYLOAD) for _ in range(count)
    ]

    async def job(index: int) -> None:
        result = await node.send(requests[index])
        if not result.success:
            raise RuntimeError(f"delivery failed: {result.error_code}")

    try:
        await node.send(ModelWebhookSendRequest(url=url, secrets=(secret,), payload=PAYLOAD))
        return await _pool(count, job)
    finally:
        await node.close()


async def _raw(url: str, secret: SecretStr, count: int) -> float:
    signer = WebhookSigner([secret])
    ids = [new_message_id() for _ in range(count)]
    timeout = aiohttp.ClientTimeout(total=15, sock_connect=5)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONCURRENCY), timeout=timeout
    ) as session:

        async def job(index: int) -> None:
            body = json.dumps(
                PAYLOAD, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode()
            headers = {"content-type": "application/json", **signer.headers(ids[index], body)}
            async with session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")

        await job(0)
        return await _pool(count, job)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", type=Path, default=Path(".bench/webhook.json"))
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    port = _free_port()
    receiver = subprocess.Popen(  # noqa: S603 - this script, as the receiver
        [sys.executable, str(Path(__file__).with_name("receiver.py")), str(port)]
    )
    try:
        _wait_listening(port)
        url = f"http://127.0.0.1:{port}/hook"
        secret = SecretStr("whsec_" + base64.b64encode(os.urandom(32)).decode())
        with tempfile.TemporaryDirectory() as tmp:
            rounds = iter(range(10_000))

            def ours() -> float:
                outbox = str(Path(tmp) / f"outbox-{next(rounds)}.sqlite3")
                return asyncio.run(_ours(url, secret, args.messages, outbox))

            def raw() -> float:
                return asyncio.run(_raw(url, secret, args.messages))

            records = benchlib.compare(
                f"signed deliveries at concurrency {CONCURRENCY} (durable SQLite outbox)",
                "deliveries/s",
                ours,
                {"raw aiohttp, signed per request": raw},
                higher_is_better=True,
                targets=TARGET,
                rounds=args.rounds,
            )
        benchlib.write_report(args.output, records)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
