"""measure_import: the import cost of a module on top of another, in fresh interpreters."""

from __future__ import annotations

import pytest

from omnibase_infra_testing.imports import IMPORT_BUDGET_MS, assert_cheap_import, measure_import


def test_it_reports_time_and_the_modules_the_import_added() -> None:
    cost = measure_import("email.mime.text", base="json", runs=3)
    assert len(cost.runs_ms) == 3
    assert all(ms > 0 for ms in cost.runs_ms)
    assert cost.loaded("email", "json") == ["email"]  # json came with the base
    assert cost.loaded("email.mime", "email.mime.text", "email.nope") == [
        "email.mime",
        "email.mime.text",
    ]  # a subpackage counts when it or one of its modules was added
    assert "median" in cost.describe()
    assert IMPORT_BUDGET_MS == 150


def test_a_failing_import_and_bad_runs_are_clear() -> None:
    with pytest.raises(RuntimeError, match="importing no_such_module_here after json failed"):
        measure_import("no_such_module_here", base="json", runs=1)
    with pytest.raises(ValueError, match="at least 1"):
        measure_import("json", runs=0)


def test_cpu_time_is_measured_beside_the_wall_clock() -> None:
    cost = measure_import("email.mime.text", base="json", runs=3)
    assert len(cost.cpu_runs_ms) == 3
    assert all(ms > 0 for ms in cost.cpu_runs_ms)
    assert "CPU min" in cost.describe()
    assert cost.cpu_min_ms <= cost.cpu_median_ms


def test_assert_cheap_import_checks_the_budget_and_the_loaded_packages() -> None:
    cost = assert_cheap_import("email.mime.text", not_loaded=("xml",), budget_ms=10_000)
    assert cost.loaded("email") == ["email"]
    with pytest.raises(AssertionError, match=r"\['email'\] loaded"):
        assert_cheap_import("email.mime.text", not_loaded=("email",), budget_ms=10_000)
    with pytest.raises(AssertionError, match="over 0 ms"):
        assert_cheap_import("email.mime.text", not_loaded=(), budget_ms=0)
