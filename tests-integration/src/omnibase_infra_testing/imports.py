"""What importing a node costs on top of omnibase-core: time and modules, in fresh processes.

``measure_import(module)`` imports ``omnibase_core.nodes`` first (every node needs it; its
cost is core's, not ours), then ``module``, in a new interpreter per run, and returns the
median time of the second import over ``runs`` runs plus the modules it added. A node
package's tests check both against its budget (issue 17: at most 150 ms; heavy client
libraries imported only when the transport is created)::

    cost = measure_import("omnibase_infra.nodes.node_consul_adapter_effect")
    assert cost.median_ms <= IMPORT_BUDGET_MS, cost.describe()
    assert not cost.loaded("aiohttp", "consul")
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Final

__all__ = ["IMPORT_BUDGET_MS", "ImportCost", "measure_import"]

IMPORT_BUDGET_MS: Final = 150.0
_BASE: Final = "omnibase_core.nodes"
_SCRIPT: Final = """
import importlib, json, sys, time
importlib.import_module(sys.argv[1])
before = set(sys.modules)
started = time.perf_counter()
importlib.import_module(sys.argv[2])
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "added": sorted(set(sys.modules) - before)}))
"""


@dataclass(frozen=True)
class ImportCost:
    """The cost of importing ``module`` after ``base``: per-run times and added modules."""

    module: str
    base: str
    runs_ms: tuple[float, ...]
    added: frozenset[str]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    def loaded(self, *packages: str) -> list[str]:
        """The given top-level packages that the import pulled in."""
        return sorted(p for p in packages if p in self.added)

    def describe(self) -> str:
        runs = ", ".join(f"{ms:.0f}" for ms in self.runs_ms)
        return (
            f"import {self.module} after {self.base}: median {self.median_ms:.0f} ms "
            f"(runs: {runs} ms); {len(self.added)} modules added"
        )


def measure_import(
    module: str, *, base: str = _BASE, runs: int = 7, python: str = sys.executable
) -> ImportCost:
    """Import ``module`` after ``base`` in ``runs`` fresh interpreters (see the module doc)."""
    if runs < 1:
        msg = "runs must be at least 1"
        raise ValueError(msg)
    times: list[float] = []
    added: set[str] = set()
    for _ in range(runs):
        result = subprocess.run(  # noqa: S603 - argv built here
            [python, "-c", _SCRIPT, base, module],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            msg = f"importing {module} after {base} failed:\n{result.stderr.strip()}"
            raise RuntimeError(msg)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        times.append(float(report["seconds"]) * 1000)
        added.update(name.partition(".")[0] for name in report["added"])
    return ImportCost(module, base, tuple(times), frozenset(added))
