"""bench(keycloak-adapter): local verification of a valid access token through the node
against PyJWT decoding the same token with the key in hand, in one run, interleaved
(``tools/benchlib.py``); target >= 0.9x.

Both sides check the same things: RS256 signature, ``iss``, ``aud``, ``exp``/``nbf``/``iat``
with a 10 s leeway, the required ``exp``/``iss`` claims. The node also looks the key up in
its JWKS cache by ``kid``, checks the algorithm allow-list and the key's fit, and builds the
typed claims (roles pulled out); it parses the compact token itself and verifies the
signature with PyJWT's algorithm object (see the README for why not ``jwt.decode``).
Two workloads: ``verify_token`` (the node's hot path) and ``verify`` (a typed request model
built per call, with its span and metrics, as ``process`` callers do; no target).

Network requests are counted by the node (an aiohttp trace hook): after warm-up (discovery
+ one JWKS fetch) every verification must cost zero requests; the counts go into the report
as a record (``network requests per verification``, target: zero).

Server: the harness's Keycloak-compatible OIDC server (``start_oidc``). Run by
``nox -s "bench(keycloak-adapter)"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import benchlib  # type: ignore[import-not-found]  # tools/ on PYTHONPATH
import jwt
from pydantic import SecretStr

from omnibase_infra.models.keycloak import (
    ModelKeycloakConfig,
    ModelKeycloakTokenRequest,
    ModelKeycloakVerifyRequest,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra_testing.services.oidc import default_realm_config, start_oidc

TARGET = 0.9


def _rate(
    loop: asyncio.AbstractEventLoop, verify: Callable[[], object], ops: int
) -> Callable[[], float]:
    """Verifications per second of ``ops`` sequential calls (awaited when a coroutine)."""

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(ops):
            result = verify()
            if asyncio.iscoroutine(result):
                await result
        return ops / (time.perf_counter() - started)

    return lambda: loop.run_until_complete(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (smoke run)")
    args = parser.parse_args()
    ops = 500 if args.quick else 3000

    service = start_oidc(default_realm_config())
    loop = asyncio.new_event_loop()
    client = service.client("omnibase-service")
    node = NodeKeycloakAdapterEffect(
        config=ModelKeycloakConfig(
            issuer=service.issuer,
            client_id=client.client_id,
            client_secret=SecretStr(client.secret or ""),
            audience=("account",),
        )
    )
    records: list[benchlib.BenchRecord] = []
    try:
        token = loop.run_until_complete(
            node.token(ModelKeycloakTokenRequest())
        ).access_token.get_secret_value()
        loop.run_until_complete(node.verify_token(token))  # warm-up: discovery + JWKS
        warm = node.total_network_requests

        # The baseline: PyJWT with the key already in hand (the same JWK the node fetched).
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(
            k for k in jwt.PyJWKClient(service.jwks_url).get_jwk_set().keys if k.key_id == kid
        ).key
        decoder = jwt.PyJWT({"require": ["exp", "iss"]})

        def pyjwt_decode() -> object:
            return decoder.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=["account"],
                issuer=service.issuer,
                leeway=10.0,
            )

        def node_verify_token() -> object:
            return node.verify_token(token)

        def node_verify() -> object:
            return node.verify(ModelKeycloakVerifyRequest(token=SecretStr(token)))

        for name, ours, target in (
            ("verify_token", node_verify_token, TARGET),
            ("verify (request model)", node_verify, None),
        ):
            records += benchlib.compare(
                f"local {name} RS256 c=1",
                "verifications/s",
                _rate(loop, ours, ops),
                {"pyjwt_decode_key_in_hand": _rate(loop, pyjwt_decode, ops)},
                higher_is_better=True,
                targets=target,
                rounds=args.rounds,
            )
        verifications = 2 * args.rounds * ops
        after = node.total_network_requests - warm
        per_verification = after / verifications
        # Zero requests per verification: "ratio" is 1 when it is zero (met), else 0.
        records.append(
            benchlib.BenchRecord(
                benchmark=f"network requests per verification after warm-up ({verifications} "
                "verifications)",
                unit="requests/verification",
                ours=per_verification,
                baseline="zero",
                baseline_value=0.0,
                ratio=1.0 if after == 0 else 0.0,
                target=1.0,
                strict=False,
                met=after == 0,
            )
        )
        benchlib.write_report(args.output, records)
        sys.stdout.write(
            json.dumps(
                {
                    "network_requests_warm_up": warm,
                    "network_requests_after_warm_up": after,
                    "by_endpoint": dict(node.network_requests),
                }
            )
            + "\n"
        )
    finally:
        loop.run_until_complete(node.close())
        loop.close()
        service.stop()
    missed = [r for r in records if r.met is False]
    return 0 if not missed or os.environ.get("BENCH_ALLOW_MISS", "1") == "1" else 1


if __name__ == "__main__":
    sys.exit(main())
