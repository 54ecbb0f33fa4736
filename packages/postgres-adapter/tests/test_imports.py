"""Importing the node does not load the driver (asyncpg loads with the first pool) nor the
SQL lexer (with the first statement to check)."""

from __future__ import annotations

import subprocess
import sys

from omnibase_infra_testing.imports import measure_import

NODE = "omnibase_infra.nodes.node_postgres_adapter_effect"


def test_importing_the_node_does_not_load_the_driver() -> None:
    # The budget of issue 17 (IMPORT_BUDGET_MS on top of omnibase_core.nodes) also needs
    # shared-models' platform and models to import cheaply; this package's part is to
    # keep asyncpg out of it.
    cost = measure_import(NODE, runs=3)
    assert not cost.loaded("asyncpg"), cost.describe()


def test_importing_the_node_does_not_load_the_sql_lexer() -> None:
    script = (
        "import sys, omnibase_core.nodes, omnibase_infra.nodes.node_postgres_adapter_effect; "
        "print(sorted(m for m in sys.modules if m.startswith('omnibase_infra.sql')))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout
