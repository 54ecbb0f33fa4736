"""``python -m omnibase_infra.nodes.node_webhook_effect.v1_0_0``: send, dead-letters, replay.

The signing secret(s) come from ``OMNIBASE_INFRA_WEBHOOK_SECRET`` (``whsec_...``, several
space-separated during a rotation), never from the command line where other users could see
them. ``send``'s URL comes from the command line or ``OMNIBASE_INFRA_WEBHOOK_URL``; one that
holds a token (``?token=...``) is refused on the command line. The outbox is a SQLite file
(``--outbox``). Output is JSON. Exit status: 0 success (for send: delivered), 1 an error or
a dead-lettered message (printed redacted), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Final, TextIO

from pydantic import SecretStr, ValidationError

from omnibase_infra.errors import InfraError, error_to_safe_dict, summarize_validation_error
from omnibase_infra.models.webhook import ModelWebhookConfig, ModelWebhookSendRequest
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.effect import NodeWebhookEffect
from omnibase_infra.redaction import carries_secret

SECRET_ENV: Final = "OMNIBASE_INFRA_WEBHOOK_SECRET"  # noqa: S105 - a variable name
URL_ENV: Final = "OMNIBASE_INFRA_WEBHOOK_URL"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m omnibase_infra.nodes.node_webhook_effect.v1_0_0"
    )
    parser.add_argument("--outbox", required=True, help="SQLite file of the outbox")
    parser.add_argument(
        "--allow-network",
        action="append",
        default=[],
        help="CIDR allowed although private/loopback (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for send/replay")
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send", help="sign and deliver one event (JSON payload on stdin)")
    send.add_argument(
        "url",
        nargs="?",
        help=f"the endpoint (default ${URL_ENV}; with a token in it: the variable)",
    )
    send.add_argument("--event-type", default="event")
    send.add_argument("--message-id", default=None)
    letters = sub.add_parser("dead-letters", help="list dead letters")
    letters.add_argument("--limit", type=int, default=100)
    replay = sub.add_parser("replay", help="deliver a dead letter again (same webhook-id)")
    replay.add_argument("message_id")
    return parser


def _secrets() -> tuple[SecretStr, ...]:
    return tuple(SecretStr(s) for s in os.environ.get(SECRET_ENV, "").split())


async def _run(args: argparse.Namespace) -> tuple[int, Any]:
    config = ModelWebhookConfig(
        outbox_path=args.outbox,
        allow_networks=tuple(args.allow_network),
        total_timeout_seconds=min(15.0, args.timeout),
        connect_timeout_seconds=min(5.0, args.timeout),
    )
    secrets = _secrets()
    if args.command == "dead-letters":
        node = NodeWebhookEffect(config=config)
        try:
            letters = await node.dead_letters(args.limit)
            return 0, [letter.model_dump(mode="json") for letter in letters]
        finally:
            await node.close()
    if not secrets:
        raise ValueError(f"set {SECRET_ENV} to the signing secret(s)")
    if args.command == "send":
        payload = json.loads(sys.stdin.read() or "null")
        fields: dict[str, Any] = {
            "url": args.url or os.environ.get(URL_ENV, "").strip(),
            "secrets": secrets,
            "event_type": args.event_type,
            "payload": payload,
            "timeout_seconds": args.timeout,
        }
        if args.message_id:
            fields["message_id"] = args.message_id
        request = ModelWebhookSendRequest.model_validate(fields)
        node = NodeWebhookEffect(config=config)
        try:
            result = await node.send(request)
        finally:
            await node.close()
    else:
        probe = NodeWebhookEffect(config=config)
        try:
            stored = await probe.store.get(args.message_id)
        finally:
            await probe.close()
        endpoint = {stored.url: secrets} if stored is not None else {}
        node = NodeWebhookEffect(config=config, endpoint_secrets=endpoint)
        try:
            async with asyncio.timeout(args.timeout):
                result = await node.replay(args.message_id)
        finally:
            await node.close()
    return (0 if result.success else 1), result.model_dump(mode="json")


def _emit(stream: TextIO, value: object) -> None:
    stream.write(json.dumps(value, indent=2) + "\n")
    stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "send":
        if args.url and carries_secret(args.url):
            # Capability URLs hold their token: a command line is visible to other users.
            parser.error(
                f"the URL holds a token or password, and a command line is visible to other "
                f"users: set {URL_ENV} to it and leave the argument out"
            )
        if not args.url and not os.environ.get(URL_ENV, "").strip():
            parser.error(f"no URL: give it as the argument or set {URL_ENV}")
    try:
        code, out = asyncio.run(_run(args))
    except InfraError as exc:
        _emit(sys.stderr, {"error": error_to_safe_dict(exc)})
        return 1
    except ValidationError as exc:
        _emit(sys.stderr, {"error": summarize_validation_error(exc)})
        return 1
    except ValueError as exc:
        _emit(sys.stderr, {"error": str(exc)})
        return 1
    _emit(sys.stdout, out)
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess
    sys.exit(main())
