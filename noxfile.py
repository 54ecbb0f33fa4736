"""Every check of the monorepo. ``nox`` with no arguments runs what CI needs.

Package ids are folder names (``shared-models`` and each ``packages/<folder>``), so
``nox -s "tests(shared-models)"`` works and ``nox -l`` lists every id.

Isolation: the per-package sessions install only that package (built from its folder,
without uv workspace sources), the local packages it declares (shared-models) and its
``test``/``typecheck`` dependency group, plus the test harness where tests need it. A
missing declaration therefore fails there even when ``mypy_all`` or ``integration`` passes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
from repo_rules import LICENSE_FILE, SHARED_MODELS, Package, discover_packages  # noqa: E402
from session_env import remove_ambient_service_variables  # noqa: E402

PYTHON = "3.12"
# Both ends of omnibase-core>=0.3.5,<0.4: tests(pkg) runs on the upper end (pinned, so a
# resolver change cannot move it), core(pkg, core-0.3.5) on the lower end.
CORE_LOWER, CORE_UPPER = "0.3.5", "0.3.6"
COVERAGE_FLOOR = 90
HARNESS = ROOT / "tests-integration"
HARNESS_DISTRIBUTION = "omnibase-infra-testing"
PACKAGES = discover_packages(ROOT)
PACKAGE_IDS = list(PACKAGES)
SHARED_DISTRIBUTION = PACKAGES[SHARED_MODELS].distribution

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.needs_version = ">=2025.2.9"
# Never let uv download an interpreter: CI machines reach only the package registries.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
# Sessions resolve local packages from paths they pass explicitly, never from uv sources.
os.environ["UV_NO_SOURCES"] = "1"
# Tests talk to 127.0.0.1 only: keep any configured HTTP proxy out of the way.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"
# Nor a developer's service configuration (CONSUL_*, VAULT_*, BAO_*, PG*): client libraries
# would read it on their own. The harness's OMNIBASE_INFRA_TEST_* opt-ins stay.
if _ignored := remove_ambient_service_variables(os.environ):
    sys.stderr.write(f"nox: ignoring {', '.join(_ignored)} (see tools/session_env.py)\n")


def _local_requirements(pkg: Package) -> list[str]:
    """Local (unpublished) packages a package needs installed from this repo."""
    return [] if pkg.is_shared_models else [str(PACKAGES[SHARED_MODELS].path)]


def _group(pkg: Package, name: str) -> list[str]:
    pyproject = nox.project.load_toml(pkg.path / "pyproject.toml")
    return (
        nox.project.dependency_groups(pyproject, name)
        if name in pyproject.get("dependency-groups", {})
        else []
    )


def _isolated(pkg: Package, group: str) -> tuple[list[str], list[str]]:
    """What installs one package as users get it: its folder, its local deps and a
    dependency group (requirements), and the local distributions among them (which uv must
    rebuild every time). The package's ``test-packages`` (other local packages its tests
    use) come along too."""
    test_packages = [PACKAGES[folder] for folder in pkg.test_packages]
    local = [*_local_requirements(pkg), str(pkg.path), *(str(p.path) for p in test_packages)]
    dists = [SHARED_DISTRIBUTION, pkg.distribution, *(p.distribution for p in test_packages)]
    return [*local, *_group(pkg, group)], list(dict.fromkeys(dists))


def _reinstall(dists: list[str]) -> list[str]:
    """uv does not rebuild local packages on its own: name each one."""
    return [arg for dist in dists for arg in ("--reinstall-package", dist)]


def _install_isolated(session: nox.Session, pkg: Package, *, group: str, extra: list[str]) -> None:
    """Install one package as users get it, its local deps, a dependency group and extras."""
    requirements, dists = _isolated(pkg, group)
    session.install(*_reinstall(dists), *requirements, *extra)


def _harness_requirement(pkg: Package) -> str:
    """The test harness with the extras of the servers the package's tests need."""
    services = pkg.test_services
    suffix = f"[{','.join(services)}]" if services else ""
    return f"{HARNESS}{suffix}"


def _harness(pkg: Package) -> list[str]:
    return [*_reinstall([HARNESS_DISTRIBUTION]), _harness_requirement(pkg)]


def _pytest(tests: Path) -> list[str]:
    """pytest over one test folder with the shared configuration."""
    return ["pytest", str(tests), "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)]


def _run_tests(
    session: nox.Session, pkg: Package, *, coverage: bool, marker: str | None = None
) -> None:
    args = [*_pytest(pkg.path / "tests"), "--durations=5"]
    if marker is not None:
        args += ["-m", marker]
    if coverage:
        args += [
            f"--cov={pkg.coverage_target}",
            "--cov-branch",
            "--cov-report=term-missing:skip-covered",
            f"--cov-fail-under={COVERAGE_FLOOR}",
        ]
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m; print('omnibase-core', m.version('omnibase-core'))",
    )
    # One coverage data file per session: sessions running side by side must not mix data.
    coverage_file = str(Path(session.create_tmp()) / ".coverage")
    session.run(*args, *session.posargs, env={"COVERAGE_FILE": coverage_file})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", str(ROOT))
    session.run("ruff", "format", "--check", str(ROOT))


