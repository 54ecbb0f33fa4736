"""bench(consul-adapter): KV get throughput at concurrency 16 through the node's client
against the same requests made directly with aiohttp (the floor; target >= 0.85x) and
python-consul's synchronous client in a thread pool of 16 (target: faster), on one agent,
in one run, interleaved (``tools/benchlib.py``).

Agent: ``CONSUL_HTTP_ADDR`` or a private Consul started by the test harness. Run by
``nox -s "bench(consul-adapter)"``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import benchlib  # type: ignore[import-not-found]  # tools/ on PYTHONPATH
import consul  # type: ignore[import-untyped]

from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect import NodeConsulAdapterEffect
from omnibase_infra_testing.services.consul import get_consul

CONCURRENCY = 16
KEY = "bench/kv-get"


def _throughput(
    loop: asyncio.AbstractEventLoop, get: Callable[[], Awaitable[object]], ops: int
) -> Callable[[], float]:
    async def worker(count: int) -> None:
        for _ in range(count):
            await get()

    def run() -> float:
        started = time.perf_counter()
        per_worker = ops // CONCURRENCY
        loop.run_until_complete(asyncio.gather(*(worker(per_worker) for _ in range(CONCURRENCY))))
        return per_worker * CONCURRENCY / (time.perf_counter() - started)

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--ops", type=int, default=3200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    agent = get_consul()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pool = ThreadPoolExecutor(CONCURRENCY)
    try:
        node = NodeConsulAdapterEffect(config=ModelConsulConfig(host=agent.host, port=agent.port))
        loop.run_until_complete(node.client.kv_put(KEY, b"x" * 256))
        session = loop.run_until_complete(_session())
        url = f"{agent.addr}/v1/kv/{KEY}"

        async def raw_get() -> bytes:
            async with session.get(url) as resp:
                resp.raise_for_status()
                (item,) = await resp.json()
                return base64.b64decode(item["Value"])

        sync_client = consul.Consul(host=agent.host, port=agent.port)

        async def threaded_get() -> object:
            return await loop.run_in_executor(pool, sync_client.kv.get, KEY)

        async def ours_get() -> object:
            return await node.client.kv_get(KEY)

        records = benchlib.compare(
            f"kv_get c={CONCURRENCY}",
            "ops/s",
            _throughput(loop, ours_get, args.ops),
            {
                "aiohttp_direct": _throughput(loop, raw_get, args.ops),
                "python_consul_sync_threads": _throughput(loop, threaded_get, args.ops),
            },
            higher_is_better=True,
            targets={"aiohttp_direct": 0.85, "python_consul_sync_threads": 1.0},
            rounds=args.rounds,
        )
        benchlib.write_report(args.output, records)
        loop.run_until_complete(session.close())
        loop.run_until_complete(node.close())
    finally:
        pool.shutdown()
        loop.close()
        agent.stop()


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


if __name__ == "__main__":
    main()
