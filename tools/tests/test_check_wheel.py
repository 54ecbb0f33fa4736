"""The packaging checker of ``build(<pkg>)`` accepts a good wheel and catches bad ones."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from check_wheel import check_sdist, check_wheel, main

GOOD_METADATA = """Metadata-Version: 2.4
Name: omnibase-infra-tracing
Version: 0.1.0
Requires-Dist: omnibase-core<0.4,>=0.3.5
Requires-Dist: omnibase-infra-shared-models<0.2,>=0.1
Requires-Dist: pytest>=8; extra == "test"
"""

GOOD_FILES = {
    "omnibase_infra/nodes/node_tracing_compute/__init__.py": "",
    "omnibase_infra/nodes/node_tracing_compute/py.typed": "",
    "omnibase_infra/nodes/node_tracing_compute/v1_0_0/__init__.py": "",
    "omnibase_infra/nodes/node_tracing_compute/v1_0_0/contracts/compute_contract.yaml": "name: x\n",
}


def _wheel(tmp_path: Path, files: dict[str, str], metadata: str = GOOD_METADATA) -> Path:
    path = tmp_path / "omnibase_infra_tracing-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("omnibase_infra_tracing-0.1.0.dist-info/METADATA", metadata)
    return path


def _src(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def test_good_wheel_passes(tmp_path: Path) -> None:
    assert check_wheel(_wheel(tmp_path, GOOD_FILES), _src(tmp_path, GOOD_FILES)) == []


def test_wheel_with_namespace_init_is_caught(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {**GOOD_FILES, "omnibase_infra/__init__.py": ""})
    assert check_wheel(wheel) == ["wheel ships omnibase_infra/__init__.py: it breaks the namespace"]
    assert main([str(wheel)]) == 1


def test_wheel_with_nodes_namespace_init_is_caught(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {**GOOD_FILES, "omnibase_infra/nodes/__init__.py": ""})
    assert check_wheel(wheel) == [
        "wheel ships omnibase_infra/nodes/__init__.py: it breaks the namespace"
    ]


def test_missing_py_typed_is_caught(tmp_path: Path) -> None:
    files = {k: v for k, v in GOOD_FILES.items() if not k.endswith("py.typed")}
    assert check_wheel(_wheel(tmp_path, files)) == [
        "wheel package omnibase_infra/nodes/node_tracing_compute has no py.typed"
    ]


def test_library_package_leaf_is_below_its_kinds_namespace(tmp_path: Path) -> None:
    files = {
        "omnibase_infra/event_bus/nats/__init__.py": "",
        "omnibase_infra/event_bus/nats/bus.py": "",
    }
    assert check_wheel(_wheel(tmp_path, files)) == [
        "wheel package omnibase_infra/event_bus/nats has no py.typed"
    ]
    typed = {**files, "omnibase_infra/event_bus/nats/py.typed": ""}
    assert check_wheel(_wheel(tmp_path, typed)) == []
    broken = {**typed, "omnibase_infra/event_bus/__init__.py": ""}
    assert check_wheel(_wheel(tmp_path, broken)) == [
        "wheel ships omnibase_infra/event_bus/__init__.py: it breaks the namespace"
    ]


def test_shared_models_leaf_packages_need_py_typed(tmp_path: Path) -> None:
    files = {
        "omnibase_infra/errors/__init__.py": "",
        "omnibase_infra/enums/__init__.py": "",
        "omnibase_infra/enums/py.typed": "",
    }
    assert check_wheel(_wheel(tmp_path, files)) == [
        "wheel package omnibase_infra/errors has no py.typed"
    ]


def test_contract_left_out_of_the_wheel_is_caught(tmp_path: Path) -> None:
    src = _src(tmp_path, GOOD_FILES)
    files = {k: v for k, v in GOOD_FILES.items() if not k.endswith(".yaml")}
    assert check_wheel(_wheel(tmp_path, files), src) == [
        "contract omnibase_infra/nodes/node_tracing_compute/v1_0_0/contracts/compute_contract.yaml"
        " is not in the wheel"
    ]


@pytest.mark.parametrize(
    ("requirement", "fragment"),
    [("omnibase-core==0.3.5", "exact pin"), ("pydantic", "no lower bound")],
)
def test_bad_requires_dist_is_caught(tmp_path: Path, requirement: str, fragment: str) -> None:
    metadata = GOOD_METADATA + f"Requires-Dist: {requirement}\n"
    problems = check_wheel(_wheel(tmp_path, GOOD_FILES, metadata))
    assert len(problems) == 1
    assert fragment in problems[0]


def test_wheel_without_metadata_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "bare.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("omnibase_infra/enums/__init__.py", "")
        archive.writestr("omnibase_infra/enums/py.typed", "")
    assert check_wheel(path) == ["wheel has no METADATA"]


def _sdist(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "pkg-0.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name in names:
            info = tarfile.TarInfo(f"pkg-0.1.0/{name}")
            archive.addfile(info, io.BytesIO(b""))
    return path


def test_sdist_checks(tmp_path: Path) -> None:
    good = ["pyproject.toml", "README.md", "CHANGELOG.md", "src/omnibase_infra/enums/__init__.py"]
    assert check_sdist(_sdist(tmp_path, good)) == []
    bad = tmp_path / "bad"
    bad.mkdir()
    problems = check_sdist(_sdist(bad, ["pyproject.toml", "src/omnibase_infra/__init__.py"]))
    assert problems == [
        "sdist lacks README.md",
        "sdist lacks CHANGELOG.md",
        "sdist ships src/omnibase_infra/__init__.py",
    ]


def test_main_reports_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(_wheel(tmp_path, GOOD_FILES))]) == 0
    assert "packaging checks passed" in capsys.readouterr().out
