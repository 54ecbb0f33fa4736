"""bench(vault-adapter): KV v2 reads through the node against raw hvac on a thread pool of
the same size, on one OpenBao server, in one run, interleaved (``tools/benchlib.py``).

Workloads: ``kv_read`` uncached (target >= 0.9x raw hvac) and ``kv_read`` from the node's TTL
cache (target >= 20x raw hvac), both at concurrency 1. The node builds a request model per
call, as a caller does. Afterwards a cProfile of the uncached read shows where the node's
overhead goes (printed, and saved next to the report).

Server: an OpenBao dev server started by the test harness (``start_openbao``). Run by
``nox -s "bench(vault-adapter)"``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import benchlib  # type: ignore[import-not-found]  # tools/ on PYTHONPATH
import hvac  # type: ignore[import-untyped]
from pydantic import SecretStr

from omnibase_infra.models.vault import ModelVaultConfig, ModelVaultKvReadRequest
from omnibase_infra.nodes.node_vault_adapter_effect import NodeVaultAdapterEffect
from omnibase_infra_testing.services.openbao import OpenBaoService, start_openbao

PATH = "bench/app"
DATA = {"username": "app", "password": "bench-password", "url": "postgres://db:5432/app"}
TARGETS = {"uncached": 0.9, "cached": 20.0}

type Read = Callable[[], Awaitable[Any]]


class Contenders:
    """The node (uncached and cached) and raw hvac on an executor of the node's size."""

    def __init__(self, service: OpenBaoService) -> None:
        config = ModelVaultConfig(url=service.addr, token=SecretStr(service.root_token))
        self.config = config
        self.node = NodeVaultAdapterEffect(config=config)
        self.cached_node = NodeVaultAdapterEffect(
            config=config.model_copy(update={"cache_ttl_seconds": 3600.0})
        )
        self.client = hvac.Client(url=service.addr, token=service.root_token)
        self.executor = ThreadPoolExecutor(max_workers=config.max_workers)
        self.client.secrets.kv.v2.create_or_update_secret(path=PATH, secret=DATA)

    async def ours(self) -> Any:
        return await self.node.kv_read(ModelVaultKvReadRequest(path=PATH, use_cache=False))

    async def ours_cached(self) -> Any:
        return await self.cached_node.kv_read(ModelVaultKvReadRequest(path=PATH))

    async def hvac(self) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor,
            lambda: self.client.secrets.kv.v2.read_secret_version(
                path=PATH, mount_point="secret", raise_on_deleted_version=True
            ),
        )

    async def close(self) -> None:
        await self.node.close()
        await self.cached_node.close()
        self.executor.shutdown()
        self.client.adapter.close()


def _throughput(loop: asyncio.AbstractEventLoop, read: Read, ops: int) -> Callable[[], float]:
    """Reads per second of ``ops`` sequential reads."""

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(ops):
            await read()
        return ops / (time.perf_counter() - started)

    return lambda: loop.run_until_complete(run())


class _CannedClient:
    """The node's transport with the server's answer canned: the same pool hop, no HTTP."""

    def __init__(self, body: dict[str, Any], workers: int) -> None:
        self._body = body
        self._executor = ThreadPoolExecutor(max_workers=workers)

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._answer)

    def _answer(self) -> dict[str, Any]:
        return self._body

    def close(self) -> None:
        self._executor.shutdown()


def _node_overhead(
    loop: asyncio.AbstractEventLoop, contenders: Contenders, ops: int, rounds: int = 5
) -> str:
    """CPU per uncached read with the server's answer canned (no network: what the node
    itself costs), against a bare ``run_in_executor`` returning the same answer;
    interleaved, the median of ``rounds``."""
    body = contenders.client.secrets.kv.v2.read_secret_version(
        path=PATH, mount_point="secret", raise_on_deleted_version=True
    )
    node = NodeVaultAdapterEffect(config=contenders.config)
    canned = _CannedClient(body, contenders.config.max_workers)
    node._client = canned  # type: ignore[assignment]  # the engines call through node._client

    async def ours() -> None:
        for _ in range(ops):
            await node.kv_read(ModelVaultKvReadRequest(path=PATH, use_cache=False))

    async def bare() -> None:
        for _ in range(ops):
            await canned.call(lambda client: client)

    samples: dict[str, list[float]] = {"node": [], "bare": []}
    for _ in range(rounds):
        for name, run in (("node", ours), ("bare", bare)):
            started = time.process_time()
            loop.run_until_complete(run())
            samples[name].append((time.process_time() - started) / ops * 1e6)
    loop.run_until_complete(node.aclose())
    mine, theirs = statistics.median(samples["node"]), statistics.median(samples["bare"])
    return (
        f"CPU per kv_read with a canned answer ({ops} calls, median of {rounds}): node"
        f" {mine:.1f} us, bare run_in_executor {theirs:.1f} us, node overhead"
        f" {mine - theirs:.1f} us\n"
    )


def _profile(loop: asyncio.AbstractEventLoop, contenders: Contenders, ops: int) -> str:
    """CPU per uncached read, node against raw hvac; the node's own overhead with a canned
    answer; then a cProfile of the node's reads."""

    async def repeat(read: Read) -> None:
        for _ in range(ops):
            await read()

    out = io.StringIO()
    cpu: dict[str, float] = {}
    for name, read in (("node", contenders.ours), ("hvac", contenders.hvac)):
        started = time.process_time()
        loop.run_until_complete(repeat(read))
        cpu[name] = (time.process_time() - started) / ops * 1e6
    out.write(
        f"CPU per kv_read (client process incl. threads, {ops} calls): node {cpu['node']:.1f} us,"
        f" hvac {cpu['hvac']:.1f} us, node overhead {cpu['node'] - cpu['hvac']:.1f} us\n"
    )
    out.write(_node_overhead(loop, contenders, ops))
    profiler = cProfile.Profile()
    profiler.enable()
    loop.run_until_complete(repeat(contenders.ours))
    profiler.disable()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(
        r"node|client|kv|runner|breaker|resilience|retry|deadline|timeouts|main|pydantic", 25
    )
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (smoke run)")
    args = parser.parse_args()
    ops = 100 if args.quick else 500

    service = start_openbao()
    loop = asyncio.new_event_loop()
    contenders: Contenders | None = None
    try:
        contenders = Contenders(service)
        loop.run_until_complete(contenders.ours_cached())  # fills the cache
        records: list[benchlib.BenchRecord] = []
        for name, ours in (("uncached", contenders.ours), ("cached", contenders.ours_cached)):
            records += benchlib.compare(
                f"kv_read {name} c=1",
                "ops/s",
                _throughput(loop, ours, ops),
                {"hvac_executor": _throughput(loop, contenders.hvac, ops)},
                higher_is_better=True,
                targets=TARGETS[name],
                rounds=args.rounds,
            )
        benchlib.write_report(args.output, records)
        profile = _profile(loop, contenders, ops)
        profile_path = args.output.with_suffix(".profile.txt")
        profile_path.write_text(profile)
        sys.stdout.write(f"{profile}\nprofile: {profile_path}\n")
    finally:
        if contenders is not None:
            loop.run_until_complete(contenders.close())
        loop.close()
        service.stop()
    missed = [r for r in records if r.met is False]
    return 0 if not missed or os.environ.get("BENCH_ALLOW_MISS", "1") == "1" else 1


if __name__ == "__main__":
    sys.exit(main())
