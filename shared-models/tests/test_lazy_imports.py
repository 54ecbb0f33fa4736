"""Heavy modules load when first needed, not with the package that offers them: a node
importing the platform does not pay for omnibase_spi's protocols, tenacity or the SQL lexer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from omnibase_infra import resilience
from omnibase_infra.resilience import retry


def test_retry_names_resolve_on_first_access() -> None:
    assert resilience.run_with_retry is retry.run_with_retry
    assert resilience.is_transient is retry.is_transient
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = resilience.no_such_name


def test_importing_the_platform_leaves_the_heavy_modules_unloaded() -> None:
    # omnibase_core.nodes first, as a node does: what core itself loads (0.3.5 loads
    # omnibase_spi's protocols, later 0.3.x releases do not) is core's cost, not ours.
    script = (
        "import sys, omnibase_core.nodes; before = set(sys.modules);"
        "import omnibase_infra.effect, omnibase_infra.models.vault;"
        "print(sorted(m for m in ('tenacity', 'omnibase_spi.protocols', 'omnibase_infra.sql',"
        " 'omnibase_infra.events') if m in set(sys.modules) - before))"
    )
    out = subprocess.run(  # noqa: S603 - argv built here
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]"
