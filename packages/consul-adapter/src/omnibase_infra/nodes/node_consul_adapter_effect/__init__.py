"""ONEX Consul EFFECT node of omnibase_infra: its whole public surface (the versioned
implementation is ``v1_0_0``). Importing it loads neither aiohttp nor python-consul."""

from typing import TYPE_CHECKING, Any

from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0 import (
    ADDR_ENV,
    BLOCKING_OPERATIONS,
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
    ENV_NAME,
    TOKEN_ENV,
    ConsulCatalogWatch,
    ConsulHealthWatch,
    ConsulKVWatch,
    ConsulLock,
    ConsulStatusError,
    ConsulWatch,
    NodeConsulAdapterEffect,
    config_from_env,
    encode_value,
    map_consul_error,
)

if TYPE_CHECKING:
    from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import (
        AioConsul,
        AioHttpTransport,
    )

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


def __getattr__(name: str) -> Any:
    # AioConsul and AioHttpTransport import aiohttp and python-consul: only when asked for.
    if name in ("AioConsul", "AioHttpTransport"):
        from omnibase_infra.nodes.node_consul_adapter_effect import v1_0_0  # noqa: PLC0415

        return getattr(v1_0_0, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
