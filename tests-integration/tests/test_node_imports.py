"""Every installed node imports within the budget of issue 17 (one check for all of them).

The budget of ``assert_cheap_import``: at most ``IMPORT_BUDGET_MS`` of CPU time on top of
``omnibase_core.nodes`` (the least of 3 fresh interpreters), and none of the node's client
libraries loaded (they come with the first call). The nodes are the ``omnibase_infra.nodes``
entry points of this environment, each imported through its unversioned package.
"""

from __future__ import annotations

import importlib.metadata
import os

import pytest

from omnibase_infra_testing.imports import IMPORT_BUDGET_MS, measure_import

# What each node loads on first use, never at import.
CLIENT_LIBRARIES: dict[str, tuple[str, ...]] = {
    "node_consul_adapter_effect": ("aiohttp", "consul", "requests"),
    "node_keycloak_adapter_effect": ("aiohttp", "jwt", "cryptography"),
    "node_postgres_adapter_effect": ("asyncpg",),
    "node_vault_adapter_effect": ("hvac", "requests", "urllib3", "tenacity"),
    "node_webhook_effect": ("aiohttp",),
    # The SDK (and psutil, through its resources) is imported when the node is built.
    "node_tracing_compute": ("opentelemetry.sdk", "psutil"),
}
# CPU time is not robust on a busy machine either: two vCPUs that are hyperthreads of one
# core run each other's work slower (CI, two sessions at a time, measured 157-219 ms for
# imports that take 113-163 ms idle). The budget is judged only on an idle machine; on a
# busy one the figure is reported in the skip reason. Client libraries are checked always.
IDLE_LOAD_PER_CORE = 0.25
NODES = sorted({ep.name for ep in importlib.metadata.entry_points(group="omnibase_infra.nodes")})


def test_the_nodes_are_installed() -> None:
    assert set(CLIENT_LIBRARIES) <= set(NODES)


@pytest.mark.parametrize("node", NODES)
def test_importing_the_node_is_cheap(node: str) -> None:
    cost = measure_import(f"omnibase_infra.nodes.{node}", runs=3)
    loaded = cost.loaded(*CLIENT_LIBRARIES.get(node, ()))
    assert not loaded, f"{loaded} loaded: {cost.describe()}"
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    if load > IDLE_LOAD_PER_CORE and cost.cpu_min_ms > IMPORT_BUDGET_MS:
        pytest.skip(f"budget not judged at load {load:.2f} per core: {cost.describe()}")
    assert cost.cpu_min_ms <= IMPORT_BUDGET_MS, cost.describe()
