"""ONEX Keycloak/OIDC EFFECT node of omnibase_infra: the whole public surface of the current
version (``v1_0_0``), re-exported from its one ``__all__``."""

from omnibase_infra.nodes.node_keycloak_adapter_effect import v1_0_0 as _current
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0 import *  # noqa: F403

__all__ = _current.__all__
