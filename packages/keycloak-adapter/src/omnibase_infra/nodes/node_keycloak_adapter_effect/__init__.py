"""ONEX Keycloak/OIDC EFFECT node of omnibase_infra (versioned implementations below)."""

from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0 import NodeKeycloakAdapterEffect

__all__ = ["NodeKeycloakAdapterEffect"]
