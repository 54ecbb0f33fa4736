"""The contract, the entry point and the shared pool manager."""

from __future__ import annotations

import importlib.metadata

import pytest
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect
from pydantic import SecretStr

from omnibase_infra.contracts import load_node_contract, node_kind
from omnibase_infra.effect import CONTRACT_EXTENSION_PATHS
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.postgres import EnumPostgresOperation, ModelPostgresPoolConfig
from omnibase_infra.nodes.node_postgres_adapter_effect import (
    NodePostgresAdapterEffect,
    PostgresConnectionManager,
)
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import (
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
)


def test_contract_is_a_valid_effect_contract_listing_every_operation() -> None:
    contract = load_node_contract(
        CONTRACT_PACKAGE,
        CONTRACT_RESOURCE,
        ModelContractEffect,
        extra_allowed_paths=CONTRACT_EXTENSION_PATHS,  # the platform's policy keys
    )
    assert contract.name == "node_postgres_adapter_effect"
    assert str(node_kind(contract.node_type)).lower() == "effect"
    assert [op.operation_type for op in contract.io_operations] == [
        op.value for op in EnumPostgresOperation
    ]


def test_entry_point_loads_the_node() -> None:
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")
        if ep.name == "node_postgres_adapter_effect"
    ]
    assert entry.load() is NodePostgresAdapterEffect


async def test_nodes_share_a_pool_per_dsn() -> None:
    manager = PostgresConnectionManager()
    config = ModelPostgresPoolConfig(dsn=SecretStr("postgresql://u:pw@db.internal:6432/app"))
    one = NodePostgresAdapterEffect(config=config, manager=manager)
    two = NodePostgresAdapterEffect(config=config, manager=manager)
    assert one.pool is two.pool
    assert one.reader_pool is two.reader_pool
    assert one.reader_pool.read_only
    assert manager.pools == [one.pool, one.reader_pool]
    assert one.target == "db.internal:6432"
    assert "pw" not in repr(one.pool) + repr(one)
    stats = one.pool.stats()
    assert (stats.open, stats.size, stats.max_size) == (False, 0, 10)
    other = config.model_copy(update={"max_size": 3})
    with pytest.raises(InfraConfigurationError, match="other settings"):
        manager.pool(other)
    await one.close()  # a shared manager is closed by its owner, not by a node
    assert one.reader_pool is two.reader_pool
    assert one.reader_pool.read_only
    assert manager.pools == [one.pool, one.reader_pool]
    await manager.close()
    assert manager.pools == []
