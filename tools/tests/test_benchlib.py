"""The shared benchmark report: interleaving, medians, ratios and targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from benchlib import (
    BETTER_THAN,
    OURS,
    MissingBaselineError,
    Target,
    compare,
    interleaved_medians,
    ratio_of,
    records_from_medians,
    records_from_samples,
    require_baseline,
    write_report,
)


def _sequence(values: list[float], log: list[str], name: str) -> Callable[[], float]:
    it = iter(values)

    def measure() -> float:
        log.append(name)
        return next(it)

    return measure


def test_rounds_rotate_the_order_and_take_medians() -> None:
    log: list[str] = []
    medians = interleaved_medians(
        {"a": _sequence([0, 1, 9, 2], log, "a"), "b": _sequence([0, 5, 4, 100], log, "b")},
        rounds=3,
    )
    assert medians == {"a": 2, "b": 5}  # the warm-up values (0) are not recorded
    assert log == ["a", "b", "a", "b", "b", "a", "a", "b"]


def test_rounds_and_warmup_must_make_sense() -> None:
    with pytest.raises(ValueError, match="rounds"):
        interleaved_medians({"a": lambda: 1.0}, rounds=0)
    with pytest.raises(ValueError, match="warmup"):
        interleaved_medians({"a": lambda: 1.0}, warmup=-1)


def test_the_ratio_is_the_median_of_per_round_ratios() -> None:
    # Round 2 ran on a slow machine for both: per-round ratios ignore that drift.
    samples = {OURS: [10.0, 100.0, 10.0], "base": [20.0, 200.0, 30.0]}
    (record,) = records_from_samples("x", "ms", samples, higher_is_better=False)
    assert record.ratio == 2.0
    assert (record.ours, record.baseline_value) == (10.0, 30.0)


def test_better_than_is_strict_and_at_least_is_not() -> None:
    assert not BETTER_THAN.met_by(1.0)
    assert BETTER_THAN.met_by(1.01)
    assert Target(0.9).met_by(0.9)
    medians = {OURS: 100.0, "same": 100.0, "slower": 50.0}
    records = records_from_medians(
        "x", "ops/s", medians, higher_is_better=True, targets={"same": BETTER_THAN, "slower": 2}
    )
    by_name = {r.baseline: r for r in records}
    assert (by_name["same"].met, by_name["same"].strict) == (False, True)
    assert (by_name["slower"].met, by_name["slower"].strict) == (True, False)


def test_a_missing_baseline_library_fails_the_run() -> None:
    assert require_baseline("json").dumps([]) == "[]"
    with pytest.raises(MissingBaselineError, match="install 'no-such-dist'"):
        require_baseline("no_such_module_for_bench", install="no-such-dist")


def test_ratio_is_better_than_one_when_ours_is_better_whatever_the_unit() -> None:
    assert ratio_of(200.0, 100.0, higher_is_better=True) == 2.0  # throughput
    assert ratio_of(50.0, 100.0, higher_is_better=False) == 2.0  # cost
    assert ratio_of(0.0, 100.0, higher_is_better=False) == float("inf")
    assert ratio_of(1.0, 0.0, higher_is_better=True) == float("inf")


def test_compare_records_targets_and_writes_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = compare(
        "noop",
        "ns/call",
        lambda: 100.0,
        {"fast": lambda: 50.0, "slow": lambda: 400.0},
        higher_is_better=False,
        targets={"fast": 1.0},
        rounds=3,
        warmup=0,
    )
    by_name = {r.baseline: r for r in records}
    assert by_name["fast"].ratio == 0.5
    assert by_name["fast"].met is False
    assert by_name["slow"].ratio == 4.0
    assert by_name["slow"].target is None
    assert by_name["slow"].met is None
    report = tmp_path / ".bench" / "pkg.json"
    write_report(report, records)
    data = json.loads(report.read_text())
    assert [d["baseline"] for d in data] == ["fast", "slow"]
    assert set(data[0]) == {
        "benchmark",
        "unit",
        "ours",
        "baseline",
        "baseline_value",
        "ratio",
        "target",
        "strict",
        "met",
    }
    assert "TARGET MISSED" in capsys.readouterr().out
    assert OURS not in {d["baseline"] for d in data}
