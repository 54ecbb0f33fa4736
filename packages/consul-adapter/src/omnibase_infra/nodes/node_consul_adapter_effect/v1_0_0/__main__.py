"""Run one Consul operation from the command line; the result is printed as JSON.

    python -m omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0 kv-get config/app

The agent comes from ``OMNIBASE_INFRA_CONSUL_HOST``/``_PORT``/``_SCHEME`` (default
``http://127.0.0.1:8500``), the ACL token from ``OMNIBASE_INFRA_CONSUL_TOKEN`` (never from the
command line, which other users of the machine can see). Exit status: 0 success, 1 the
operation failed (the error, redacted, as JSON on standard output), 2 usage error or a
request the node refuses (such as an unsafe key).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import ValidationError

from omnibase_infra.errors import InfraError, error_to_safe_dict, summarize_validation_error
from omnibase_infra.models.consul import (
    ModelConsulCatalogRequest,
    ModelConsulHealthyInstancesRequest,
    ModelConsulKVDeleteRequest,
    ModelConsulKVEntry,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.node import NodeConsulAdapterEffect

__all__ = ["build_parser", "main"]

PROG = "python -m omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0"


def build_parser() -> argparse.ArgumentParser:
    """Global options, then one sub-command per operation."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="the operation's deadline in seconds"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="operation")
    sub.add_parser("kv-get", help="one key").add_argument("key")
    put = sub.add_parser("kv-put", help="write a key (text value)")
    put.add_argument("key")
    put.add_argument("value")
    put.add_argument("--cas", type=int, default=None, help="0: create only")
    delete = sub.add_parser("kv-delete", help="delete a key")
    delete.add_argument("key")
    delete.add_argument("--recurse", action="store_true")
    sub.add_parser("healthy", help="passing instances of a service").add_argument("service")
    sub.add_parser("services", help="catalog services and their tags")
    return parser


def _entry(entry: ModelConsulKVEntry | None) -> Any:
    if entry is None:
        return None
    data = entry.model_dump(mode="json", exclude={"value"})
    value = entry.value
    try:
        data["value"] = None if value is None else value.decode()
    except UnicodeDecodeError:
        data["value_base64"] = base64.b64encode(value or b"").decode()
    return data


async def _run(args: argparse.Namespace, node: NodeConsulAdapterEffect) -> Any:
    timeout = args.timeout
    match args.command:
        case "kv-get":
            read = ModelConsulKVReadRequest(key=args.key, timeout_seconds=timeout)
            return _entry((await node.kv_read(read)).entry)
        case "kv-put":
            await node.kv_put(
                ModelConsulKVPutRequest(
                    key=args.key, value=args.value.encode(), cas=args.cas, timeout_seconds=timeout
                )
            )
            return {"written": args.key}
        case "kv-delete":
            await node.kv_delete(
                ModelConsulKVDeleteRequest(
                    key=args.key, recurse=args.recurse, timeout_seconds=timeout
                )
            )
            return {"deleted": args.key}
        case "healthy":
            found = await node.healthy_instances(
                ModelConsulHealthyInstancesRequest(service=args.service, timeout_seconds=timeout)
            )
            return [instance.model_dump(mode="json") for instance in found.instances]
        case _:
            services = await node.catalog(ModelConsulCatalogRequest(timeout_seconds=timeout))
            return services.model_dump()["services"]


async def _main(args: argparse.Namespace) -> Any:
    async with NodeConsulAdapterEffect() as node:
        return await _run(args, node)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Parse ``argv``, run the operation, print JSON; returns the exit status."""
    stream = out if out is not None else sys.stdout
    args = build_parser().parse_args(argv)
    try:
        result = asyncio.run(_main(args))
    except InfraError as exc:
        print(json.dumps({"error": error_to_safe_dict(exc)}), file=stream)
        return 1
    except ValidationError as exc:  # a key the node refuses, before any request
        message = summarize_validation_error(exc, root="request")
        print(json.dumps({"error": {"message": f"invalid request: {message}"}}), file=stream)
        return 2
    print(json.dumps(result), file=stream)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
