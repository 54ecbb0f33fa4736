"""Importing the node is cheap: hvac and requests load with the first call, not before.

The time budget of issue 17 (150 ms of CPU on top of ``omnibase_core.nodes``) is checked
for every node in one place, ``tests-integration/tests/test_node_imports.py``.
"""

from __future__ import annotations

from omnibase_infra_testing.imports import measure_import

NODE = "omnibase_infra.nodes.node_vault_adapter_effect"
CLIENT_LIBRARIES = ("hvac", "requests", "urllib3", "tenacity")


def test_the_client_libraries_are_not_imported_with_the_node() -> None:
    cost = measure_import(NODE, runs=1)
    assert not cost.loaded(*CLIENT_LIBRARIES), cost.describe()
