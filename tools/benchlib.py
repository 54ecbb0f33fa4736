"""Side-by-side benchmarks: ours and each baseline measured in one process, interleaved.

Every package's benchmarks use this module so that all reports share one format
(``.bench/<package>.json``): a list of records

    {benchmark, unit, ours, baseline, baseline_value, ratio, target, met}

where ``ratio`` is how many times better ours is than the baseline (>= 1 means ours is
better, whatever the unit), ``target`` is the issue's target for that comparison (None where
it sets none) and ``met`` is ``ratio >= target`` (None without a target). Values are the
medians of several rounds; in each round every contender runs once, in an order that
rotates from round to round, so drift on a noisy machine hits all of them alike.

Standard library only.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

OURS = "ours"


@dataclass(frozen=True)
class BenchRecord:
    benchmark: str
    unit: str
    ours: float
    baseline: str
    baseline_value: float
    ratio: float
    target: float | None
    met: bool | None


def interleaved_medians(
    contenders: Mapping[str, Callable[[], float]], *, rounds: int = 7
) -> dict[str, float]:
    """Run every contender once per round, rotating the order; return each one's median."""
    if rounds < 1:
        msg = "rounds must be >= 1"
        raise ValueError(msg)
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(contenders[name]())
    return {name: statistics.median(values) for name, values in samples.items()}


def ratio_of(ours: float, baseline: float, *, higher_is_better: bool) -> float:
    """How many times better ours is than the baseline (inf when a cost of ours is zero)."""
    if higher_is_better:
        return ours / baseline if baseline else float("inf")
    return baseline / ours if ours else float("inf")


def compare(
    benchmark: str,
    unit: str,
    ours: Callable[[], float],
    baselines: Mapping[str, Callable[[], float]],
    *,
    higher_is_better: bool,
    targets: Mapping[str, float | None] | float | None = None,
    rounds: int = 7,
) -> list[BenchRecord]:
    """Measure ours against every baseline in one interleaved run; one record per baseline."""
    medians = interleaved_medians({OURS: ours, **baselines}, rounds=rounds)
    return records_from_medians(
        benchmark, unit, medians, higher_is_better=higher_is_better, targets=targets
    )


def records_from_medians(
    benchmark: str,
    unit: str,
    medians: Mapping[str, float],
    *,
    higher_is_better: bool,
    targets: Mapping[str, float | None] | float | None = None,
) -> list[BenchRecord]:
    """Records for medians already measured (``medians[OURS]`` against every other entry)."""
    records = []
    for name, value in medians.items():
        if name == OURS:
            continue
        target = targets.get(name) if isinstance(targets, Mapping) else targets
        ratio = ratio_of(medians[OURS], value, higher_is_better=higher_is_better)
        records.append(
            BenchRecord(
                benchmark=benchmark,
                unit=unit,
                ours=medians[OURS],
                baseline=name,
                baseline_value=value,
                ratio=ratio,
                target=target,
                met=None if target is None else ratio >= target,
            )
        )
    return records


def write_report(path: Path, records: list[BenchRecord]) -> None:
    """Write the JSON report and print one line per record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in records], indent=2) + "\n")
    for r in records:
        verdict = "" if r.met is None else ("  target met" if r.met else "  TARGET MISSED")
        target = "" if r.target is None else f" (target {r.target:g}x)"
        print(
            f"{r.benchmark}: ours {r.ours:.4g} {r.unit} vs {r.baseline} {r.baseline_value:.4g}"
            f" -> {r.ratio:.2f}x{target}{verdict}"
        )
    print(f"report: {path}")
