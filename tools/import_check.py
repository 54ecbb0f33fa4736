"""Import every package a distribution ships, and load its entry points (node or library).

Run with the interpreter of a fresh venv that holds only built wheels:
``python tools/import_check.py omnibase-infra-shared-models``. Exits non-zero on the
first module that fails to import, naming it. Standard library only.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from pathlib import PurePosixPath

ENTRY_POINT_GROUPS = ("omnibase_infra.nodes", "omnibase_infra.event_bus")


def shipped_packages(distribution: str) -> list[str]:
    """Dotted names of the regular packages (folders with __init__.py) in the distribution."""
    files = importlib.metadata.files(distribution) or []
    packages = {
        ".".join(PurePosixPath(str(f)).parent.parts)
        for f in files
        if PurePosixPath(str(f)).name == "__init__.py"
    }
    return sorted(packages)


def main(distribution: str) -> int:
    packages = shipped_packages(distribution)
    if not packages:
        print(f"{distribution}: ships no importable package")
        return 1
    for name in packages:
        importlib.import_module(name)
    nodes = [
        ep
        for group in ENTRY_POINT_GROUPS
        for ep in importlib.metadata.entry_points(group=group)
        if ep.dist is not None and ep.dist.name == distribution
    ]
    for ep in nodes:
        ep.load()
    print(f"{distribution}: imported {len(packages)} packages, loaded {len(nodes)} entry points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
