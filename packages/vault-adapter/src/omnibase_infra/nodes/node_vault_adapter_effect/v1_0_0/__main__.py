"""``python -m omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0``: read, write, list.

Server and token come from ``OMNIBASE_INFRA_VAULT_URL`` and ``OMNIBASE_INFRA_VAULT_TOKEN``
(every ``OMNIBASE_INFRA_VAULT_<FIELD>`` applies; never from the command line, where other
users could see them). Output is JSON; secret
values print as ``***`` unless ``--reveal``. Values to write are read as a JSON object on
standard input. Exit status: 0 success, 1 an error (printed redacted, as JSON), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from omnibase_infra.errors import InfraError, error_to_safe_dict
from omnibase_infra.models.vault import (
    ModelVaultKvListRequest,
    ModelVaultKvReadRequest,
    ModelVaultKvWriteRequest,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.node import NodeVaultAdapterEffect
from omnibase_infra.redaction import MASK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0"
    )
    parser.add_argument("--mount", default=None, help="KV v2 mount point (default: secret)")
    sub = parser.add_subparsers(dest="command", required=True)
    read = sub.add_parser("read", help="read a secret")
    read.add_argument("path")
    read.add_argument("--version", type=int, default=None)
    read.add_argument("--reveal", action="store_true", help="print secret values")
    write = sub.add_parser("write", help="write a JSON object from stdin as a new version")
    write.add_argument("path")
    write.add_argument("--cas", type=int, default=None)
    listing = sub.add_parser("list", help="list keys under a path")
    listing.add_argument("path", nargs="?", default="")
    return parser


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    node = NodeVaultAdapterEffect()
    try:
        if args.command == "read":
            secret = await node.kv_read(
                ModelVaultKvReadRequest(
                    path=args.path, version=args.version, mount_point=args.mount
                )
            )
            out = secret.model_dump(mode="json")
            out["data"] = (
                None
                if secret.data is None
                else {
                    k: v.get_secret_value() if args.reveal else MASK for k, v in secret.data.items()
                }
            )
            return out
        if args.command == "write":
            values = json.loads(sys.stdin.read())
            if not isinstance(values, dict):
                raise ValueError("stdin must hold a JSON object")
            written = await node.kv_write(
                ModelVaultKvWriteRequest(
                    path=args.path,
                    data={str(k): SecretStr(str(v)) for k, v in values.items()},
                    cas=args.cas,
                    mount_point=args.mount,
                )
            )
            return written.model_dump(mode="json")
        listed = await node.kv_list(ModelVaultKvListRequest(path=args.path, mount_point=args.mount))
        return listed.model_dump(mode="json")
    finally:
        await node.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result = asyncio.run(_run(args))
    except (InfraError, ValueError) as exc:
        sys.stderr.write(json.dumps({"error": error_to_safe_dict(exc)}) + "\n")
        return 1
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
