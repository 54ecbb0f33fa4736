"""``python -m omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0``: token, verify,
introspect.

The realm and the client come from ``OMNIBASE_INFRA_KEYCLOAK_ISSUER``,
``OMNIBASE_INFRA_KEYCLOAK_CLIENT_ID`` and ``OMNIBASE_INFRA_KEYCLOAK_CLIENT_SECRET``; a user's
password and the token to verify or introspect are read from standard input (never from the
command line, where other users could see them). Output is JSON; tokens print as ``***``
unless ``--reveal``. Exit status: 0 success, 1 an error (printed redacted, as JSON), 2 usage.
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
from omnibase_infra.models.keycloak import (
    ModelKeycloakIntrospectRequest,
    ModelKeycloakTokenRequest,
    ModelKeycloakVerifyRequest,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.effect import (
    NodeKeycloakAdapterEffect,
)
from omnibase_infra.redaction import MASK

_SECRETS = ("access_token", "refresh_token", "id_token")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token", help="obtain a token (client credentials, or a password)")
    token.add_argument("--username", help="password grant for this user (password on stdin)")
    token.add_argument("--scope", default=None)
    token.add_argument("--reveal", action="store_true", help="print the tokens")
    verify = sub.add_parser("verify", help="verify an access token read from stdin, locally")
    verify.add_argument("--audience", action="append", required=True, help="expected aud")
    sub.add_parser("introspect", help="introspect a token read from stdin")
    return parser


def _stdin_secret(what: str) -> SecretStr:
    value = sys.stdin.readline().strip()
    if not value:
        raise ValueError(f"expected the {what} on standard input")
    return SecretStr(value)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    node = NodeKeycloakAdapterEffect()
    try:
        if args.command == "token":
            if args.username:
                request = ModelKeycloakTokenRequest(
                    grant_type="password",
                    username=args.username,
                    password=_stdin_secret("password"),
                    scope=args.scope,
                )
            else:
                request = ModelKeycloakTokenRequest(scope=args.scope)
            token = await node.token(request)
            out = token.model_dump(mode="json")
            for name in _SECRETS:
                value = getattr(token, name)
                out[name] = (
                    None if value is None else (value.get_secret_value() if args.reveal else MASK)
                )
            return out
        if args.command == "verify":
            claims = await node.verify(
                ModelKeycloakVerifyRequest(
                    token=_stdin_secret("token"), audience=tuple(args.audience)
                )
            )
            return claims.model_dump(mode="json")
        introspection = await node.introspect(
            ModelKeycloakIntrospectRequest(token=_stdin_secret("token"))
        )
        return introspection.model_dump(mode="json")
    finally:
        await node.close()


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
