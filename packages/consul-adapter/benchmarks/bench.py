"""bench(consul-adapter): KV get throughput at concurrency 16 through the node's public path,
``await node.process(ModelConsulKVReadRequest(key=...))`` (a request model built per call,
as a caller builds it), on one agent, in one run, interleaved (``tools/benchlib.py``),
against

* ``aiohttp_direct``: the same GET made directly with one ``aiohttp.ClientSession`` (its
  default connector: up to 100 pooled keep-alive connections), the JSON parsed and the
  value base64-decoded -- the floor; target >= 0.85x;
* ``aiohttp_direct_uncompressed``: the same, its session asking for uncompressed answers
  (``Accept-Encoding: identity`` as a session header) as the node does by default: Consul
  gzips every answer a client accepts compressed, and aiohttp accepts gzip by default, so
  this is the floor on the same wire work; target >= 0.85x too;
* ``python_consul_sync_threads``: python-consul's own synchronous client (``consul.Consul``,
  on requests) in a pool of 16 threads, its ``requests.Session`` given a connection pool of
  16 (``HTTPAdapter(pool_maxsize=16)``; requests' default keeps 10, so 6 of 16 threads
  would reconnect on every call) -- target: faster.

Every contender reads the same 256-byte value and the result is checked before timing.
``--profile`` runs ours alone under cProfile (CPU time) instead and prints where its CPU
goes; ``--layers`` prints the CPU time per call of each layer added in turn (raw aiohttp, the
node's transport, + the breaker's guard, + the deadline, the whole runner, the typed method
with a reused request, ``process()`` with a request built per call), as medians of
interleaved rounds.

Agent: ``CONSUL_HTTP_ADDR`` or a private Consul started by the test harness. Run by
``nox -s "bench(consul-adapter)"``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import benchlib  # type: ignore[import-not-found]  # tools/ on PYTHONPATH
import consul  # type: ignore[import-untyped]

from omnibase_infra.models.consul import (
    ModelConsulConfig,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect import NodeConsulAdapterEffect
from omnibase_infra_testing.services.consul import get_consul

CONCURRENCY = 16
KEY = "bench/kv-get"
VALUE = b"x" * 256


def _throughput(
    loop: asyncio.AbstractEventLoop, get: Callable[[], Awaitable[bytes | None]], ops: int
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


def main() -> None:  # noqa: PLR0915 - one benchmark and its two diagnostic modes
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--ops", type=int, default=3200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile ours, no report")
    parser.add_argument("--layers", action="store_true", help="CPU per call by layer, no report")
    args = parser.parse_args()
    adapters = benchlib.require_baseline("requests.adapters", install="requests")
    agent = get_consul()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pool = ThreadPoolExecutor(CONCURRENCY)
    try:
        node = NodeConsulAdapterEffect(config=ModelConsulConfig(host=agent.host, port=agent.port))
        loop.run_until_complete(node.process(ModelConsulKVPutRequest(key=KEY, value=VALUE)))

        async def ours_get() -> bytes | None:
            result = await node.process(ModelConsulKVReadRequest(key=KEY))
            return None if result.entry is None else result.entry.value

        if args.profile:
            # CPU time, not wall time: on a shared machine a send() that wakes the agent can
            # lose the CPU for milliseconds, which says nothing about our per-call cost.
            profiler = cProfile.Profile(time.process_time)
            run = _throughput(loop, ours_get, args.ops)
            run()  # warm-up
            profiler.enable()
            print(f"ours: {run():.0f} ops/s under cProfile")  # noqa: T201 - the report
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            loop.run_until_complete(node.aclose())
            return

        session = loop.run_until_complete(_session())
        uncompressed = loop.run_until_complete(_session({"Accept-Encoding": "identity"}))
        url = f"{agent.addr}/v1/kv/{KEY}"

        async def raw_get() -> bytes | None:
            async with session.get(url) as resp:
                resp.raise_for_status()
                (item,) = await resp.json()
                return base64.b64decode(item["Value"])

        async def raw_uncompressed_get() -> bytes | None:
            async with uncompressed.get(url) as resp:
                resp.raise_for_status()
                (item,) = await resp.json()
                return base64.b64decode(item["Value"])

        if args.layers:
            _layers(loop, node, raw_get)
            loop.run_until_complete(session.close())
            loop.run_until_complete(node.aclose())
            return

        sync_client = consul.Consul(host=agent.host, port=agent.port)
        sync_client.http.session.mount(
            "http://", adapters.HTTPAdapter(pool_connections=1, pool_maxsize=CONCURRENCY)
        )

        async def threaded_get() -> bytes | None:
            _, item = await loop.run_in_executor(pool, sync_client.kv.get, KEY)
            value: bytes | None = item["Value"]
            return value

        # The same work on every side.
        for get in (ours_get, raw_get, raw_uncompressed_get, threaded_get):
            if loop.run_until_complete(get()) != VALUE:
                raise SystemExit(f"{get.__name__} did not read the value")

        records = benchlib.compare(
            f"kv_get c={CONCURRENCY}",
            "ops/s",
            _throughput(loop, ours_get, args.ops),
            {
                "aiohttp_direct": _throughput(loop, raw_get, args.ops),
                "aiohttp_direct_uncompressed": _throughput(loop, raw_uncompressed_get, args.ops),
                "python_consul_sync_threads": _throughput(loop, threaded_get, args.ops),
            },
            higher_is_better=True,
            targets={
                "aiohttp_direct": 0.85,
                "aiohttp_direct_uncompressed": 0.85,
                "python_consul_sync_threads": benchlib.BETTER_THAN,
            },
            rounds=args.rounds,
        )
        benchlib.write_report(args.output, records)
        loop.run_until_complete(uncompressed.close())
        loop.run_until_complete(session.close())
        loop.run_until_complete(node.aclose())
    finally:
        pool.shutdown()
        loop.close()
        agent.stop()


def _layers(
    loop: asyncio.AbstractEventLoop,
    node: NodeConsulAdapterEffect,
    raw_get: Callable[[], Awaitable[bytes | None]],
) -> None:
    """CPU time per call of each layer of ours, added in turn (see the module docstring)."""
    from omnibase_infra.effect.deadline import Deadline  # noqa: PLC0415

    api, breaker, request = node.api, node.breaker, ModelConsulKVReadRequest(key=KEY)
    assert breaker is not None  # noqa: S101 - the contract enables it

    async def transport() -> bytes | None:
        value: bytes | None = (await api.read_kv(KEY))[1][0]["Value"]
        return value

    async def guarded() -> bytes | None:
        async with breaker.guard(operation="kv_get", correlation_id=None):
            return await transport()

    async def deadline() -> bytes | None:
        async with Deadline(asyncio.get_running_loop().time() + 10):
            return await transport()

    async def runner() -> bytes | None:
        return (await node.run(request, lambda _: transport())).value

    async def typed_method() -> bytes | None:
        entry = (await node.kv_read(request)).entry
        return None if entry is None else entry.value

    async def process() -> bytes | None:
        entry = (await node.process(ModelConsulKVReadRequest(key=KEY))).entry
        return None if entry is None else entry.value

    layers = [raw_get, transport, guarded, deadline, runner, typed_method, process]

    def cpu_per_call(get: Callable[[], Awaitable[bytes | None]], calls: int = 800) -> float:
        async def worker(count: int) -> None:
            for _ in range(count):
                await get()

        started = time.process_time()
        loop.run_until_complete(asyncio.gather(*(worker(calls // CONCURRENCY) for _ in range(16))))
        return (time.process_time() - started) / calls * 1e6

    samples: dict[str, list[float]] = {layer.__name__: [] for layer in layers}
    for layer in layers:
        cpu_per_call(layer, 160)  # warm-up
    for round_index in range(7):
        shift = round_index % len(layers)
        for layer in layers[shift:] + layers[:shift]:
            samples[layer.__name__].append(cpu_per_call(layer))
    for name, values in samples.items():
        print(f"{name:13s} {statistics.median(values):6.1f} us CPU per call")  # noqa: T201


async def _session(headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers=headers)


if __name__ == "__main__":
    main()
