"""``onex-infra``: validate, deploy (with --node factories), status, resume, --json."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
from tests.orchestrator_fakes import cli_node, failing_cli_node

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import services
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import (
    EMBEDDED_MODULE,
    _inputs,
    _workflow,
    build_parser,
    default_store_path,
    main,
)

WORKFLOW = """
workflow: {name: cli_demo}
inputs:
  name: {}
  pw: {secret: true, required: false}
steps:
  - {id: a, node: node_a_effect, operation: create, inputs: {value: "${input.name}"}}
  - {id: b, node: node_b_effect, operation: create, depends_on: [a],
     marker: "operation name not final"}
"""


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Services count as configured (the fake nodes need none), unless a test unsets it."""
    monkeypatch.setenv("OMNIBASE_INFRA_CLI_TESTS", "1")


@pytest.fixture
def wf(tmp_path: Path) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_validate(wf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["validate", str(wf)], capsys)
    assert code == 0
    assert "valid" in out
    assert "operation name not final" in out
    code, out, _ = run_cli(["validate", "deployment", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["workflow"] == "deployment"
    code, out, _ = run_cli(["validate", "deployment", "--check-nodes", "--json"], capsys)
    assert code == 1
    assert "pip install omnibase-infra-vault-adapter" in json.loads(out)["error"]["message"]
    code, out, _ = run_cli(["validate", str(wf.with_name("nope.yaml"))], capsys)
    assert code == 1
    assert "cannot read" in out


def test_deploy_status_and_resume_with_json(
    wf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # never --input: see below
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_INPUT_PW", "top-secret-pw")
    store = tmp_path / "runs.sqlite3"
    node = "tests.orchestrator_fakes:cli_node"
    code, out, _ = run_cli(
        [
            "deploy",
            "--workflow",
            str(wf),
            "--store",
            str(store),
            "--json",
            "--run-id",
            "r1",
            "--node",
            f"node_a_effect={node}",
            "--node",
            f"node_b_effect={node}",
            "--input",
            "name=svc",
        ],
        capsys,
    )
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "completed"
    assert [s["step_id"] for s in result["steps"]] == ["a", "b"]
    assert "top-secret-pw" not in out
    code, out, _ = run_cli(["status", "r1", "--store", str(store), "--json"], capsys)
    assert code == 0
    assert json.loads(out)["status"] == "completed"
    code, out, _ = run_cli(["status", "--store", str(store), "--json"], capsys)
    assert [r["run_id"] for r in json.loads(out)] == ["r1"]
    code, out, _ = run_cli(["status", "--store", str(store)], capsys)
    assert code == 0
    assert "r1" in out
    code, out, _ = run_cli(
        [
            "resume",
            "r1",
            "--store",
            str(store),
            "--node",
            f"node_a_effect={node}",
            "--node",
            f"node_b_effect={node}",
        ],
        capsys,
    )
    assert code == 0
    assert "completed" in out


@pytest.mark.parametrize(
    ("command", "pair", "variable"),
    [
        ("deploy", "pw=top-secret-pw", "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_PW"),  # a secret input
        (
            "deploy",
            "name=postgresql://app:top-secret-pw@db/app",
            "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NAME",
        ),
        ("deploy", "name=password=top-secret-pw", "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NAME"),
        # resume takes only secrets
        ("resume", "pw=top-secret-pw", "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_PW"),
    ],
)
def test_a_secret_input_on_the_command_line_is_refused(
    wf: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    command: str,
    pair: str,
    variable: str,
) -> None:
    """Command lines are visible to other users: refused (exit 2) before anything runs,
    saying where the value goes, never repeating it."""
    store = str(tmp_path / "runs.sqlite3")
    node = "tests.orchestrator_fakes:cli_node"
    nodes = ["--node", f"node_a_effect={node}", "--node", f"node_b_effect={node}"]
    if command == "resume":
        run_cli(["deploy", "--workflow", str(wf), "--store", store, "--run-id", "r", *nodes,
                 "--input", "name=svc"], capsys)  # fmt: skip
        argv = ["resume", "r", "--store", store, *nodes, "--input", pair]
    else:
        argv = ["deploy", "--workflow", str(wf), "--store", store, *nodes, "--input", pair]
    for as_json in ([], ["--json"]):
        code, out, err = run_cli([*argv, *as_json], capsys)
        assert code == 2
        assert variable in out + err
        assert "--inputs-file" in out + err
        assert "top-secret-pw" not in out + err


def test_secret_inputs_from_a_file_on_resume(
    wf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "runs.sqlite3")
    node = "tests.orchestrator_fakes:cli_node"
    nodes = ["--node", f"node_a_effect={node}", "--node", f"node_b_effect={node}"]
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("pw: top-secret-pw\n")
    code, out, _ = run_cli(
        ["deploy", "--workflow", str(wf), "--store", store, "--run-id", "r", *nodes,
         "--input", "name=svc", "--inputs-file", str(secrets)],
        capsys,
    )  # fmt: skip
    assert code == 0, out
    code, out, _ = run_cli(
        ["resume", "r", "--store", store, *nodes, "--inputs-file", str(secrets)], capsys
    )
    assert code == 0, out
    assert "top-secret-pw" not in out


def test_a_failed_deploy_exits_1_and_prints_the_table(
    wf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NAME", "from-env")
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_STORE", str(tmp_path / "env.sqlite3"))
    assert default_store_path() == tmp_path / "env.sqlite3"
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("pw: x\n")
    code, out, _ = run_cli(
        [
            "deploy",
            "--workflow",
            str(wf),
            "--inputs-file",
            str(inputs),
            "--node",
            "node_a_effect=tests.orchestrator_fakes:failing_cli_node",
            "--node",
            "node_b_effect=tests.orchestrator_fakes:cli_node",
        ],
        capsys,
    )
    assert code == 1
    assert "failed" in out
    assert "refused" in out
    assert "step.failed" in out


def test_usage_and_configuration_errors(
    wf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = str(tmp_path / "s.sqlite3")
    code, out, _ = run_cli(
        ["deploy", "--workflow", str(wf), "--store", store, "--node", "bogus"], capsys
    )
    assert code == 2
    assert "NAME=VALUE" in out
    code, out, _ = run_cli(
        ["deploy", "--workflow", str(wf), "--store", store, "--input", "whsec-pasted-alone"],
        capsys,
    )
    assert code == 2
    assert "expected NAME=VALUE" in out
    assert "whsec-pasted-alone" not in out
    code, out, _ = run_cli(
        ["deploy", "--workflow", str(wf), "--store", store, "--node", "node_a_effect=nomodule"],
        capsys,
    )
    assert code == 2
    assert "MODULE:ATTR" in out
    code, out, _ = run_cli(
        [
            "deploy",
            "--workflow",
            str(wf),
            "--store",
            store,
            "--node",
            "node_a_effect=no_such_mod_xyz:f",
        ],
        capsys,
    )
    assert code == 2
    code, out, _ = run_cli(["status", "ghost", "--store", store], capsys)
    assert code == 2
    assert "no workflow run 'ghost'" in out
    bad = tmp_path / "inputs.yaml"
    bad.write_text("- a\n")
    code, out, _ = run_cli(
        [
            "deploy",
            "--workflow",
            str(wf),
            "--store",
            store,
            "--inputs-file",
            str(bad),
            "--node",
            "node_a_effect=tests.orchestrator_fakes:cli_node",
        ],
        capsys,
    )
    assert code == 2
    assert "mapping" in out


async def test_the_embedded_hook_and_services_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    async def hook() -> services.EmbeddedServices:
        return services.EmbeddedServices({"OMNIBASE_INFRA_X": "1"}, stop, ["x on 1"])

    monkeypatch.setattr(services, "EMBEDDED_HOOK", hook)
    started = await services.start_embedded_services()
    assert started.env == {"OMNIBASE_INFRA_X": "1"}
    assert services.needs_embedded({})
    assert not services.needs_embedded({"OMNIBASE_INFRA_A": "1"})
    assert services.needs_embedded({"OMNIBASE_INFRA_ORCHESTRATOR_STORE": "x.sqlite3"})
    good = tmp_path / "services.yaml"
    good.write_text("env: {OMNIBASE_INFRA_A: a, OMNIBASE_INFRA_B: 2}\n")
    env = {"OMNIBASE_INFRA_A": "kept"}
    assert services.apply_services_file(good, env) == {"OMNIBASE_INFRA_B": "2"}
    assert env["OMNIBASE_INFRA_A"] == "kept"
    for text in ("[", "other: 1\n", "env: {HOME: x}\n"):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(
            InfraConfigurationError,
            match=r"bad\.yaml: (YAML syntax error at line 1|a services file|env\.HOME: names)",
        ):
            services.apply_services_file(bad, {})


def test_commands_run_their_built_in_workflows() -> None:
    parser = build_parser()
    assert _workflow(parser.parse_args(["deploy"])).name == "deployment"
    assert _workflow(parser.parse_args(["decommission"])).name == "decommission"


def _unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(services.ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setattr(services, "EMBEDDED_HOOK", None)


def test_without_configuration_the_cli_starts_the_testing_embedded_services(
    wf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _unconfigured(monkeypatch)
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    async def hook() -> services.EmbeddedServices:
        env = {
            "OMNIBASE_INFRA_EMBEDDED": "1",
            "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NAME": "svc-from-embedded",
            "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NOT_AN_INPUT_OF_THIS_WORKFLOW": "ignored",
        }
        # the hook's node wins over the entry point; --node wins over the hook's
        nodes: dict[str, object] = {"node_a_effect": failing_cli_node, "node_b_effect": cli_node}
        return services.EmbeddedServices(env, stop, ["fake service on 1"], nodes=nodes)

    module = types.ModuleType(EMBEDDED_MODULE)
    module.install = lambda: setattr(services, "EMBEDDED_HOOK", hook)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, EMBEDDED_MODULE, module)
    node = "tests.orchestrator_fakes:cli_node"
    try:
        code, out, _ = run_cli(
            [
                "deploy",
                "--workflow",
                str(wf),
                "--store",
                str(tmp_path / "s.sqlite3"),
                "--node",  # --node does not turn the embedded services off
                f"node_a_effect={node}",
            ],
            capsys,
        )
    finally:
        for name in ("OMNIBASE_INFRA_EMBEDDED", "OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NAME"):
            os.environ.pop(name, None)
        os.environ.pop("OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NOT_AN_INPUT_OF_THIS_WORKFLOW", None)
    assert code == 0, out
    assert "started the embedded services" in out
    assert "fake service on 1" in out
    assert stopped == [True]


def test_without_configuration_or_the_testing_package_the_error_says_what_to_do(
    wf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _unconfigured(monkeypatch)
    monkeypatch.setitem(sys.modules, EMBEDDED_MODULE, None)  # import fails
    code, out, _ = run_cli(
        ["deploy", "--workflow", str(wf), "--store", str(tmp_path / "s.sqlite3")], capsys
    )
    assert code == 2
    assert "embedded services are not available" in out
    assert "--config services.yaml" in out
    assert "omnibase-infra-testing" in out


def test_the_onex_infra_names_still_read_with_a_deprecation_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("OMNIBASE_INFRA_ORCHESTRATOR_", "ONEX_INFRA_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ONEX_INFRA_STORE", str(tmp_path / "old.sqlite3"))
    with pytest.warns(DeprecationWarning, match="ONEX_INFRA_STORE is deprecated; set OMNIBASE"):
        assert default_store_path() == tmp_path / "old.sqlite3"
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_STORE", str(tmp_path / "new.sqlite3"))
    assert default_store_path() == tmp_path / "new.sqlite3"  # the new name wins, no warning

    monkeypatch.setenv("ONEX_INFRA_INPUT_NAME", "old")
    monkeypatch.setenv("ONEX_INFRA_INPUT_REGION", "eu")
    monkeypatch.setenv("OMNIBASE_INFRA_ORCHESTRATOR_INPUT_NAME", "new")
    args = build_parser().parse_args(["deploy", "--workflow", "x.yaml"])
    with pytest.warns(DeprecationWarning, match="set OMNIBASE_INFRA_ORCHESTRATOR_INPUT_REGION"):
        assert _inputs(args) == {"name": "new", "region": "eu"}
