"""tools/parallel_nox.py runs every listed session, heaviest first, and reports failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import parallel_nox
import pytest

FAKE_NOX = """#!{python}
import json, sys, time
sessions = {sessions!r}
if sys.argv[1:] == ["-l", "--json"]:
    print(json.dumps([{{"session": s}} for s in sessions]))
    sys.exit(0)
session = sys.argv[2]
with open({order!r}, "a") as f:
    f.write(session + "\\n")
print("running " + session)
sys.exit(3 if session.startswith("tests(bad") else 0)
"""


@pytest.fixture
def fake_nox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    order = tmp_path / "order.txt"
    sessions = ["lint", "tests(bad)", "integration", "mypy(x)"]
    script = tmp_path / "nox"
    script.write_text(FAKE_NOX.format(python=sys.executable, sessions=sessions, order=str(order)))
    script.chmod(0o755)
    monkeypatch.setattr(parallel_nox, "LOGS", tmp_path / "logs")
    return script, order


def test_heaviest_first_every_session_run_and_failures_reported(
    fake_nox: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    script, order = fake_nox
    assert parallel_nox.main(["--jobs", "1", "--nox", str(script)]) == 1
    assert order.read_text().split() == ["integration", "tests(bad)", "mypy(x)", "lint"]
    out = capsys.readouterr().out
    assert "[integration] running integration" in out
    assert "===== tests(bad) failed" in out
    assert "3 passed, 1 failed" in out
    assert (parallel_nox.LOGS / "tests_bad.log").read_text() == "running tests(bad)\n"


def test_all_passing_is_zero(fake_nox: tuple[Path, Path], tmp_path: Path) -> None:
    script, _ = fake_nox
    passing = tmp_path / "nox-ok"
    passing.write_text(script.read_text().replace("'tests(bad)', ", ""))
    passing.chmod(0o755)
    assert parallel_nox.main(["--jobs", "2", "--nox", str(passing)]) == 0


def test_weights() -> None:
    assert parallel_nox.weight("integration") > parallel_nox.weight("tests(x)")
    assert parallel_nox.weight("tests(x)") > parallel_nox.weight("build(x)")
    assert json.dumps(parallel_nox.WEIGHTS)  # plain data
