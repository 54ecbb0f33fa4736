"""Version 1.0.0 of ``node_postgres_adapter_effect``: the node, its pool and helpers."""

from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.effect import (
    DSN_ENV,
    NodePostgresAdapterEffect,
    postgres_breaker_config,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.errors import (
    is_postgres_breaker_failure,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.migrations import (
    Migration,
    load_migrations,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.pool import (
    PostgresConnectionManager,
    PostgresPool,
)

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "DSN_ENV",
    "Migration",
    "NodePostgresAdapterEffect",
    "PostgresConnectionManager",
    "PostgresPool",
    "is_postgres_breaker_failure",
    "load_migrations",
    "postgres_breaker_config",
]
