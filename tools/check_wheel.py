"""Packaging checks on a built wheel (and its sdist), run by ``nox -s "build(<pkg>)"``.

What the wheel must be, whatever the source tree looks like:

- no ``omnibase_infra/__init__.py``, ``omnibase_infra/nodes/__init__.py`` nor
  ``omnibase_infra/event_bus/__init__.py`` (PEP 420 namespaces shared by every package of
  the project; ``repo_rules.NAMESPACE_SUBPACKAGES``);
- ``py.typed`` in every leaf package (``omnibase_infra/<sub>/``, ``omnibase_infra/nodes/<node>/``,
  ``omnibase_infra/event_bus/<name>/``);
- every ``.yaml``/``.yml`` file of the source tree (the node contracts) inside the wheel;
- ``Requires-Dist`` entries with a lower bound and no ``==`` pin;
- the sdist carries the pyproject, README and CHANGELOG, and no namespace ``__init__.py``.

Usage: ``python tools/check_wheel.py WHEEL [--sdist SDIST] [--src SRC_DIR]``; exit status 1
with one line per problem. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo_rules import NAMESPACE_SUBPACKAGES, requirement_violations

NAMESPACE_INITS = (
    "omnibase_infra/__init__.py",
    *(f"omnibase_infra/{sub}/__init__.py" for sub in NAMESPACE_SUBPACKAGES),
)
CONTRACT_SUFFIXES = (".yaml", ".yml")


def _leaf_packages(names: list[str]) -> set[str]:
    """Directories that are the first regular package below a namespace level."""
    leaves: set[str] = set()
    for name in names:
        parts = PurePosixPath(name).parts
        if len(parts) < 3 or parts[0] != "omnibase_infra":
            continue
        depth = 3 if parts[1] in NAMESPACE_SUBPACKAGES else 2
        if len(parts) > depth:
            leaves.add("/".join(parts[:depth]))
    return leaves


def check_wheel(wheel: Path, src: Path | None = None) -> list[str]:
    """Every problem with the wheel's contents and metadata (empty list when it is good)."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        metadata = archive.read(metadata_name).decode() if metadata_name else ""
    problems.extend(
        f"wheel ships {init}: it breaks the namespace" for init in NAMESPACE_INITS if init in names
    )
    for leaf in sorted(_leaf_packages(names)):
        if f"{leaf}/py.typed" not in names:
            problems.append(f"wheel package {leaf} has no py.typed")
    if src is not None:
        for contract in sorted(p for p in src.rglob("*") if p.suffix in CONTRACT_SUFFIXES):
            inside = contract.relative_to(src).as_posix()
            if inside not in names:
                problems.append(f"contract {inside} is not in the wheel")
    if metadata_name is None:
        problems.append("wheel has no METADATA")
    else:
        for requirement in Parser().parsestr(metadata).get_all("Requires-Dist") or []:
            problems.extend(f"Requires-Dist {p}" for p in requirement_violations(requirement))
    return problems


def check_sdist(sdist: Path) -> list[str]:
    """The sdist must rebuild the same package: project files present, no namespace init."""
    with tarfile.open(sdist) as archive:
        names = [PurePosixPath(n) for n in archive.getnames()]
    relative = {"/".join(n.parts[1:]) for n in names if len(n.parts) > 1}
    problems = [
        f"sdist lacks {f}"
        for f in ("pyproject.toml", "README.md", "CHANGELOG.md")
        if f not in relative
    ]
    problems.extend(
        f"sdist ships src/{init}" for init in NAMESPACE_INITS if f"src/{init}" in relative
    )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--sdist", type=Path)
    parser.add_argument("--src", type=Path, help="the package's src/ folder, to find its contracts")
    args = parser.parse_args(argv)
    problems = check_wheel(args.wheel, args.src)
    if args.sdist:
        problems.extend(check_sdist(args.sdist))
    for problem in problems:
        print(f"{args.wheel.name}: {problem}")
    if not problems:
        print(f"{args.wheel.name}: packaging checks passed")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
