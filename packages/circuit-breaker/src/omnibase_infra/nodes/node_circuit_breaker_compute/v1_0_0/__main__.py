"""Print the shared state of circuit breakers from a Redis breaker store, as JSON.

    python -m omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0 postgres db:5432
    python -m omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0          # every breaker

The Redis URL comes from ``OMNIBASE_INFRA_REDIS_URL``, from the first line of standard
input (``--redis-url-stdin``), or from ``--redis-url`` when it holds no password: command
lines are visible to other users, so ``--redis-url`` with one is refused.
Exit status: 0 printed, 1 the store failed (a redacted error on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraError, error_to_safe_dict
from omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0.redis_store import (
    DEFAULT_PREFIX,
    RedisBreakerStore,
)
from omnibase_infra.redaction import credential_from_command_line
from omnibase_infra.resilience.breaker import BreakerKey

URL_ENV = "OMNIBASE_INFRA_REDIS_URL"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m omnibase_infra.nodes.node_circuit_breaker_compute.v1_0_0",
        description="Print circuit-breaker state shared in Redis, as JSON.",
    )
    parser.add_argument(
        "transport",
        nargs="?",
        choices=[t.value for t in EnumTransport],
        help="the breaker's transport; omit it (and the target) to list every breaker",
    )
    parser.add_argument("target", nargs="?", help="the breaker's target, e.g. db:5432")
    parser.add_argument(
        "--redis-url",
        help=f"redis://host:port/db without a password (default: ${URL_ENV}; with a "
        "password: the variable or --redis-url-stdin)",
    )
    parser.add_argument(
        "--redis-url-stdin",
        action="store_true",
        help="read the Redis URL from the first line of standard input",
    )
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix of the store")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds per Redis operation (default 2)"
    )
    return parser


async def _describe(store: RedisBreakerStore, key: BreakerKey, now: float) -> dict[str, Any]:
    record = await store.load(key)
    described: dict[str, Any] = {
        "breaker": str(key),
        "transport": key.transport.value,
        "target": key.target,
        "stored": record is not None,
        "state": None,
        "version": 0,
        "open_until": None,
        "open_for_seconds": None,
        "trip_count": 0,
        "updated_at": None,
        "reason": None,
        "probes_held": await store.probes_held(key, now=now),
    }
    if record is not None:
        described |= {
            "state": record.state.value,
            "version": record.version,
            "open_until": record.open_until,
            "open_for_seconds": (
                None if record.open_until is None else max(0.0, record.open_until - now)
            ),
            "trip_count": record.trip_count,
            "updated_at": record.updated_at,
            "reason": record.reason,
        }
    return described


async def _run(store: RedisBreakerStore, key: BreakerKey | None) -> object:
    async with store:
        now = time.time()
        if key is not None:
            return await _describe(store, key, now)
        return [await _describe(store, found, now) for found in await store.keys()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.transport is None) != (args.target is None):
        parser.error("give both TRANSPORT and TARGET, or neither")
    url = credential_from_command_line(
        parser.error,
        what="Redis URL",
        option="--redis-url",
        value=args.redis_url,
        from_stdin=args.redis_url_stdin,
        env=URL_ENV,
    )
    key = None if args.target is None else BreakerKey(EnumTransport(args.transport), args.target)
    try:
        store = RedisBreakerStore.from_url(
            SecretStr(url), prefix=args.prefix, timeout_seconds=args.timeout
        )
        result = asyncio.run(_run(store, key))
    except InfraError as exc:
        sys.stderr.write(json.dumps({"error": error_to_safe_dict(exc)}) + "\n")
        return 1
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover - run in a subprocess by the tests
    sys.exit(main())
