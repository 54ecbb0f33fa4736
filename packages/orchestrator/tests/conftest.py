"""Fixtures: scripted fake nodes (``tests/orchestrator_fakes.py``) for the pure-logic tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from tests.orchestrator_fakes import Journal, ScriptedNode


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def nodes(journal: Journal) -> dict[str, ScriptedNode]:
    return {
        name: ScriptedNode(name, journal)
        for name in ("node_a_effect", "node_b_effect", "node_c_effect")
    }
