"""The repository's structural rules, checked by tests and used by the noxfile.

One naming rule ties together a package's folder, its distribution, its import path and
its ``omnibase_infra.nodes`` entry point:

    packages/<folder>/  ->  distribution  omnibase-infra-<folder>
                        ->  import        omnibase_infra.nodes.<node>
                        ->  entry point   <node> = "omnibase_infra.nodes.<node>...:<Class>"

    where <node> is  node_<folder with - as _>_<kind>   for kind effect or compute
                 or  infra_<folder>                      for folder reducer or orchestrator

Library packages (not nodes) follow the same rule with a library kind: a folder
``<kind>-<name>`` of a kind in ``LIBRARY_KINDS`` ships one package in the kind's namespace
and one entry point in the kind's own group:

    packages/event-bus-nats/  ->  distribution  omnibase-infra-event-bus-nats
                              ->  import        omnibase_infra.event_bus.nats
                              ->  entry point   [project.entry-points."omnibase_infra.event_bus"]
                                                nats = "omnibase_infra.event_bus.nats...:<Class>"

``shared-models/`` is the one package without a node: distribution
``omnibase-infra-shared-models``, imports under ``omnibase_infra.<subpackage>``.

Standard library only, so the checks run in any interpreter.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST_PREFIX = "omnibase-infra-"
# The project's license: `license` (an SPDX expression) in every published pyproject.toml,
# and the text in LICENSE at the root, copied into every package folder (hatchling takes
# license files only from inside the project; a symlink ends up dangling in the sdist).
LICENSE_EXPRESSION = "MIT"
LICENSE_FILE = "LICENSE"
REQUIRED_URLS = ("Homepage", "Repository", "Issues", "Changelog")
REQUIRED_CLASSIFIERS = ("Programming Language :: Python :: 3.12", "Typing :: Typed")
SHARED_MODELS = "shared-models"
ENTRY_POINT_GROUP = "omnibase_infra.nodes"
NODE_KINDS = ("effect", "compute")
PLANNER_FOLDERS = ("reducer", "orchestrator")
# Library kinds: folder prefix -> (namespace under omnibase_infra, entry-point group).
LIBRARY_KINDS = {"event-bus": ("event_bus", "omnibase_infra.event_bus")}
# PEP 420 namespaces below omnibase_infra: no package may ship their __init__.py.
NAMESPACE_SUBPACKAGES = ("nodes", *(namespace for namespace, _ in LIBRARY_KINDS.values()))
# I/O client libraries: shared-models must import none of them (architecture §3).
IO_CLIENT_MODULES = frozenset(
    {
        "aiohttp",
        "aiokafka",
        "asyncpg",
        "consul",
        "hvac",
        "httpx",
        "jwt",
        "kafka",
        "keycloak",
        "nats",
        "psycopg",
        "psycopg2",
        "redis",
        "requests",
        "urllib3",
        "websockets",
    }
)


def _table(data: dict[str, object], key: str) -> dict[str, object]:
    value = data.get(key, {})
    return value if isinstance(value, dict) else {}


def _list(data: dict[str, object], key: str) -> list[object]:
    value = data.get(key, [])
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Package:
    """One publishable package of the workspace, as read from its folder."""

    folder: str
    path: Path
    pyproject: dict[str, object]

    @property
    def is_shared_models(self) -> bool:
        return self.folder == SHARED_MODELS

    @property
    def distribution(self) -> str:
        return str(_table(self.pyproject, "project").get("name", ""))

    @property
    def node_dirs(self) -> list[str]:
        nodes = self.path / "src" / "omnibase_infra" / "nodes"
        return sorted(p.name for p in nodes.iterdir() if p.is_dir()) if nodes.is_dir() else []

    @property
    def node_name(self) -> str | None:
        """The node this package ships (None for shared-models or a malformed package)."""
        dirs = self.node_dirs
        return dirs[0] if len(dirs) == 1 else None

    @property
    def entry_points(self) -> dict[str, str]:
        return self.entry_points_in(ENTRY_POINT_GROUP)

    def entry_points_in(self, group: str) -> dict[str, str]:
        groups = _table(_table(self.pyproject, "project"), "entry-points")
        return {str(k): str(v) for k, v in _table(groups, group).items()}

    @property
    def library(self) -> tuple[str, str, str] | None:
        """(namespace, entry-point group, name) of a library package (None for the others):
        ``event-bus-nats`` -> ``("event_bus", "omnibase_infra.event_bus", "nats")``."""
        for kind, (namespace, group) in LIBRARY_KINDS.items():
            name = self.folder.removeprefix(f"{kind}-")
            if name != self.folder and name:
                return namespace, group, name.replace("-", "_")
        return None

    @property
    def library_import(self) -> str | None:
        """The import path of a library package (``omnibase_infra.event_bus.nats``)."""
        library = self.library
        return None if library is None else f"omnibase_infra.{library[0]}.{library[2]}"

    @property
    def test_services(self) -> list[str]:
        """Harness extras (real servers) the package's tests need: [tool.omnibase-infra]."""
        tool = _table(_table(self.pyproject, "tool"), "omnibase-infra")
        return [str(s) for s in _list(tool, "test-services")]

    @property
    def test_packages(self) -> list[str]:
        """Other local packages (folder ids) installed beside this one for its tests only.

        [tool.omnibase-infra] test-packages: e.g. the orchestrator's tests run the reducer
        node found through its entry point, which the orchestrator itself never imports.
        """
        tool = _table(_table(self.pyproject, "tool"), "omnibase-infra")
        return [str(s) for s in _list(tool, "test-packages")]

    @property
    def coverage_target(self) -> str:
        """The import path whose coverage the package's own tests are judged on."""
        if self.library_import is not None:
            return self.library_import
        if self.is_shared_models or self.node_name is None:
            return "omnibase_infra"
        return f"omnibase_infra.nodes.{self.node_name}"


