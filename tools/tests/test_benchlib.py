"""The shared benchmark report: interleaving, medians, ratios and targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from benchlib import OURS, compare, interleaved_medians, ratio_of, write_report


def _sequence(values: list[float], log: list[str], name: str) -> Callable[[], float]:
    it = iter(values)

    def measure() -> float:
        log.append(name)
        return next(it)

    return measure


def test_rounds_rotate_the_order_and_take_medians() -> None:
    log: list[str] = []
    medians = interleaved_medians(
        {"a": _sequence([1, 9, 2], log, "a"), "b": _sequence([5, 4, 100], log, "b")}, rounds=3
    )
    assert medians == {"a": 2, "b": 5}
    assert log == ["a", "b", "b", "a", "a", "b"]


def test_rounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rounds"):
        interleaved_medians({"a": lambda: 1.0}, rounds=0)


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
        "met",
    }
    assert "TARGET MISSED" in capsys.readouterr().out
    assert OURS not in {d["baseline"] for d in data}
