"""Version 1.0.0 of ``node_keycloak_adapter_effect``: the node and its helpers."""

from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.admin import (
    REQUIRED_ADMIN_ROLES,
    required_role,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.discovery import RealmEndpoints
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.effect import (
    AUDIENCE_ENV,
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    ENV_NAME,
    ISSUER_ENV,
    NodeKeycloakAdapterEffect,
    config_from_env,
    keycloak_telemetry,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    KeycloakGrantError,
    KeycloakInvalidClientError,
    KeycloakInvalidGrantError,
    KeycloakTokenError,
    TokenAlgorithmError,
    TokenAudienceError,
    TokenExpiredError,
    TokenIssuerError,
    TokenMalformedError,
    TokenNotYetValidError,
    TokenSignatureError,
    TokenUnknownKeyError,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwks import JwksCache, SigningKey

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "AUDIENCE_ENV",
    "CLIENT_ID_ENV",
    "CLIENT_SECRET_ENV",
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "ENV_NAME",
    "ISSUER_ENV",
    "REQUIRED_ADMIN_ROLES",
    "JwksCache",
    "KeycloakGrantError",
    "KeycloakInvalidClientError",
    "KeycloakInvalidGrantError",
    "KeycloakTokenError",
    "NodeKeycloakAdapterEffect",
    "RealmEndpoints",
    "SigningKey",
    "TokenAlgorithmError",
    "TokenAudienceError",
    "TokenExpiredError",
    "TokenIssuerError",
    "TokenMalformedError",
    "TokenNotYetValidError",
    "TokenSignatureError",
    "TokenUnknownKeyError",
    "config_from_env",
    "keycloak_telemetry",
    "required_role",
]
