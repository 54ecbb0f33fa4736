"""Version 1.0.0 of ``node_consul_adapter_effect``: the node, its client and transport."""

from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.client import ConsulClient, KVValue
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.effect import (
    ADDR_ENV,
    TOKEN_ENV,
    NodeConsulAdapterEffect,
    config_from_env,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.lock import ConsulLock
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import (
    AioConsul,
    AioHttpTransport,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.watch import (
    ConsulCatalogWatch,
    ConsulHealthWatch,
    ConsulKVWatch,
    ConsulWatch,
)

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "ADDR_ENV",
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "TOKEN_ENV",
    "AioConsul",
    "AioHttpTransport",
    "ConsulCatalogWatch",
    "ConsulClient",
    "ConsulHealthWatch",
    "ConsulKVWatch",
    "ConsulLock",
    "ConsulWatch",
    "KVValue",
    "NodeConsulAdapterEffect",
    "config_from_env",
]
