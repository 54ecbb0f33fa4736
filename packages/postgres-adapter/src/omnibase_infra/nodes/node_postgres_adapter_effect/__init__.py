"""ONEX PostgreSQL EFFECT node of omnibase_infra (versioned implementations below)."""

from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import (
    NodePostgresAdapterEffect,
    PostgresConnectionManager,
    PostgresPool,
    postgres_breaker_config,
)

__all__ = [
    "NodePostgresAdapterEffect",
    "PostgresConnectionManager",
    "PostgresPool",
    "postgres_breaker_config",
]