def discover_packages(root: Path = ROOT) -> dict[str, Package]:
    """shared-models plus every ``packages/*`` folder that has a pyproject.toml."""
    paths = [root / SHARED_MODELS, *sorted((root / "packages").glob("*"))]
    found: dict[str, Package] = {}
    for path in paths:
        pyproject = path / "pyproject.toml"
        if pyproject.is_file():
            found[path.name] = Package(path.name, path, tomllib.loads(pyproject.read_text()))
    return found


def expected_node_names(folder: str) -> set[str]:
    """The node names the naming rule allows for a package folder."""
    snake = folder.replace("-", "_")
    names = {f"node_{snake}_{kind}" for kind in NODE_KINDS}
    if folder in PLANNER_FOLDERS:
        names.add(f"infra_{folder}")
    return names


def naming_violations(pkg: Package) -> list[str]:
    """Everything about a package that breaks the one naming rule."""
    problems: list[str] = []
    where = f"{pkg.folder}:"
    expected_dist = f"{DIST_PREFIX}{pkg.folder}"
    if pkg.distribution != expected_dist:
        problems.append(
            f"{where} distribution is {pkg.distribution!r}, the rule says {expected_dist!r}"
        )
    namespace = pkg.path / "src" / "omnibase_infra"
    inits = [
        namespace / "__init__.py",
        *(namespace / n / "__init__.py" for n in NAMESPACE_SUBPACKAGES),
    ]
    for init in inits:
        if init.exists():
            problems.append(
                f"{where} ships {init.relative_to(pkg.path)}, which breaks the namespace"
            )
    if pkg.is_shared_models:
        if pkg.node_dirs:
            problems.append(f"{where} shared-models must not ship nodes: {pkg.node_dirs}")
        if pkg.entry_points:
            problems.append(
                f"{where} shared-models must not declare {ENTRY_POINT_GROUP} entry points"
            )
        return problems
    if pkg.library is not None:
        return problems + _library_violations(pkg, namespace, pkg.library)
    others = (
        sorted(p.name for p in namespace.iterdir() if p.name != "nodes")
        if namespace.is_dir()
        else []
    )
    if others:
        problems.append(f"{where} a node package ships only omnibase_infra/nodes/, found {others}")
    if len(pkg.node_dirs) != 1:
        problems.append(f"{where} must ship exactly one node folder, found {pkg.node_dirs}")
        return problems
    node = pkg.node_dirs[0]
    allowed = expected_node_names(pkg.folder)
    if node not in allowed:
        problems.append(
            f"{where} node folder {node!r} breaks the rule; expected one of {sorted(allowed)}"
        )
    entry_points = pkg.entry_points
    if set(entry_points) != {node}:
        problems.append(
            f"{where} [project.entry-points.{ENTRY_POINT_GROUP!r}] must declare exactly {node!r}, "
            f"found {sorted(entry_points)}"
        )
    elif not entry_points[node].startswith(f"omnibase_infra.nodes.{node}."):
        problems.append(
            f"{where} entry point {node!r} points outside its node: {entry_points[node]!r}"
        )
    return problems


