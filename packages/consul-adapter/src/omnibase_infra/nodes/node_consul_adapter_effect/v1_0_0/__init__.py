"""Version 1.0.0 of ``node_consul_adapter_effect``: the node, its lock and watches.

Importing it loads neither aiohttp nor python-consul: the transport (``transport.py``,
``AioConsul``/``AioHttpTransport``) is imported when the node first talks to the agent, or
on first access of those two names here.
"""

from typing import TYPE_CHECKING, Any

from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.errors import (
    ConsulStatusError,
    map_consul_error,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.lock import ConsulLock
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.node import (
    BLOCKING_OPERATIONS,
    CONTRACT_PACKAGE,
    NodeConsulAdapterEffect,
    encode_value,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.settings import (
    ADDR_ENV,
    ENV_NAME,
    TOKEN_ENV,
    config_from_env,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.watch import (
    ConsulCatalogWatch,
    ConsulHealthWatch,
    ConsulKVWatch,
    ConsulWatch,
)

if TYPE_CHECKING:
    from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import (
        AioConsul,
        AioHttpTransport,
    )

CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "ADDR_ENV",
    "BLOCKING_OPERATIONS",
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "ENV_NAME",
    "TOKEN_ENV",
    "AioConsul",
    "AioHttpTransport",
    "ConsulCatalogWatch",
    "ConsulHealthWatch",
    "ConsulKVWatch",
    "ConsulLock",
    "ConsulStatusError",
    "ConsulWatch",
    "NodeConsulAdapterEffect",
    "config_from_env",
    "encode_value",
    "map_consul_error",
]

_TRANSPORT_NAMES = frozenset({"AioConsul", "AioHttpTransport"})


def __getattr__(name: str) -> Any:
    # The transport imports aiohttp and python-consul: only when asked for.
    if name in _TRANSPORT_NAMES:
        from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0 import transport  # noqa: PLC0415

        return getattr(transport, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
