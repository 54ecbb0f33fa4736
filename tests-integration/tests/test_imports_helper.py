"""measure_import: the import cost of a module on top of another, in fresh interpreters."""

from __future__ import annotations

import pytest

from omnibase_infra_testing.imports import IMPORT_BUDGET_MS, measure_import


def test_it_reports_time_and_the_modules_the_import_added() -> None:
    cost = measure_import("email.mime.text", base="json", runs=3)
    assert len(cost.runs_ms) == 3
    assert all(ms > 0 for ms in cost.runs_ms)
    assert cost.loaded("email", "json") == ["email"]  # json came with the base
    assert "median" in cost.describe()
    assert IMPORT_BUDGET_MS == 150


def test_a_failing_import_and_bad_runs_are_clear() -> None:
    with pytest.raises(RuntimeError, match="importing no_such_module_here after json failed"):
        measure_import("no_such_module_here", base="json", runs=1)
    with pytest.raises(ValueError, match="at least 1"):
        measure_import("json", runs=0)