def _library_violations(pkg: Package, namespace: Path, library: tuple[str, str, str]) -> list[str]:
    """A library ships only ``omnibase_infra/<namespace>/<name>/`` and one entry point,
    ``<name>``, in its kind's group (and none in ``omnibase_infra.nodes``)."""
    kind_namespace, group, name = library
    where = f"{pkg.folder}:"
    problems: list[str] = []
    shipped = sorted(
        p.relative_to(namespace).as_posix()
        for p in (namespace.iterdir() if namespace.is_dir() else [])
    )
    if shipped != [kind_namespace]:
        problems.append(
            f"{where} a library package ships only omnibase_infra/{kind_namespace}/, "
            f"found {shipped}"
        )
    leaves = sorted(p.name for p in (namespace / kind_namespace).glob("*") if p.is_dir())
    if leaves != [name]:
        problems.append(
            f"{where} must ship exactly omnibase_infra/{kind_namespace}/{name}/, found {leaves}"
        )
    if pkg.entry_points:
        problems.append(f"{where} a library declares no {ENTRY_POINT_GROUP} entry points")
    entry_points = pkg.entry_points_in(group)
    if set(entry_points) != {name}:
        problems.append(
            f"{where} [project.entry-points.{group!r}] must declare exactly {name!r}, "
            f"found {sorted(entry_points)}"
        )
    elif not entry_points[name].startswith((f"{pkg.library_import}.", f"{pkg.library_import}:")):
        problems.append(f"{where} entry point {name!r} points outside its package")
    return problems


def required_files_violations(pkg: Package) -> list[str]:
    """Every package carries its own README and CHANGELOG."""
    return [
        f"{pkg.folder}: missing {name}"
        for name in ("README.md", "CHANGELOG.md", "pyproject.toml")
        if not (pkg.path / name).is_file()
    ]


def metadata_violations(pkg: Package, root: Path = ROOT) -> list[str]:
    """What PyPI shows of a package: license (expression, file, text), URLs, classifiers."""
    where = f"{pkg.folder}:"
    project = _table(pkg.pyproject, "project")
    problems: list[str] = []
    if (declared := project.get("license")) != LICENSE_EXPRESSION:
        problems.append(f"{where} license is {declared!r}, not {LICENSE_EXPRESSION!r}")
    if _list(project, "license-files") != [LICENSE_FILE]:
        problems.append(f"{where} license-files must be [{LICENSE_FILE!r}]")
    ours, theirs = pkg.path / LICENSE_FILE, root / LICENSE_FILE
    if ours.is_symlink() or not ours.is_file():
        problems.append(f"{where} needs a copy of the root {LICENSE_FILE} (a file, not a link)")
    elif not theirs.is_file() or ours.read_bytes() != theirs.read_bytes():
        problems.append(f"{where} {LICENSE_FILE} differs from the root {LICENSE_FILE}")
    classifiers = [str(c) for c in _list(project, "classifiers")]
    problems.extend(
        f"{where} classifier {c!r} missing" for c in REQUIRED_CLASSIFIERS if c not in classifiers
    )
    if not any(c.startswith("Development Status :: ") for c in classifiers):
        problems.append(f"{where} no 'Development Status' classifier")
    problems.extend(
        f"{where} classifier {c!r}: the license expression replaces it (PEP 639)"
        for c in classifiers
        if c.startswith("License ::")
    )
    urls = _table(project, "urls")
    problems.extend(f"{where} [project.urls] lacks {u}" for u in REQUIRED_URLS if u not in urls)
    changelog = str(urls.get("Changelog", ""))
    expected_tail = f"{pkg.path.relative_to(root).as_posix()}/CHANGELOG.md"
    if changelog and not changelog.endswith(expected_tail):
        problems.append(f"{where} Changelog URL {changelog!r} does not end in {expected_tail}")
    return problems


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            modules.update(alias.name for alias in item.names)
        elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
            modules.add(item.module)
            modules.update(f"{item.module}.{alias.name}" for alias in item.names)
    return modules


