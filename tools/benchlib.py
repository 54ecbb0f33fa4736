"""Side-by-side benchmarks: ours and each baseline measured in one process, interleaved.

Every package's benchmarks use this module so that all reports share one format
(``.bench/<package>.json``): a list of records

    {benchmark, unit, ours, baseline, baseline_value, ratio, target, strict, met}

where ``ratio`` is how many times better ours is than the baseline (> 1 means ours is
better, whatever the unit), ``target`` is the issue's target for that comparison (None where
it sets none), ``strict`` says the target is "better than" (``ratio > target``) rather than
"at least" (``ratio >= target``), and ``met`` is the verdict (None without a target).
``ours`` and ``baseline_value`` are the medians of the rounds; ``ratio`` is the median of the
per-round ratios (ours and the baseline measured side by side in the same round), which
drift on a noisy machine moves far less than a ratio of two medians.

The rules every benchmark here follows (a benchmark that flatters us measures nothing):

1. **Each baseline at its best documented configuration for the workload**: the pool size,
   statement preparation, binary formats, batching, lexer-only when parsing is not needed,
   no extra round trip from a transactional default... Name the configuration in the
   benchmark's docstring, with the documentation that recommends it.
2. **The same work on both sides**: the same data, server, result checked, and the same
   guarantees where the comparison claims them.
3. **Warm-up before timing** (``warmup`` rounds that are not recorded), then rounds in which
   every contender runs once, in an order that rotates from round to round.
4. **A missing baseline library fails the run** (:func:`require_baseline`): a report that
   silently drops a comparison hides a missed target.
5. **"Better than" is strict** (:data:`BETTER_THAN`: ``ratio > 1``); "at least x" is
   ``ratio >= x``.

Standard library only.
"""

from __future__ import annotations

import importlib
import json
import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

OURS: Final = "ours"


@dataclass(frozen=True)
class Target:
    """A target ratio: at least ``value``, or strictly more when ``strict``."""

    value: float
    strict: bool = False

    def met_by(self, ratio: float) -> bool:
        return ratio > self.value if self.strict else ratio >= self.value


BETTER_THAN: Final = Target(1.0, strict=True)
"""The target "better than the baseline": a ratio strictly above 1."""

type TargetSpec = Target | float | None


@dataclass(frozen=True)
class BenchRecord:
    benchmark: str
    unit: str
    ours: float
    baseline: str
    baseline_value: float
    ratio: float
    target: float | None
    strict: bool
    met: bool | None


class MissingBaselineError(SystemExit):
    """A baseline library is not installed: the benchmark run fails (rule 4)."""


def require_baseline(module: str, *, install: str | None = None) -> ModuleType:
    """Import a baseline's library or fail the run, saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = install or module
        msg = (
            f"baseline library {module!r} is missing ({exc}); install {what!r} "
            "(the package's 'bench' dependency group) — a benchmark never drops a baseline"
        )
        raise MissingBaselineError(msg) from exc


def interleaved_samples(
    contenders: Mapping[str, Callable[[], float]], *, rounds: int = 7, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every contender ``warmup`` times unrecorded, then once per round, rotating the
    order; return each one's samples in round order."""
    if rounds < 1:
        msg = "rounds must be >= 1"
        raise ValueError(msg)
    if warmup < 0:
        msg = "warmup must be >= 0"
        raise ValueError(msg)
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(contenders[name]())
    return samples


def interleaved_medians(
    contenders: Mapping[str, Callable[[], float]], *, rounds: int = 7, warmup: int = 1
) -> dict[str, float]:
    """Each contender's median over interleaved rounds (see :func:`interleaved_samples`)."""
    samples = interleaved_samples(contenders, rounds=rounds, warmup=warmup)
    return {name: statistics.median(values) for name, values in samples.items()}


def ratio_of(ours: float, baseline: float, *, higher_is_better: bool) -> float:
    """How many times better ours is than the baseline (inf when a cost of ours is zero)."""
    if higher_is_better:
        return ours / baseline if baseline else float("inf")
    return baseline / ours if ours else float("inf")


def _target(spec: Mapping[str, TargetSpec] | TargetSpec, name: str) -> Target | None:
    value = spec.get(name) if isinstance(spec, Mapping) else spec
    if value is None or isinstance(value, Target):
        return value
    return Target(float(value))


def _record(
    benchmark: str,
    unit: str,
    baseline: str,
    *,
    ours: float,
    baseline_value: float,
    ratio: float,
    target: Target | None,
) -> BenchRecord:
    return BenchRecord(
        benchmark=benchmark,
        unit=unit,
        ours=ours,
        baseline=baseline,
        baseline_value=baseline_value,
        ratio=ratio,
        target=None if target is None else target.value,
        strict=target is not None and target.strict,
        met=None if target is None else target.met_by(ratio),
    )


def compare(
    benchmark: str,
    unit: str,
    ours: Callable[[], float],
    baselines: Mapping[str, Callable[[], float]],
    *,
    higher_is_better: bool,
    targets: Mapping[str, TargetSpec] | TargetSpec = None,
    rounds: int = 7,
    warmup: int = 1,
) -> list[BenchRecord]:
    """Measure ours against every baseline in one interleaved run; one record per baseline.

    The ratio is the median of the per-round ratios; the values are the medians.
    """
    samples = interleaved_samples({OURS: ours, **baselines}, rounds=rounds, warmup=warmup)
    return records_from_samples(
        benchmark, unit, samples, higher_is_better=higher_is_better, targets=targets
    )


def records_from_samples(
    benchmark: str,
    unit: str,
    samples: Mapping[str, list[float]],
    *,
    higher_is_better: bool,
    targets: Mapping[str, TargetSpec] | TargetSpec = None,
) -> list[BenchRecord]:
    """Records for per-round samples already measured (``samples[OURS]`` against every
    other entry, round by round)."""
    records = []
    for name, values in samples.items():
        if name == OURS:
            continue
        ratios = [
            ratio_of(mine, theirs, higher_is_better=higher_is_better)
            for mine, theirs in zip(samples[OURS], values, strict=True)
        ]
        records.append(
            _record(
                benchmark,
                unit,
                name,
                ours=statistics.median(samples[OURS]),
                baseline_value=statistics.median(values),
                ratio=statistics.median(ratios),
                target=_target(targets, name),
            )
        )
    return records


def records_from_medians(
    benchmark: str,
    unit: str,
    medians: Mapping[str, float],
    *,
    higher_is_better: bool,
    targets: Mapping[str, TargetSpec] | TargetSpec = None,
) -> list[BenchRecord]:
    """Records for medians already measured (``medians[OURS]`` against every other entry);
    prefer :func:`records_from_samples` when per-round samples exist."""
    return [
        _record(
            benchmark,
            unit,
            name,
            ours=medians[OURS],
            baseline_value=value,
            ratio=ratio_of(medians[OURS], value, higher_is_better=higher_is_better),
            target=_target(targets, name),
        )
        for name, value in medians.items()
        if name != OURS
    ]


def write_report(path: Path, records: list[BenchRecord]) -> None:
    """Write the JSON report and print one line per record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in records], indent=2) + "\n")
    for r in records:
        verdict = "" if r.met is None else ("  target met" if r.met else "  TARGET MISSED")
        kind = "better than" if r.strict else "at least"
        target = "" if r.target is None else f" (target {kind} {r.target:g}x)"
        print(
            f"{r.benchmark}: ours {r.ours:.4g} {r.unit} vs {r.baseline} {r.baseline_value:.4g}"
            f" -> {r.ratio:.2f}x{target}{verdict}"
        )
    print(f"report: {path}")
