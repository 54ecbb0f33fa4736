"""Importing the node is cheap: hvac and requests load with the first call, not before.

The harness's check (``assert_cheap_import``): at most ``IMPORT_BUDGET_MS`` (150 ms) of CPU
time on top of ``omnibase_core.nodes`` (median of 7 fresh interpreters) and none of the
client libraries loaded. The budget is not met yet: on 8 Dec the platform alone
(``import omnibase_infra.effect``) measured 190 ms of CPU and the node 211-230 ms on the
shared 2-core machine (load ~10), so that part is an expected failure until the platform's
own import gets cheaper; it passes (XPASS) wherever the budget holds.
"""

from __future__ import annotations

import pytest

from omnibase_infra_testing.imports import assert_cheap_import, measure_import

NODE = "omnibase_infra.nodes.node_vault_adapter_effect"
CLIENT_LIBRARIES = ("hvac", "requests", "urllib3", "tenacity")


def test_the_client_libraries_are_not_imported_with_the_node() -> None:
    cost = measure_import(NODE, runs=1)
    assert not cost.loaded(*CLIENT_LIBRARIES), cost.describe()


@pytest.mark.xfail(
    reason="omnibase_infra.effect alone costs ~190 ms CPU here (see the module doc)",
    strict=False,
)
def test_import_cost_within_the_budget() -> None:
    assert_cheap_import(NODE, not_loaded=CLIENT_LIBRARIES)