def _python_files(pkg: Package) -> list[Path]:
    return sorted(p for sub in ("src", "tests") for p in (pkg.path / sub).rglob("*.py"))


_NODE_IMPORT = re.compile(r"^omnibase_infra\.nodes\.([A-Za-z0-9_]+)")


def import_violations(pkgs: dict[str, Package]) -> list[str]:
    """Node packages importing other node packages; shared-models importing I/O clients."""
    problems: list[str] = []
    for pkg in pkgs.values():
        for path in _python_files(pkg):
            rel = path.relative_to(pkg.path.parent)
            reported: set[str] = set()
            for module in sorted(_imported_modules(path)):
                if pkg.is_shared_models:
                    top = module.split(".")[0]
                    if top in IO_CLIENT_MODULES and "/src/" in path.as_posix():
                        problems.append(f"{rel}: shared-models imports the I/O client {module!r}")
                    if _NODE_IMPORT.match(module):
                        problems.append(f"{rel}: shared-models imports the node {module!r}")
                    continue
                match = _NODE_IMPORT.match(module)
                if match and match.group(1) != pkg.node_name and match.group(0) not in reported:
                    reported.add(match.group(0))
                    problems.append(f"{rel}: imports another node package: {match.group(0)!r}")
    return problems


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def requirement_violations(requirement: str) -> list[str]:
    """A published requirement needs a lower bound and no exact pin."""
    spec = requirement.split(";", 1)[0]
    match = _REQUIREMENT.match(spec)
    if not match:
        return [f"unparsable requirement {requirement!r}"]
    name, _extras, specifier = match.groups()
    specifier = specifier.strip().strip("()")
    problems = []
    if "==" in specifier:
        problems.append(f"{name}: exact pin {specifier!r} (use a range)")
    elif not re.search(r"(>=|~=|>)", specifier):
        problems.append(f"{name}: no lower bound in {requirement!r}")
    return problems


def dependency_violations(pkg: Package) -> list[str]:
    """Lower bounds everywhere; shared-models declares no I/O client."""
    deps = [str(d) for d in _list(_table(pkg.pyproject, "project"), "dependencies")]
    problems = [f"{pkg.folder}: {p}" for dep in deps for p in requirement_violations(dep)]
    if pkg.is_shared_models:
        for dep in deps:
            match = _REQUIREMENT.match(dep)
            name = match.group(1).lower().replace("_", "-") if match else dep
            if name in IO_CLIENT_MODULES or name == "python-consul":
                problems.append(
                    f"{pkg.folder}: shared-models must not depend on I/O client {name!r}"
                )
    return problems


def local_test_package_violations(pkgs: dict[str, Package]) -> list[str]:
    """``test-packages`` must name other packages of this repository."""
    return [
        f"{pkg.folder}: test-packages names {folder!r}, "
        + ("itself" if folder == pkg.folder else "which is no package folder here")
        for pkg in pkgs.values()
        for folder in pkg.test_packages
        if folder == pkg.folder or folder not in pkgs
    ]
