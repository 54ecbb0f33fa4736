"""The command line: every operation as JSON, errors as JSON with a non-zero status."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import DSN_ENV
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0.__main__ import main

pytestmark = pytest.mark.real_service

MODULE = "omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0"


def _run(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, json.loads(out.getvalue())


def test_operations_from_the_command_line(
    database_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_ENV, database_dsn)
    code, created = _run("execute", "CREATE TABLE cli_items (id int PRIMARY KEY, note text)")
    assert (code, created["status"]) == (0, "CREATE TABLE")
    code, many = _run(
        "execute-many", "INSERT INTO cli_items VALUES ($1, $2)", "--args", '[[1, "a"], [2, "b"]]'
    )
    assert (code, many["batch_size"]) == (0, 2)
    records = tmp_path / "records.json"
    records.write_text('[[3, "c"], [4, "d"]]')
    code, copied = _run(
        "copy-records", "cli_items", "--records", f"@{records}", "--columns", "id,note"
    )
    assert (code, copied["row_count"]) == (0, 2)
    code, fetched = _run(
        "--indent", "2", "fetch", "SELECT id, note FROM cli_items WHERE id > $1 ORDER BY id", "2"
    )
    assert code == 0
    assert fetched["rows"] == [{"id": 3, "note": "c"}, {"id": 4, "note": "d"}]
    code, one = _run("fetch-one", "SELECT note FROM cli_items WHERE note = $1", '"a"')
    assert one["row"] == {"note": "a"}
    code, value = _run("fetch-value", "SELECT count(*) AS n FROM cli_items", "--column", '"n"')
    assert value["value"] == 4
    code, inserted = _run(
        "fetch-one",
        "INSERT INTO cli_items VALUES ($1, $2) RETURNING id",
        "5",
        "plain text",
        "--write",
    )
    assert inserted["row"] == {"id": 5}
    code, tx = _run(
        "transaction",
        "--statements",
        '[{"sql": "SELECT count(*) FROM cli_items", "fetch": true}]',
        "--read-only",
        "--isolation",
        "repeatable_read",
    )
    assert (code, tx["results"][0]["rows"]) == (0, [{"count": 5}])
    code, raw = _run(
        "request", '{"operation": "fetch_value", "sql": "SELECT 40 + $1::int", "params": [2]}'
    )
    assert raw["value"] == 42
    code, health = _run("health")
    assert (code, health["status"]) == (0, "healthy")
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_t.sql").write_text("CREATE TABLE cli_migrated (id int);")
    code, migrated = _run("migrate", "--directory", str(migrations), "--table", "cli_history")
    assert (code, [m["version"] for m in migrated["applied"]]) == (0, [1])
    code, pending = _run(
        "migrate",
        "--directory",
        str(migrations),
        "--table",
        "cli_history",
        "--dry-run",
        "--target-version",
        "9",
    )
    assert (code, pending["pending"], pending["already_applied"]) == (0, [], 1)


def test_errors_are_json_with_a_status(database_dsn: str) -> None:
    code, refused = _run("--dsn", database_dsn, "fetch", "SELECT 1; DROP TABLE x")
    assert code == 1
    assert refused["error"]["code"] == "ONEX_INFRA_015_VALIDATION_ERROR"
    assert refused["error"]["details"]["rule"] == "multiple_statements"
    code, usage = _run("--dsn", database_dsn, "fetch", "SELECT 1", "--max-rows", "0")
    assert code == 2
    assert usage["error"]["problems"] == [
        "fetch.max_rows: Input should be greater than or equal to 1"
    ]
    code, usage = _run("--dsn", database_dsn, "request", "[1, 2]")
    assert (code, usage["error"]["problems"]) == (2, ["request: the request must be a JSON object"])


def test_usage_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    with pytest.raises(SystemExit) as missing:
        main(["health"])
    assert missing.value.code == 2
    assert DSN_ENV in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_json:
        main(["--dsn", "postgresql://x/y", "execute-many", "SELECT 1", "--args", "{not json"])
    assert bad_json.value.code == 2


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://app:cli-Secret-9@db:5432/app",
        "postgresql://app@db:5432/app?password=cli-Secret-9",
        "host=db user=app password=cli-Secret-9",
    ],
)
def test_a_dsn_with_a_password_is_refused_on_the_command_line(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before anything connects, saying where the DSN goes, never repeating it."""
    monkeypatch.delenv(DSN_ENV, raising=False)
    with pytest.raises(SystemExit) as refused:
        main(["--dsn", dsn, "health"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "--dsn holds a password or token" in err
    assert DSN_ENV in err
    assert "--dsn-stdin" in err
    assert "cli-Secret-9" not in err


def test_the_dsn_from_standard_input(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(database_dsn + "\n"))
    code, health = _run("--dsn-stdin", "health")
    assert (code, health["status"]) == (0, "healthy")
    for argv, message in (
        (["--dsn-stdin", "--dsn", "postgresql://db/x", "health"], "not both"),
        (["--dsn-stdin", "fetch", "@-"], "standard input holds the DSN"),
        (["--dsn-stdin", "health"], "no DSN"),
    ):
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        with pytest.raises(SystemExit) as usage:
            main(argv)
        assert usage.value.code == 2
        assert message in capsys.readouterr().err


def test_python_dash_m_without_the_password_in_any_output(unused_tcp_port: int) -> None:
    secret = "cli-secret-Pw-123"
    env = {**os.environ, DSN_ENV: f"postgresql://app:{secret}@127.0.0.1:{unused_tcp_port}/db"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", MODULE, "--timeout", "3", "fetch-value", "SELECT 1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["error_type"] == "InfraConnectionError"
    assert error["target"] == f"127.0.0.1:{unused_tcp_port}"
    assert secret not in result.stdout
    assert secret not in result.stderr
