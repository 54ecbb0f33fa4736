"""The packaging checker of ``build(<pkg>)`` accepts a good wheel and catches bad ones."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from check_wheel import check_sdist, check_wheel, main

LICENSE_TEXT = "MIT License\n\nCopyright (c) 2026 omnibase_infra developers\n"
LICENSE_PATH = "omnibase_infra_tracing-0.1.0.dist-info/licenses/LICENSE"

GOOD_METADATA = """Metadata-Version: 2.4
Name: omnibase-infra-tracing
Version: 0.1.0
License-Expression: MIT
License-File: LICENSE
Classifier: Development Status :: 3 - Alpha
Classifier: Typing :: Typed
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


def _wheel(
    tmp_path: Path,
    files: dict[str, str],
    metadata: str = GOOD_METADATA,
    *,
    license_text: str | None = LICENSE_TEXT,
) -> Path:
    path = tmp_path / "omnibase_infra_tracing-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("omnibase_infra_tracing-0.1.0.dist-info/METADATA", metadata)
        if license_text is not None:
            archive.writestr(LICENSE_PATH, license_text)
    return path


def _src(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def test_good_wheel_passes(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, GOOD_FILES)
    assert check_wheel(wheel, _src(tmp_path, GOOD_FILES)) == []
    assert check_wheel(wheel, classifiers=KNOWN, license_text=LICENSE_TEXT.encode()) == []


KNOWN = frozenset({"Development Status :: 3 - Alpha", "Typing :: Typed"})


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


def test_wheel_without_license_file_is_caught(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, GOOD_FILES, license_text=None)
    assert check_wheel(wheel) == ["wheel has no *.dist-info/licenses/LICENSE"]
    assert main([str(wheel)]) == 1


def test_wheel_with_another_license_text_is_caught(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, GOOD_FILES, license_text="Apache License 2.0\n")
    assert check_wheel(wheel, license_text=LICENSE_TEXT.encode()) == [
        "wheel's LICENSE differs from the repository's LICENSE"
    ]


@pytest.mark.parametrize(
    ("dropped", "problem"),
    [
        ("License-Expression: MIT\n", "METADATA has no License-Expression"),
        ("License-File: LICENSE\n", "METADATA does not declare License-File: LICENSE"),
    ],
)
def test_license_metadata_left_out_is_caught(tmp_path: Path, dropped: str, problem: str) -> None:
    wheel = _wheel(tmp_path, GOOD_FILES, GOOD_METADATA.replace(dropped, ""))
    [found] = check_wheel(wheel)
    assert found.startswith(problem)


def test_license_classifier_beside_the_expression_is_caught(tmp_path: Path) -> None:
    metadata = GOOD_METADATA + "Classifier: License :: OSI Approved :: MIT License\n"
    [found] = check_wheel(_wheel(tmp_path, GOOD_FILES, metadata))
    assert "'License :: OSI Approved :: MIT License' beside License-Expression" in found


def test_unknown_classifier_is_caught(tmp_path: Path) -> None:
    metadata = GOOD_METADATA + "Classifier: Typing :: Untyped Maybe\n"
    wheel = _wheel(tmp_path, GOOD_FILES, metadata)
    assert check_wheel(wheel) == []  # without the trove list, classifiers are not judged
    assert check_wheel(wheel, classifiers=KNOWN) == [
        "classifier 'Typing :: Untyped Maybe' is not a trove classifier"
    ]


def test_wheel_without_metadata_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "bare.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("omnibase_infra/enums/__init__.py", "")
        archive.writestr("omnibase_infra/enums/py.typed", "")
    assert check_wheel(path) == ["wheel has no METADATA"]


def _sdist(tmp_path: Path, names: list[str], *, symlinks: dict[str, str] | None = None) -> Path:
    path = tmp_path / "pkg-0.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name in names:
            data = LICENSE_TEXT.encode() if name == "LICENSE" else b""
            info = tarfile.TarInfo(f"pkg-0.1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(f"pkg-0.1.0/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return path


GOOD_SDIST = [
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "src/omnibase_infra/enums/__init__.py",
]


def test_sdist_checks(tmp_path: Path) -> None:
    assert check_sdist(_sdist(tmp_path, GOOD_SDIST)) == []
    assert check_sdist(_sdist(tmp_path, GOOD_SDIST), license_text=LICENSE_TEXT.encode()) == []
    bad = tmp_path / "bad"
    bad.mkdir()
    problems = check_sdist(_sdist(bad, ["pyproject.toml", "src/omnibase_infra/__init__.py"]))
    assert problems == [
        "sdist lacks README.md",
        "sdist lacks CHANGELOG.md",
        "sdist lacks LICENSE",
        "sdist ships src/omnibase_infra/__init__.py",
    ]


def test_sdist_with_a_symlinked_or_different_license_is_caught(tmp_path: Path) -> None:
    # hatchling stores a symlinked LICENSE as a link: the wheel built from it has none.
    names = [n for n in GOOD_SDIST if n != "LICENSE"]
    linked = _sdist(tmp_path, names, symlinks={"LICENSE": "../../LICENSE"})
    assert check_sdist(linked) == ["sdist lacks LICENSE"]
    other = tmp_path / "other"
    other.mkdir()
    assert check_sdist(_sdist(other, GOOD_SDIST), license_text=b"Apache License 2.0\n") == [
        "sdist's LICENSE differs from the repository's LICENSE"
    ]


def test_main_reports_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    license_file = tmp_path / "LICENSE"
    license_file.write_text(LICENSE_TEXT)
    sdist_dir = tmp_path / "sdist"
    sdist_dir.mkdir()
    sdist = _sdist(sdist_dir, GOOD_SDIST)
    wheel = _wheel(tmp_path, GOOD_FILES)
    assert main([str(wheel), "--sdist", str(sdist), "--license", str(license_file)]) == 0
    assert "packaging checks passed" in capsys.readouterr().out


def test_main_rejects_a_wheel_without_license(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    license_file = tmp_path / "LICENSE"
    license_file.write_text(LICENSE_TEXT)
    wheel = _wheel(tmp_path, GOOD_FILES, license_text=None)
    assert main([str(wheel), "--license", str(license_file)]) == 1
    assert "wheel has no *.dist-info/licenses/LICENSE" in capsys.readouterr().out


def test_main_checks_classifiers_against_trove_classifiers(tmp_path: Path) -> None:
    # trove-classifiers: installed by the consistency session, as by build(pkg).
    metadata = GOOD_METADATA + "Classifier: Private :: Do Not Upload\n"
    assert main([str(_wheel(tmp_path, GOOD_FILES)), "--trove"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    assert main([str(_wheel(other, GOOD_FILES, metadata)), "--trove"]) == 1