@nox.session(python=PYTHON)
@nox.parametrize("pkg", PACKAGE_IDS, ids=PACKAGE_IDS)
def mypy(session: nox.Session, pkg: str) -> None:
    """mypy --strict on one package's src and tests, with only what it declares installed."""
    package = PACKAGES[pkg]
    _install_isolated(session, package, group="typecheck", extra=_harness(package))
    # MYPYPATH=src makes the package's own modules resolve to its source tree; its local
    # dependencies (shared-models) resolve to their installed wheels.
    session.chdir(package.path)
    session.run(
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "src",
        "tests",
        env={"MYPYPATH": "src"},
    )


@nox.session(python=PYTHON)
@nox.parametrize("pkg", PACKAGE_IDS, ids=PACKAGE_IDS)
def tests(session: nox.Session, pkg: str) -> None:
    """One package's tests, in isolation, with branch coverage under a floor (core 0.3.6)."""
    package = PACKAGES[pkg]
    _install_isolated(
        session, package, group="test", extra=[*_harness(package), f"omnibase-core=={CORE_UPPER}"]
    )
    _run_tests(session, package, coverage=True)


@nox.session(python=PYTHON)
@nox.parametrize("core", [CORE_LOWER], ids=[f"core-{CORE_LOWER}"])
@nox.parametrize("pkg", PACKAGE_IDS, ids=PACKAGE_IDS)
def core(session: nox.Session, pkg: str, core: str) -> None:
    """One package's tests on the lower end of the omnibase-core range (tests(pkg): upper)."""
    package = PACKAGES[pkg]
    _install_isolated(
        session, package, group="test", extra=[*_harness(package), f"omnibase-core=={core}"]
    )
    # Tests marked slow (crash loops, property tests) exercise our own logic, which does
    # not change with core's version; tests(pkg) runs them.
    _run_tests(session, package, coverage=False, marker="not slow")


# Prints the installed version of every dependency a distribution declares (not its extras).
_SHOW_DEPENDENCY_VERSIONS = """
import importlib.metadata as m, re, sys
for dist in sys.argv[1:]:
    reqs = [r for r in m.requires(dist) or [] if "extra ==" not in r]
    names = sorted({re.split(r"[^A-Za-z0-9._-]", r, maxsplit=1)[0] for r in reqs})
    print(dist, "on:", ", ".join(f"{n} {m.version(n)}" for n in names))
"""


@nox.session(python=PYTHON, default=False)
@nox.parametrize("pkg", PACKAGE_IDS, ids=PACKAGE_IDS)
def lowest(session: nox.Session, pkg: str) -> None:
    """One package's tests on the lowest versions its ranges allow (no coverage floor).

    ``uv pip compile --resolution lowest-direct`` over the package, its local deps, its
    ``test`` group and the harness: every range they declare at its floor (transitive
    dependencies at their highest), then ``uv pip sync`` makes the venv exactly that, also
    when it is reused after a floor moved down.
    """
    package = PACKAGES[pkg]
    requirements, dists = _isolated(package, "test")
    tmp = Path(session.create_tmp())
    wanted, pinned = tmp / "lowest.in", tmp / "lowest.txt"
    wanted.write_text("\n".join([*requirements, _harness_requirement(package)]) + "\n")
    python = str(Path(session.bin) / "python")
    session.run(
        "uv", "pip", "compile", "--quiet", "--resolution", "lowest-direct", "--python", python,
        "--no-header", "--output-file", str(pinned), str(wanted),
    )  # fmt: skip
    session.run(
        "uv", "pip", "sync", "--quiet", "--python", python,
        *_reinstall([*dists, HARNESS_DISTRIBUTION]), str(pinned),
    )  # fmt: skip
    session.run("python", "-c", _SHOW_DEPENDENCY_VERSIONS, *dists)
    _run_tests(session, package, coverage=False)


