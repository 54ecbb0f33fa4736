"""The repository follows its naming, namespace and dependency rules (architecture §2-§3).

The first tests read the real tree; the rest build small bad trees to prove that each
rule catches what it is meant to catch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_rules import (
    LICENSE_EXPRESSION,
    LICENSE_FILE,
    ROOT,
    SHARED_MODELS,
    Package,
    dependency_violations,
    discover_packages,
    expected_node_names,
    import_violations,
    local_test_package_violations,
    metadata_violations,
    naming_violations,
    required_files_violations,
)

PACKAGES = discover_packages(ROOT)


def test_shared_models_is_discovered() -> None:
    assert SHARED_MODELS in PACKAGES
    assert PACKAGES[SHARED_MODELS].distribution == "omnibase-infra-shared-models"


@pytest.mark.parametrize("folder", list(PACKAGES))
def test_package_follows_the_naming_rule(folder: str) -> None:
    assert naming_violations(PACKAGES[folder]) == []


@pytest.mark.parametrize("folder", list(PACKAGES))
def test_package_has_readme_changelog_and_bounded_dependencies(folder: str) -> None:
    pkg = PACKAGES[folder]
    assert required_files_violations(pkg) + dependency_violations(pkg) == []


@pytest.mark.parametrize("folder", list(PACKAGES))
def test_package_metadata_license_urls_and_classifiers(folder: str) -> None:
    assert metadata_violations(PACKAGES[folder]) == []


def test_root_license_is_the_declared_license() -> None:
    assert LICENSE_EXPRESSION == "MIT"
    text = (ROOT / LICENSE_FILE).read_text()
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_no_node_imports_another_and_shared_models_imports_no_io_client() -> None:
    assert import_violations(PACKAGES) == []


def test_test_packages_name_other_packages_of_the_repository() -> None:
    assert local_test_package_violations(PACKAGES) == []


def test_no_namespace_init_anywhere_in_the_tree() -> None:
    inits = [
        p.relative_to(ROOT).as_posix()
        for p in ROOT.glob("**/src/omnibase_infra/**/__init__.py")
        if p.parent.name in {"omnibase_infra", "nodes"} and ".nox" not in p.parts
    ]
    assert [
        i for i in inits if i.endswith(("omnibase_infra/__init__.py", "nodes/__init__.py"))
    ] == []


# --- the rules catch violations -------------------------------------------------------


def _write_package(
    root: Path,
    folder: str,
    *,
    dist: str | None = None,
    node: str | None = None,
    entry_point: str | None = None,
    deps: tuple[str, ...] = ("omnibase-core>=0.3.5,<0.4",),
    files: dict[str, str] | None = None,
) -> Path:
    base = root / ("shared-models" if folder == SHARED_MODELS else f"packages/{folder}")
    (base / "src/omnibase_infra").mkdir(parents=True)
    dist = dist or f"omnibase-infra-{folder}"
    lines = [
        "[project]",
        f'name = "{dist}"',
        "dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]",
    ]
    if node:
        (base / f"src/omnibase_infra/nodes/{node}/v1_0_0").mkdir(parents=True)
        (base / f"src/omnibase_infra/nodes/{node}/__init__.py").write_text("")
        ep = entry_point or f"omnibase_infra.nodes.{node}.v1_0_0:Node"
        lines += ['[project.entry-points."omnibase_infra.nodes"]', f'{node} = "{ep}"']
    (base / "pyproject.toml").write_text("\n".join(lines) + "\n")
    for name, text in (files or {}).items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def test_the_event_bus_library_follows_the_library_kind() -> None:
    pkg = PACKAGES["event-bus-nats"]
    assert pkg.library == ("event_bus", "omnibase_infra.event_bus", "nats")
    assert pkg.coverage_target == "omnibase_infra.event_bus.nats"
    assert pkg.entry_points == {}
    assert pkg.entry_points_in("omnibase_infra.event_bus") == {
        "nats": "omnibase_infra.event_bus.nats:NatsEventBus"
    }


def _write_library(
    root: Path,
    folder: str = "event-bus-nats",
    *,
    leaf: str = "nats",
    group: str = "omnibase_infra.event_bus",
    entry_point: str = 'nats = "omnibase_infra.event_bus.nats:NatsEventBus"',
) -> Package:
    base = _write_package(root, folder)
    (base / f"src/omnibase_infra/event_bus/{leaf}").mkdir(parents=True)
    (base / f"src/omnibase_infra/event_bus/{leaf}/__init__.py").write_text("")
    with (base / "pyproject.toml").open("a") as f:
        f.write(f'[project.entry-points."{group}"]\n{entry_point}\n')
    return discover_packages(root)[folder]


def test_good_library_package_passes(tmp_path: Path) -> None:
    pkg = _write_library(tmp_path)
    assert naming_violations(pkg) == []
    assert pkg.library_import == "omnibase_infra.event_bus.nats"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"leaf": "natsio"}, "must ship exactly omnibase_infra/event_bus/nats/"),
        ({"group": "omnibase_infra.nodes"}, "a library declares no omnibase_infra.nodes"),
        ({"entry_point": 'bus = "omnibase_infra.event_bus.nats:Bus"'}, "must declare exactly"),
        (
            {"entry_point": 'nats = "omnibase_infra.event_bus.natsx:Bus"'},
            "points outside its package",
        ),
    ],
)
def test_library_rule_violations_are_caught(
    tmp_path: Path, kwargs: dict[str, str], fragment: str
) -> None:
    problems = naming_violations(_write_library(tmp_path, **kwargs))
    assert any(fragment in p for p in problems), problems


def test_library_namespace_init_and_stray_packages_are_caught(tmp_path: Path) -> None:
    pkg = _write_library(tmp_path)
    (pkg.path / "src/omnibase_infra/event_bus/__init__.py").write_text("")
    (pkg.path / "src/omnibase_infra/nodes").mkdir()
    problems = naming_violations(pkg)
    assert any("event_bus/__init__.py, which breaks the namespace" in p for p in problems)
    assert any(
        "ships only omnibase_infra/event_bus/, found ['event_bus', 'nodes']" in p for p in problems
    )


def test_expected_node_names_follow_the_rule() -> None:
    assert "node_postgres_adapter_effect" in expected_node_names("postgres-adapter")
    assert "node_circuit_breaker_compute" in expected_node_names("circuit-breaker")
    assert "infra_reducer" in expected_node_names("reducer")
    assert "infra_postgres_adapter" not in expected_node_names("postgres-adapter")


def test_good_node_package_passes(tmp_path: Path) -> None:
    _write_package(tmp_path, "postgres-adapter", node="node_postgres_adapter_effect")
    pkgs = discover_packages(tmp_path)
    assert naming_violations(pkgs["postgres-adapter"]) == []


def test_wrong_distribution_name_is_caught(tmp_path: Path) -> None:
    _write_package(
        tmp_path, "vault-adapter", dist="omnibase-vault", node="node_vault_adapter_effect"
    )
    problems = naming_violations(discover_packages(tmp_path)["vault-adapter"])
    assert any("omnibase-infra-vault-adapter" in p for p in problems)


def test_wrong_node_folder_and_entry_point_are_caught(tmp_path: Path) -> None:
    _write_package(tmp_path, "webhook", node="node_webhooks_effect")
    problems = naming_violations(discover_packages(tmp_path)["webhook"])
    assert any("breaks the rule" in p for p in problems)

    other = tmp_path / "other"
    _write_package(
        other, "tracing", node="node_tracing_compute", entry_point="omnibase_infra.nodes.x:Node"
    )
    problems = naming_violations(discover_packages(other)["tracing"])
    assert any("points outside its node" in p for p in problems)


def test_namespace_init_is_caught(tmp_path: Path) -> None:
    base = _write_package(tmp_path, "reducer", node="infra_reducer")
    (base / "src/omnibase_infra/__init__.py").write_text("")
    (base / "src/omnibase_infra/nodes/__init__.py").write_text("")
    problems = naming_violations(discover_packages(tmp_path)["reducer"])
    assert sum("breaks the namespace" in p for p in problems) == 2


def test_node_importing_another_node_is_caught(tmp_path: Path) -> None:
    _write_package(
        tmp_path,
        "orchestrator",
        node="infra_orchestrator",
        files={
            "src/omnibase_infra/nodes/infra_orchestrator/run.py": (
                "from omnibase_infra.nodes.node_postgres_adapter_effect import v1_0_0\n"
            )
        },
    )
    problems = import_violations(discover_packages(tmp_path))
    assert problems == [
        "orchestrator/src/omnibase_infra/nodes/infra_orchestrator/run.py: imports another node "
        "package: 'omnibase_infra.nodes.node_postgres_adapter_effect'"
    ]


def test_shared_models_io_client_import_and_dependency_are_caught(tmp_path: Path) -> None:
    _write_package(
        tmp_path,
        SHARED_MODELS,
        deps=("asyncpg>=0.29", "pydantic>=2.9"),
        files={"src/omnibase_infra/models/db.py": "import asyncpg\n"},
    )
    pkgs = discover_packages(tmp_path)
    assert any("I/O client 'asyncpg'" in p for p in import_violations(pkgs))
    assert any("I/O client 'asyncpg'" in p for p in dependency_violations(pkgs[SHARED_MODELS]))


@pytest.mark.parametrize(
    ("requirement", "fragment"),
    [
        ("omnibase-core==0.3.5", "exact pin"),
        ("pydantic", "no lower bound"),
        ("hvac<3", "no lower bound"),
    ],
)
def test_bad_requirements_are_caught(tmp_path: Path, requirement: str, fragment: str) -> None:
    _write_package(
        tmp_path, "consul-adapter", node="node_consul_adapter_effect", deps=(requirement,)
    )
    problems = dependency_violations(discover_packages(tmp_path)["consul-adapter"])
    assert any(fragment in p for p in problems)


def test_missing_readme_and_changelog_are_caught(tmp_path: Path) -> None:
    _write_package(tmp_path, "tracing", node="node_tracing_compute")
    problems = required_files_violations(discover_packages(tmp_path)["tracing"])
    assert problems == ["tracing: missing README.md", "tracing: missing CHANGELOG.md"]


def test_test_packages_naming_itself_or_nothing_are_caught(tmp_path: Path) -> None:
    base = _write_package(tmp_path, "orchestrator", node="infra_orchestrator")
    with (base / "pyproject.toml").open("a") as f:
        f.write('[tool.omnibase-infra]\ntest-packages = ["reducer", "orchestrator"]\n')
    problems = local_test_package_violations(discover_packages(tmp_path))
    assert problems == [
        "orchestrator: test-packages names 'reducer', which is no package folder here",
        "orchestrator: test-packages names 'orchestrator', itself",
    ]


GOOD_PROJECT_METADATA = """
license = "MIT"
license-files = ["LICENSE"]
classifiers = [
    "Development Status :: 3 - Alpha",
    "Programming Language :: Python :: 3.12",
    "Typing :: Typed",
]
[project.urls]
Homepage = "https://example.org/omnibase_infra"
Repository = "https://example.org/omnibase_infra"
Issues = "https://example.org/omnibase_infra/issues"
Changelog = "https://example.org/omnibase_infra/blob/main/packages/reducer/CHANGELOG.md"
"""


def _metadata_package(
    root: Path, metadata: str, *, license_text: str | None = "MIT License\n"
) -> Package:
    (root / LICENSE_FILE).write_text("MIT License\n")
    base = _write_package(root, "reducer", node="infra_reducer")
    text = (base / "pyproject.toml").read_text()
    project, _, rest = text.partition("[project.entry-points")
    (base / "pyproject.toml").write_text(project + metadata + "[project.entry-points" + rest)
    if license_text is not None:
        (base / LICENSE_FILE).write_text(license_text)
    return discover_packages(root)["reducer"]


def test_good_metadata_passes(tmp_path: Path) -> None:
    assert metadata_violations(_metadata_package(tmp_path, GOOD_PROJECT_METADATA), tmp_path) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('license = "MIT"', 'license = "Apache-2.0"', "license is 'Apache-2.0', not 'MIT'"),
        ('license-files = ["LICENSE"]', "", "license-files must be ['LICENSE']"),
        ('    "Typing :: Typed",\n', "", "classifier 'Typing :: Typed' missing"),
        (
            '    "Development Status :: 3 - Alpha",\n',
            "",
            "no 'Development Status' classifier",
        ),
        (
            '    "Typing :: Typed",\n',
            '    "Typing :: Typed",\n    "License :: OSI Approved :: MIT License",\n',
            "the license expression replaces it (PEP 639)",
        ),
        ('Issues = "https://example.org/omnibase_infra/issues"\n', "", "lacks Issues"),
        ("packages/reducer/CHANGELOG.md", "CHANGELOG.md", "does not end in packages/reducer/"),
    ],
)
def test_metadata_problems_are_caught(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in GOOD_PROJECT_METADATA
    pkg = _metadata_package(tmp_path, GOOD_PROJECT_METADATA.replace(old, new))
    [found] = metadata_violations(pkg, tmp_path)
    assert problem in found


@pytest.mark.parametrize(
    ("license_text", "problem"),
    [
        (None, "needs a copy of the root LICENSE (a file, not a link)"),
        ("Apache License\n", "LICENSE differs from the root LICENSE"),
    ],
)
def test_missing_or_different_package_license_is_caught(
    tmp_path: Path, license_text: str | None, problem: str
) -> None:
    pkg = _metadata_package(tmp_path, GOOD_PROJECT_METADATA, license_text=license_text)
    assert metadata_violations(pkg, tmp_path) == [f"reducer: {problem}"]


def test_symlinked_package_license_is_caught(tmp_path: Path) -> None:
    pkg = _metadata_package(tmp_path, GOOD_PROJECT_METADATA, license_text=None)
    (pkg.path / LICENSE_FILE).symlink_to(tmp_path / LICENSE_FILE)
    assert metadata_violations(pkg, tmp_path) == [
        "reducer: needs a copy of the root LICENSE (a file, not a link)"
    ]
