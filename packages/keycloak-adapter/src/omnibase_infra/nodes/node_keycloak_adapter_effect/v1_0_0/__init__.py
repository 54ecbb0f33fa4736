"""Version 1.0.0 of ``node_keycloak_adapter_effect``: the node and its helpers."""

from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.effect import (
    AUDIENCE_ENV,
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    ISSUER_ENV,
    NodeKeycloakAdapterEffect,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwks import JwksCache

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "AUDIENCE_ENV",
    "CLIENT_ID_ENV",
    "CLIENT_SECRET_ENV",
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "ISSUER_ENV",
    "JwksCache",
    "NodeKeycloakAdapterEffect",
]
