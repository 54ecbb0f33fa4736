"""Every embedded service at once, outside pytest: for the demo and the ``onex-infra`` CLI.

:func:`embedded_services` starts PostgreSQL (embedded, or the external server of
``OMNIBASE_INFRA_TEST_POSTGRES_DSN``), an OpenBao dev server, a Consul dev agent (or
``CONSUL_HTTP_ADDR``), the Keycloak-compatible OIDC server and a recording webhook receiver
on 127.0.0.1, side by side in threads, and stops all of them when the block ends (also when
one of them failed to start). The same start functions serve the pytest fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, cast

from omnibase_infra_testing.services.consul import ConsulService, get_consul
from omnibase_infra_testing.services.oidc import OidcService, start_oidc
from omnibase_infra_testing.services.openbao import OpenBaoService, start_openbao
from omnibase_infra_testing.services.postgres import PostgresService, start_postgres
from omnibase_infra_testing.services.receiver import WebhookReceiver, start_webhook_receiver

__all__ = ["EmbeddedServices", "embedded_services"]


class _Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass(frozen=True)
class EmbeddedServices:
    """The running services; ``describe()`` says where each one listens (no secrets)."""

    postgres: PostgresService
    openbao: OpenBaoService
    consul: ConsulService
    oidc: OidcService
    receiver: WebhookReceiver

    def describe(self) -> dict[str, str]:
        pg = self.postgres
        return {
            "postgres": f"{pg.host}:{pg.port} ({'external' if pg.external else 'embedded'})",
            "vault": f"{self.openbao.addr} (OpenBao dev server)",
            "consul": f"{self.consul.addr} ({'external' if self.consul.external else 'dev agent'})",
            "oidc": f"{self.oidc.issuer} (oidc-provider with Keycloak paths)",
            "webhook receiver": self.receiver.url,
        }


@contextlib.contextmanager
def embedded_services() -> Iterator[EmbeddedServices]:
    """Start every service (in parallel), yield them, stop them all at the end."""
    starters: dict[str, Callable[[], _Stoppable]] = {
        "postgres": start_postgres,
        "openbao": start_openbao,
        "consul": get_consul,
        "oidc": start_oidc,
        "receiver": start_webhook_receiver,
    }
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(starters)) as pool:
        futures = {name: pool.submit(start) for name, start in starters.items()}
        started: dict[str, _Stoppable] = {}
        errors: list[BaseException] = []
        for name, future in futures.items():
            try:
                started[name] = future.result()
            except Exception as exc:
                errors.append(exc)
            else:
                stack.callback(started[name].stop)
        if errors:
            raise errors[0]
        yield EmbeddedServices(
            postgres=cast(PostgresService, started["postgres"]),
            openbao=cast(OpenBaoService, started["openbao"]),
            consul=cast(ConsulService, started["consul"]),
            oidc=cast(OidcService, started["oidc"]),
            receiver=cast(WebhookReceiver, started["receiver"]),
        )
