"""ONEX Consul EFFECT node of omnibase_infra (versioned implementations below)."""

from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0 import (
    AioConsul,
    ConsulCatalogWatch,
    ConsulClient,
    ConsulHealthWatch,
    ConsulKVWatch,
    ConsulLock,
    ConsulWatch,
    NodeConsulAdapterEffect,
)

__all__ = [
    "AioConsul",
    "ConsulCatalogWatch",
    "ConsulClient",
    "ConsulHealthWatch",
    "ConsulKVWatch",
    "ConsulLock",
    "ConsulWatch",
    "NodeConsulAdapterEffect",
]
