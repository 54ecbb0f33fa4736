"""Version 1.0.0 of ``node_vault_adapter_effect``: the node and its helpers."""

from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.cache import SecretCache
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.errors import to_infra_error
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.node import (
    ADDR_ENV,
    TOKEN_ENV,
    NodeVaultAdapterEffect,
)

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "ADDR_ENV",
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "TOKEN_ENV",
    "NodeVaultAdapterEffect",
    "SecretCache",
    "to_infra_error",
]
