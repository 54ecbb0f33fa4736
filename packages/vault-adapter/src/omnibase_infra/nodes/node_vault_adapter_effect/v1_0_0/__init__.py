"""Version 1.0.0 of ``node_vault_adapter_effect``: the node (``node.py``), its transport
(``client.py``), one module per secrets engine (``kv.py``, ``transit.py``, ``database.py``,
``leases.py``, ``auth.py``), the read cache and the error mapping."""

from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.auth import TokenAuth
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.cache import SecretCache
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.client import VaultCall, VaultClient
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.database import DatabaseEngine
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.errors import (
    is_cas_mismatch,
    to_infra_error,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.kv import KvEngine, PatchMode
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.leases import Leases
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.node import (
    ADDR_ENV,
    ENV_NAME,
    TOKEN_ENV,
    URL_ENV,
    NodeVaultAdapterEffect,
    vault_telemetry,
)
from omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0.transit import TransitEngine

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_vault_adapter_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "ADDR_ENV",
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "ENV_NAME",
    "TOKEN_ENV",
    "URL_ENV",
    "DatabaseEngine",
    "KvEngine",
    "Leases",
    "NodeVaultAdapterEffect",
    "PatchMode",
    "SecretCache",
    "TokenAuth",
    "TransitEngine",
    "VaultCall",
    "VaultClient",
    "is_cas_mismatch",
    "to_infra_error",
    "vault_telemetry",
]
