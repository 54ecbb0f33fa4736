"""The command line: sanitize, span, comment; JSON out, exit status 2 on bad input."""

from __future__ import annotations

import io
import json
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from omnibase_infra.nodes.node_tracing_compute.v1_0_0.__main__ import main
from omnibase_infra.observability import ModelOperationRecord

type RecordFactory = Callable[..., ModelOperationRecord]

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SECRET = "cli-secret-literal-77"
LEAKY_SQL = f"UPDATE accounts SET pw = '{SECRET}' WHERE id = 3"  # noqa: S608 - to sanitize


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out else None, captured.err


def test_sanitize(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = _run(capsys, "sanitize", LEAKY_SQL)
    assert status == 0
    assert isinstance(output, dict)
    assert SECRET not in output["statement"]
    assert output["operation"] == "UPDATE"
    assert list(output["tables"]) == ["accounts"]


def test_span_from_a_file_and_from_stdin(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make_record: RecordFactory,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")  # ignored without --export
    record = make_record(statement="SELECT 1")
    path = tmp_path / "record.json"
    path.write_text(record.model_dump_json())
    status, output, _ = _run(capsys, "span", str(path))
    assert status == 0
    assert isinstance(output, dict)
    assert output["span_id"] == record.correlation.span_id
    assert output["attributes"]["db.query.text"] == record.statement

    records = [record.model_dump(mode="json"), make_record().model_dump(mode="json")]
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(records)))
    status, output, _ = _run(capsys, "span", "-")
    assert status == 0
    assert isinstance(output, list)
    assert [span["span_id"] for span in output] == [r["correlation"]["span_id"] for r in records]


def test_span_export_uses_the_environment(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make_record: RecordFactory,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    path = tmp_path / "record.json"
    path.write_text(make_record().model_dump_json())
    assert main(["span", str(path), "--export"]) == 0
    out = capsys.readouterr().out
    assert out.count('"start_time_unix_nano"') == 1  # our description
    assert out.count('"context"') == 1  # the console exporter's span


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "Expecting"), ('{"operation": "x"}', "invalid operation record")],
)
def test_span_with_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    status, output, err = _run(capsys, "span", str(path))
    assert status == 2
    assert output is None
    assert message in err


def test_span_with_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "span", str(tmp_path / "missing.json"))
    assert status == 2
    assert "missing.json" in err


def test_comment(capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = _run(
        capsys, "comment", "SELECT 1;", "--traceparent", TRACEPARENT, "--tracestate", "a=1"
    )
    assert status == 0
    assert output == {"sql": f"SELECT 1 /*traceparent='{TRACEPARENT}',tracestate='a%3D1'*/;"}
    status, output, _ = _run(capsys, "comment", "SELECT 1", "--traceparent", TRACEPARENT[:-1] + "0")
    assert output == {"sql": "SELECT 1"}  # not sampled
    status, output, err = _run(capsys, "comment", "SELECT 1", "--traceparent", "nonsense")
    assert status == 2
    assert "traceparent" in err


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "omnibase_infra.nodes.node_tracing_compute.v1_0_0",
            "sanitize",
            "SELECT 'x'",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "'x'" not in json.loads(done.stdout)["statement"]


def test_runs_as_the_main_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module's own entry (in-process, so that coverage sees it too)."""
    package = "omnibase_infra.nodes.node_tracing_compute.v1_0_0"
    monkeypatch.setattr(sys, "argv", ["tracing", "sanitize", "SELECT 'x'"])
    monkeypatch.delitem(sys.modules, f"{package}.__main__")  # imported above, run afresh
    with pytest.raises(SystemExit) as exited:
        runpy.run_module(package, run_name="__main__")
    assert exited.value.code == 0
    assert "'x'" not in json.loads(capsys.readouterr().out)["statement"]