@nox.session(python=PYTHON)
@nox.parametrize("pkg", PACKAGE_IDS, ids=PACKAGE_IDS)
def build(session: nox.Session, pkg: str) -> None:
    """Build sdist + wheel without workspace sources, check them, install them alone, import."""
    package = PACKAGES[pkg]
    # twine 6.1: metadata 2.4 (PEP 639 License-Expression/License-File).
    session.install("uv>=0.5", "twine>=6.1", "trove-classifiers>=2025.1")
    out = Path(session.create_tmp()) / "dist" / pkg
    shutil.rmtree(out, ignore_errors=True)
    deps_out = out / "deps"
    for local in _local_requirements(package):
        session.run("uv", "build", "--quiet", "--no-sources", "--out-dir", str(deps_out), local)
    session.run("uv", "build", "--quiet", "--no-sources", "--out-dir", str(out), str(package.path))
    wheel = next(out.glob("*.whl"))
    sdist = next(out.glob("*.tar.gz"))
    session.run(
        "python",
        str(ROOT / "tools" / "check_wheel.py"),
        str(wheel),
        "--sdist",
        str(sdist),
        "--src",
        str(package.path / "src"),
        "--license",
        str(ROOT / LICENSE_FILE),
        "--trove",
    )
    # What PyPI would say of the metadata and the README's rendering, before any upload.
    session.run("twine", "check", "--strict", str(wheel), str(sdist))
    # A fresh venv holding only the built wheels and their declared dependencies from the index.
    with tempfile.TemporaryDirectory(prefix=f"omnibase-infra-{pkg}-") as venv:
        python = str(Path(venv) / "bin" / "python")
        session.run("uv", "venv", "--quiet", "--python", PYTHON, venv)
        wheels = [str(wheel), *map(str, sorted(deps_out.glob("*.whl")))]
        session.run("uv", "pip", "install", "--quiet", "--python", python, *wheels)
        session.run(
            python, str(ROOT / "tools" / "import_check.py"), package.distribution, external=True
        )


@nox.session(python=PYTHON)
def consistency(session: nox.Session) -> None:
    """Repository rules: naming, namespace, imports between packages, the packaging checker."""
    # pytest-asyncio: the shared pytest configuration names its options. nox: a test loads
    # this noxfile; trove-classifiers: the packaging checker's classifier check.
    session.install(
        "pytest>=8.3", "pytest-asyncio>=0.24", "nox>=2025.2.9", "trove-classifiers>=2025.1"
    )
    session.run(
        "pytest",
        str(ROOT / "tools" / "tests"),
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
    )


def _install_everything(session: nox.Session, *groups: str) -> None:
    installed = [str(p.path) for p in PACKAGES.values()]
    group_reqs = [req for p in PACKAGES.values() for g in groups for req in _group(p, g)]
    harness_pyproject = nox.project.load_toml(HARNESS / "pyproject.toml")
    smoke = nox.project.dependency_groups(harness_pyproject, "smoke")
    reinstall = _reinstall([*(p.distribution for p in PACKAGES.values()), HARNESS_DISTRIBUTION])
    session.install(
        *reinstall,
        *installed,
        f"{HARNESS}[all]",
        *smoke,
        *group_reqs,
    )


