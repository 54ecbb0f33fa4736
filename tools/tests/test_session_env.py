"""nox sessions run the tests without the developer's service-client variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from repo_rules import ROOT
from session_env import ambient_service_variables, remove_ambient_service_variables

AMBIENT = {
    "CONSUL_HTTP_ADDR": "consul.example.internal:8500",
    "CONSUL_HTTP_TOKEN": "consul-token-value",
    "VAULT_ADDR": "https://vault.example.internal:8200",
    "VAULT_TOKEN": "hvs.vault-token-value",
    "BAO_ADDR": "https://bao.example.internal:8200",
    "BAO_TOKEN": "bao-token-value",
    "PGHOST": "db.example.internal",
    "PGPASSWORD": "pg-password-value",
    "PGSSLMODE": "require",
}
KEPT = {
    "OMNIBASE_INFRA_TEST_POSTGRES_DSN": "postgresql://postgres@127.0.0.1:5432/postgres",
    "OMNIBASE_INFRA_TEST_CONSUL_ADDR": "127.0.0.1:8500",
    "PATH": "/usr/bin",
    "PAGER": "less",  # PG-lookalikes that are not libpq's stay: only PG + capitals
    "MY_VAULT_ADDR": "x",
}


def test_ambient_service_variables_are_removed_and_opt_ins_stay() -> None:
    environ = {**AMBIENT, **KEPT}
    assert ambient_service_variables(environ) == sorted(AMBIENT)
    assert remove_ambient_service_variables(environ) == sorted(AMBIENT)
    assert environ == KEPT


def test_the_noxfile_removes_them_before_any_session() -> None:
    """Load the real noxfile in a child process whose environment has them all."""
    code = (
        "import json, os, runpy, sys; runpy.run_path(sys.argv[1]);"
        " print(json.dumps(dict(os.environ)))"
    )
    env = {**os.environ, **AMBIENT, **KEPT, "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(  # noqa: S603 - argv built here
        [sys.executable, "-c", code, str(ROOT / "noxfile.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    after = json.loads(result.stdout.strip().splitlines()[-1])
    assert [name for name in AMBIENT if name in after] == []
    assert {name: after.get(name) for name in KEPT if name != "PATH"} == {
        name: value for name, value in KEPT.items() if name != "PATH"
    }
    # It says what it ignored, by name only.
    for name, value in AMBIENT.items():
        assert name in result.stderr
        assert value not in result.stderr
