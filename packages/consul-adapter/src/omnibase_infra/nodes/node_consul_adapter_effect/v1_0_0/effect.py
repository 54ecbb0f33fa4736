"""``NodeConsulAdapterEffect``: Consul service discovery and KV as an ONEX EFFECT node.

The node owns a :class:`ConsulClient` (one agent, one breaker, an aiohttp transport for
python-consul) and exposes it as :attr:`client`. Typed dispatch through ``process()`` is not
built yet (see the package README's Status section).
"""

from __future__ import annotations

import os
from typing import Final

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import NodeEffect
from pydantic import SecretStr

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.client import ConsulClient
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import TRANSPORT
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import BreakerRegistry

__all__ = ["ADDR_ENV", "TOKEN_ENV", "NodeConsulAdapterEffect", "config_from_env"]

ADDR_ENV: Final = "OMNIBASE_INFRA_CONSUL_ADDR"
TOKEN_ENV: Final = "OMNIBASE_INFRA_CONSUL_TOKEN"  # noqa: S105 (a variable name)


def config_from_env(environ: dict[str, str] | None = None) -> ModelConsulConfig:
    """``OMNIBASE_INFRA_CONSUL_ADDR`` (``[http[s]://]host:port``, default
    ``http://127.0.0.1:8500``) and ``OMNIBASE_INFRA_CONSUL_TOKEN``."""
    env = os.environ if environ is None else environ
    addr = env.get(ADDR_ENV, "").strip() or "http://127.0.0.1:8500"
    scheme, _, rest = addr.rpartition("://")
    host, _, port = rest.rpartition(":")
    token = env.get(TOKEN_ENV, "").strip()
    try:
        return ModelConsulConfig(
            scheme=scheme or "http",
            host=host,
            port=int(port),
            token=SecretStr(token) if token else None,
        )
    except ValueError as exc:
        raise InfraConfigurationError(
            f"{ADDR_ENV} must be [http[s]://]host:port",
            transport=TRANSPORT,
            operation="configure",
        ) from exc


class NodeConsulAdapterEffect(NodeEffect):
    """Consul EFFECT node; ``config`` defaults to :func:`config_from_env`."""

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelConsulConfig | None = None,
        retry_policy: ModelRetryPolicy | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())
        self.client = ConsulClient(
            config if config is not None else config_from_env(),
            retry_policy=retry_policy,
            breakers=breakers,
        )

    async def close(self) -> None:
        """Close the node's HTTP connections."""
        await self.client.close()