@nox.session(python=PYTHON)
def mypy_all(session: nox.Session) -> None:
    """Every package installed together; one mypy --strict run over all sources."""
    _install_everything(session, "typecheck")
    sources = [str(p.path / "src") for p in PACKAGES.values()]
    session.run(
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        *sources,
        str(HARNESS / "src"),
        str(HARNESS / "tests"),
        env={"MYPYPATH": os.pathsep.join(sources)},
    )


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Every package + the harness against the real services (embedded defaults)."""
    _install_everything(session, "test")
    session.run(
        "pytest",
        str(HARNESS / "tests"),
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        *session.posargs,
    )


@nox.session(python=PYTHON, default=False)
def integration_external_postgres(session: nox.Session) -> None:
    """The integration tests again against an external PostgreSQL (default 127.0.0.1:5432)."""
    _install_everything(session, "test")
    dsn = os.environ.get(
        "OMNIBASE_INFRA_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    session.run(
        "pytest",
        str(HARNESS / "tests"),
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        *session.posargs,
        env={"OMNIBASE_INFRA_TEST_POSTGRES_DSN": dsn},
    )


FUZZ_SECONDS_ENV = "OMNIBASE_INFRA_FUZZ_SECONDS"  # read by omnibase_infra_testing.fuzz
FUZZ_SECONDS_DEFAULT = "60"


def _is_seconds(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


CHAOS_KILLS = "20"


@nox.session(python=PYTHON, default=False)
def chaos(session: nox.Session) -> None:
    """The SIGKILL crash suites with many kills (``ONEX_CHAOS_KILLS``, default 20 per
    store; ``nox -s chaos -- -k sqlite`` for one store), each printing its table: first
    the orchestrator's suite (``packages/orchestrator/tests/test_crash.py``, test nodes:
    kills, kills inside a store write, runs, resumed, calls per step kind, duplicates,
    lost), then the real deployment workflow against the real servers
    (``tests-integration/tests/test_deployment_crash.py``: kills, runs, resumes, calls per
    step kind, duplicates, leaked Vault leases/login roles, lost effects); then the
    workers' fault test at full size (3 worker processes, 60 workflows, 10 SIGKILL/SIGSTOP
    faults: ``ONEX_WORKER_CHAOS_WORKFLOWS``/``_FAULTS``). Not in the default list (several
    minutes per store on 2 cores); the default sessions run short versions (4 and 2 kills
    per store; 20 workflows and 4 faults)."""
    _install_everything(session, "test")
    package = PACKAGES["orchestrator"]
    kills = {"ONEX_CHAOS_KILLS": os.environ.get("ONEX_CHAOS_KILLS", CHAOS_KILLS)}
    session.run(
        *_pytest(package.path / "tests" / "test_crash.py"),
        "-m", "chaos", "-s", *session.posargs,
        env=kills,
    )  # fmt: skip
    session.run(
        *_pytest(HARNESS / "tests" / "test_deployment_crash.py"), "-s", *session.posargs,
        env=kills,
    )  # fmt: skip
    # The workers' fault test at the issue's size: 3 workers, 60 workflows, 10 faults.
    session.run(
        *_pytest(package.path / "tests" / "test_workers.py"),
        "-k", "sigkill_and_sigstop", "-s", *session.posargs,
        env={
            "ONEX_WORKER_CHAOS_WORKFLOWS": os.environ.get("ONEX_WORKER_CHAOS_WORKFLOWS", "60"),
            "ONEX_WORKER_CHAOS_FAULTS": os.environ.get("ONEX_WORKER_CHAOS_FAULTS", "10"),
        },
    )  # fmt: skip


@nox.session(python=PYTHON, default=False)
def fuzz(session: nox.Session) -> None:
    """Every fuzz target (``pytest -m fuzz``) of every package and the harness, each run for
    a time budget: ``nox -s fuzz -- 300`` (seconds, first argument; the rest goes to pytest),
    else ``OMNIBASE_INFRA_FUZZ_SECONDS``, else 60. The default ``tests(pkg)`` sessions run
    the same targets briefly."""
    args = list(session.posargs)
    seconds = os.environ.get(FUZZ_SECONDS_ENV, "").strip() or FUZZ_SECONDS_DEFAULT
    if args and _is_seconds(args[0]):
        seconds = args.pop(0)
    if not _is_seconds(seconds):
        session.error(f"{FUZZ_SECONDS_ENV}={seconds!r}: give a number of seconds")
    _install_everything(session, "test")
    folders = [*(p.path / "tests" for p in PACKAGES.values()), HARNESS / "tests"]
    # One pytest per folder, as in tests(pkg) (each package's tests import their own
    # helpers); a folder without targets is skipped, and no target at all is an error.
    targets: dict[Path, int] = {}
    for folder in folders:
        listed = session.run(
            *_pytest(folder), "-m", "fuzz", "--collect-only", "-q", *args,
            silent=True, success_codes=[0, 5],
        )  # fmt: skip
        count = sum("::" in line for line in str(listed).splitlines())
        if count:
            targets[folder] = count
    if not targets:
        session.error("no fuzz targets found (omnibase_infra_testing.fuzz.fuzz_target)")
    session.log(
        f"{sum(targets.values())} fuzz targets, {seconds} s each: "
        + ", ".join(f"{f.parent.name} {n}" for f, n in targets.items())
    )
    failed: list[str] = []
    for folder in targets:
        try:
            session.run(
                *_pytest(folder), "-m", "fuzz", "--durations=0", *args,
                env={FUZZ_SECONDS_ENV: seconds},
            )  # fmt: skip
        except nox.command.CommandFailed:
            failed.append(folder.parent.name)
    if failed:
        session.error(f"fuzz targets failed in: {', '.join(failed)}")


BENCH_PACKAGES = [
    pkg for pkg, p in PACKAGES.items() if (p.path / "benchmarks" / "bench.py").is_file()
]


@nox.session(python=PYTHON, default=False)
@nox.parametrize("pkg", BENCH_PACKAGES, ids=BENCH_PACKAGES)
def bench(session: nox.Session, pkg: str) -> None:
    """A package's benchmarks beside their baselines; report in .bench/<pkg>.json."""
    package = PACKAGES[pkg]
    _install_isolated(session, package, group="bench", extra=_harness(package))
    report = ROOT / ".bench" / f"{pkg}.json"
    session.run(
        "python",
        str(package.path / "benchmarks" / "bench.py"),
        "--output",
        str(report),
        *session.posargs,
        env={"PYTHONPATH": str(ROOT / "tools")},
    )


@nox.session(python=PYTHON, default=False)
def demo(session: nox.Session) -> None:
    """The main job: deploy and decommission a sample service against the embedded services
    (the real ``onex-infra`` CLI), printing each step, every reducer transition, the
    infrastructure after each workflow and a trace summary (tools/demo.py)."""
    _install_everything(session)
    session.run("python", str(ROOT / "tools" / "demo.py"), *session.posargs)
