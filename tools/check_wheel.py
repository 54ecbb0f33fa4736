"""Packaging checks on a built wheel (and its sdist), run by ``nox -s "build(<pkg>)"``.

What the wheel must be, whatever the source tree looks like:

- no ``omnibase_infra/__init__.py``, ``omnibase_infra/nodes/__init__.py`` nor
  ``omnibase_infra/event_bus/__init__.py`` (PEP 420 namespaces shared by every package of
  the project; ``repo_rules.NAMESPACE_SUBPACKAGES``);
- ``py.typed`` in every leaf package (``omnibase_infra/<sub>/``, ``omnibase_infra/nodes/<node>/``,
  ``omnibase_infra/event_bus/<name>/``);
- every ``.yaml``/``.yml`` file of the source tree (the node contracts) inside the wheel;
- ``Requires-Dist`` entries with a lower bound and no ``==`` pin;
- the license: ``License-Expression`` set, ``License-File: LICENSE`` declared and the file
  inside the wheel (``*.dist-info/licenses/LICENSE``, PEP 639), no ``License ::`` classifier
  beside the expression (PEP 639 deprecates them; PyPI refuses uploads carrying both), and
  every classifier a known trove classifier (``--trove``: needs the ``trove-classifiers``
  package, which the ``build`` session installs);
- the sdist carries the pyproject, README, CHANGELOG and LICENSE, and no namespace
  ``__init__.py`` (uv builds the wheel from the sdist: a file missing there is missing in
  the wheel too, and a symlinked LICENSE arrives as a dangling link).

Usage: ``python tools/check_wheel.py WHEEL [--sdist SDIST] [--src SRC_DIR] [--license FILE]
[--trove]`` (``--license``: the LICENSE both must carry unchanged); exit status 1 with one
line per problem. Standard library only (``--trove`` aside).
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import zipfile
from collections.abc import Collection
from email.message import Message
from email.parser import Parser
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo_rules import NAMESPACE_SUBPACKAGES, requirement_violations

NAMESPACE_INITS = (
    "omnibase_infra/__init__.py",
    *(f"omnibase_infra/{sub}/__init__.py" for sub in NAMESPACE_SUBPACKAGES),
)
CONTRACT_SUFFIXES = (".yaml", ".yml")
LICENSE_FILE = "LICENSE"


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


def license_problems(
    metadata: Message, shipped: bytes | None, expected: bytes | None = None
) -> list[str]:
    """The wheel declares its license as an SPDX expression and ships the LICENSE file
    (``shipped``: its content, None when absent), equal to ``expected`` when given."""
    problems: list[str] = []
    if not metadata.get("License-Expression"):
        problems.append("METADATA has no License-Expression (set `license` in pyproject.toml)")
    if LICENSE_FILE not in (metadata.get_all("License-File") or []):
        problems.append(
            f"METADATA does not declare License-File: {LICENSE_FILE} (license-files in pyproject)"
        )
    if shipped is None:
        problems.append(f"wheel has no *.dist-info/licenses/{LICENSE_FILE}")
    elif expected is not None and shipped != expected:
        problems.append(f"wheel's {LICENSE_FILE} differs from the repository's {LICENSE_FILE}")
    problems.extend(
        f"classifier {c!r} beside License-Expression (PEP 639: the expression replaces it)"
        for c in metadata.get_all("Classifier") or []
        if c.startswith("License ::")
    )
    return problems


def classifier_problems(metadata: Message, known: Collection[str]) -> list[str]:
    """Classifiers PyPI would refuse: unknown to ``trove-classifiers`` (``Private ::`` too)."""
    return [
        f"classifier {c!r} is not a trove classifier"
        for c in metadata.get_all("Classifier") or []
        if c not in known
    ]


def check_wheel(
    wheel: Path,
    src: Path | None = None,
    *,
    classifiers: Collection[str] | None = None,
    license_text: bytes | None = None,
) -> list[str]:
    """Every problem with the wheel's contents and metadata (empty list when it is good).

    ``classifiers``: the known trove classifiers; None skips that check. ``license_text``:
    what the shipped LICENSE must say; None checks only that it is there.
    """
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        metadata_text = archive.read(metadata_name).decode() if metadata_name else ""
        license_name = next(
            (n for n in names if n.endswith(f".dist-info/licenses/{LICENSE_FILE}")), None
        )
        shipped = archive.read(license_name) if license_name else None
    metadata = Parser().parsestr(metadata_text)
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
        return problems
    for requirement in metadata.get_all("Requires-Dist") or []:
        problems.extend(f"Requires-Dist {p}" for p in requirement_violations(requirement))
    problems.extend(license_problems(metadata, shipped, license_text))
    if classifiers is not None:
        problems.extend(classifier_problems(metadata, classifiers))
    return problems


def check_sdist(sdist: Path, *, license_text: bytes | None = None) -> list[str]:
    """The sdist must rebuild the same package: project files present, no namespace init."""
    with tarfile.open(sdist) as archive:
        # Regular files only: a symlink (a LICENSE linked to the repository's) is not the file.
        files = {
            "/".join(PurePosixPath(m.name).parts[1:]): m
            for m in archive.getmembers()
            if len(PurePosixPath(m.name).parts) > 1 and m.isfile()
        }
        license_member = files.get(LICENSE_FILE)
        handle = archive.extractfile(license_member) if license_member else None
        shipped = handle.read() if handle else None
    problems = [
        f"sdist lacks {f}"
        for f in ("pyproject.toml", "README.md", "CHANGELOG.md", LICENSE_FILE)
        if f not in files
    ]
    if shipped is not None and license_text is not None and shipped != license_text:
        problems.append(f"sdist's {LICENSE_FILE} differs from the repository's {LICENSE_FILE}")
    problems.extend(f"sdist ships src/{init}" for init in NAMESPACE_INITS if f"src/{init}" in files)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--sdist", type=Path)
    parser.add_argument("--src", type=Path, help="the package's src/ folder, to find its contracts")
    parser.add_argument(
        "--license",
        type=Path,
        help="the LICENSE file the wheel and sdist must carry unchanged",
    )
    parser.add_argument(
        "--trove",
        action="store_true",
        help="check every classifier against the trove-classifiers package (must be installed)",
    )
    args = parser.parse_args(argv)
    known: Collection[str] | None = None
    if args.trove:
        import trove_classifiers  # noqa: PLC0415 - only the build session installs it

        known = trove_classifiers.classifiers
    license_text = args.license.read_bytes() if args.license else None
    problems = check_wheel(args.wheel, args.src, classifiers=known, license_text=license_text)
    if args.sdist:
        problems.extend(check_sdist(args.sdist, license_text=license_text))
    for problem in problems:
        print(f"{args.wheel.name}: {problem}")
    if not problems:
        print(f"{args.wheel.name}: packaging checks passed")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
