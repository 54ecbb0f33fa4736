"""User YAML (workflow, inputs and services files) loads with the contracts' loader: a key
given twice in one mapping is an error naming the file, the line and the key, where plain
``yaml.safe_load`` would keep the last value without a word."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import services
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.cli import main
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    load_workflow,
    parse_workflow_text,
)

WORKFLOW = """\
workflow: {name: dup}
steps:
  - id: a
    node: node_a_effect
    operation: create
    operation: delete
"""


def test_plain_safe_load_would_keep_the_last_value() -> None:
    assert yaml.safe_load(WORKFLOW)["steps"][0]["operation"] == "delete"


def test_a_workflow_file_with_a_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(WORKFLOW)
    with pytest.raises(InfraConfigurationError) as caught:
        load_workflow(path)
    message = caught.value.message
    assert message.startswith(f"{path}: ")
    assert "line 6" in message
    assert "duplicate key 'operation' (first given at line 5)" in message
    assert caught.value.details["line"] == 6
    with pytest.raises(InfraConfigurationError, match=r"inline\.yaml: .*line 1.*key 'name'"):
        parse_workflow_text("workflow: {name: a, name: b}\nsteps: []\n", source="inline.yaml")


def test_validate_reports_the_duplicate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(WORKFLOW)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "dup.yaml" in out
    assert "duplicate key 'operation'" in out


def test_an_inputs_file_with_a_duplicate_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIBASE_INFRA_CLI_TESTS", "1")
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        "workflow: {name: wf}\ninputs: {name: {}}\n"
        "steps: [{id: a, node: node_a_effect, operation: create}]\n"
    )
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("name: first\nother: 1\nname: second\n")
    code = main(
        ["deploy", "--workflow", str(workflow), "--store", str(tmp_path / "s.sqlite3"),
         "--inputs-file", str(inputs), "--json",
         "--node", "node_a_effect=tests.orchestrator_fakes:cli_node"]
    )  # fmt: skip
    assert code == 2
    message = capsys.readouterr().out
    assert "inputs.yaml" in message
    assert "line 3" in message
    assert "duplicate key 'name' (first given at line 1)" in message


def test_a_services_file_with_a_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text("env:\n  OMNIBASE_INFRA_A: one\n  OMNIBASE_INFRA_A: two\n")
    env: dict[str, str] = {}
    with pytest.raises(InfraConfigurationError) as caught:
        services.apply_services_file(path, env)
    assert caught.value.message.startswith(f"{path}: ")
    assert "line 3" in caught.value.message
    assert "duplicate key 'OMNIBASE_INFRA_A' (first given at line 2)" in caught.value.message
    assert env == {}  # nothing applied


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: &x [*x]\n", "nested too deeply"),
        ("d: 2020-13-45\n", "not understood"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ],
)
def test_other_yaml_failures_are_configuration_errors(text: str, problem: str) -> None:
    with pytest.raises(InfraConfigurationError, match=rf"w\.yaml: .*{problem}"):
        parse_workflow_text(text, source="w.yaml")
