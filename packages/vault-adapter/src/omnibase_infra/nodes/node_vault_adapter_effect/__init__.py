"""ONEX Vault EFFECT node of omnibase_infra (versioned implementations below)."""

from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0 import NodeVaultAdapterEffect

__all__ = ["NodeVaultAdapterEffect"]
