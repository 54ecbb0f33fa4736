"""ONEX Consul EFFECT node of omnibase_infra (versioned implementations below)."""

from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0 import (
    AioConsul,
    ConsulClient,
    ConsulKVWatch,
    ConsulLock,
    NodeConsulAdapterEffect,
)

__all__ = ["AioConsul", "ConsulClient", "ConsulKVWatch", "ConsulLock", "NodeConsulAdapterEffect"]
