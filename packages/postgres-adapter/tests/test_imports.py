"""Importing the node does not load the driver: asyncpg loads with the first pool."""

from __future__ import annotations

from omnibase_infra_testing.imports import measure_import

NODE = "omnibase_infra.nodes.node_postgres_adapter_effect"


def test_importing_the_node_does_not_load_the_driver() -> None:
    # The budget of issue 17 (IMPORT_BUDGET_MS on top of omnibase_core.nodes) also needs
    # shared-models' platform and models to import cheaply; this package's part is to
    # keep asyncpg out of it.
    cost = measure_import(NODE, runs=3)
    assert not cost.loaded("asyncpg"), cost.describe()
