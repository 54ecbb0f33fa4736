"""The workflow schema: the shipped contracts load; each malformed case is an error that
names the file and the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.orchestrator_fakes import ScriptedNode

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0 import (
    NodeRegistry,
    load_builtin_workflow,
    load_workflow,
    parse_workflow,
    parse_workflow_text,
)
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import topological_levels


def base(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "workflow": {"name": "wf"},
        "inputs": {"name": {}},
        "steps": [
            {
                "id": "a",
                "node": "node_a_effect",
                "operation": "create",
                "inputs": {"value": "${input.name}"},
            },
            {
                "id": "b",
                "node": "node_b_effect",
                "operation": "create",
                "depends_on": ["a"],
                "inputs": {"value": "${steps.a.output.value}"},
                "compensation": {
                    "node": "node_b_effect",
                    "operation": "delete",
                    "inputs": {"value": "${steps.b.output}"},
                },
            },
        ],
    }
    data.update(changes)
    return data


def problems(data: dict[str, Any], registry: NodeRegistry | None = None) -> str:
    with pytest.raises(InfraConfigurationError) as info:
        parse_workflow(data, source="bad.yaml", registry=registry)
    message = info.value.message
    assert message.startswith("bad.yaml: invalid")
    return message


@pytest.mark.parametrize("name", ["deployment", "decommission"])
def test_the_shipped_workflows_are_valid(name: str) -> None:
    workflow = load_builtin_workflow(name)
    assert workflow.name == name
    assert topological_levels(workflow)[0]


def test_deployment_runs_independent_steps_side_by_side() -> None:
    levels = topological_levels(load_builtin_workflow("deployment"))
    assert levels[0] == ["issue_credentials", "obtain_token", "create_role"]
    assert levels[1] == ["grant_role", "create_schema", "write_config"]


def test_the_keycloak_role_steps_are_compensated_and_undone_by_decommission() -> None:
    deployment = load_builtin_workflow("deployment")
    compensations = {
        sid: (step.compensation.operation if step.compensation else None)
        for sid in ("create_role", "grant_role")
        for step in [deployment.step(sid)]
    }
    assert compensations == {
        "create_role": "role_ensure_absent",
        "grant_role": "role_mapping_ensure_absent",
    }
    levels = topological_levels(load_builtin_workflow("decommission"))
    assert "revoke_role" in levels[0]
    assert "delete_role" in levels[1]


def test_unknown_builtin_workflow() -> None:
    with pytest.raises(InfraConfigurationError, match="no built-in workflow"):
        load_builtin_workflow("nope")


def test_a_valid_workflow_parses() -> None:
    assert parse_workflow(base()).step_ids == ["a", "b"]


def test_unknown_keys_name_the_step_and_suggest() -> None:
    data = base()
    data["steps"][1]["depend_on"] = ["a"]
    message = problems(data)
    assert "steps[1] (step 'b')" in message
    assert "depend_on" in message
    assert "did you mean 'depends_on'" in message


def test_unknown_top_level_key() -> None:
    assert "stepz" in problems(base(stepz=[]))


def test_dangling_dependency() -> None:
    data = base()
    data["steps"][1]["depends_on"] = ["ghost"]
    message = problems(data)
    assert "steps[1] (step 'b').depends_on" in message
    assert "unknown step 'ghost'" in message


def test_dangling_step_reference() -> None:
    data = base()
    data["steps"][1]["inputs"] = {"value": "${steps.ghost.output.x}"}
    assert "dangling reference to an unknown step" in problems(data)


def test_reference_to_a_step_that_is_not_a_dependency() -> None:
    data = base()
    data["steps"][0]["inputs"] = {"value": "${steps.b.output.x}"}
    assert "step 'b' is not among this step's dependencies" in problems(data)


def test_bad_reference_shapes() -> None:
    data = base()
    data["steps"][0]["inputs"] = {
        "a": "${input.ghost}",
        "b": "${steps.a.result}",
        "c": "${run.secret}",
        "d": "${env.HOME}",
        "e": "${intent.payload}",
    }
    message = problems(data)
    for text in (
        "undeclared input",
        "use ${steps.<id>.output",
        "run has run_id",
        "unknown reference root",
    ):
        assert text in message


def test_cycles_are_reported_with_their_path() -> None:
    data = base()
    data["steps"][0]["depends_on"] = ["b"]
    message = problems(data)
    assert "dependency cycle: a -> b -> a" in message or "dependency cycle: b -> a -> b" in message


def test_self_dependency_and_duplicates() -> None:
    data = base()
    data["steps"][0]["depends_on"] = ["a"]
    data["steps"].append(dict(data["steps"][1]))
    message = problems(data)
    assert "cannot depend on itself" in message
    assert "duplicate step id" in message


def test_a_condition_has_exactly_one_operator() -> None:
    data = base()
    data["steps"][0]["condition"] = {"equals": [1, 1], "exists": "x"}
    assert "exactly one operator" in problems(data)


def test_condition_references_are_checked() -> None:
    data = base()
    data["steps"][0]["condition"] = {"exists": "${input.nope}"}
    assert "condition" in problems(data)


def test_unknown_nodes_and_operations_with_a_registry() -> None:
    registry = NodeRegistry({"node_a_effect": ScriptedNode}, entry_points=False)
    data = base()
    data["steps"][0]["operation"] = "explode"
    message = problems(data, registry)
    assert "has no operation 'explode'" in message
    assert "unknown node 'node_b_effect' (pip install omnibase-infra-b)" in message


def test_reducer_binding_checks() -> None:
    data = base(
        reducer={
            "node": "infra_ghost",
            "resource_id": "${input.name}",
            "start": {"trigger": "provision", "data": {"x": "${input.nope}"}},
            "failure": {"trigger": "step_failed", "data": {"y": "${input.nope}"}},
            "intents": {
                "bad key": {"satisfied_by": "a"},
                "node_x_effect.op": {"satisfied_by": "ghost"},
                "node_y_effect.op": {
                    "call": {
                        "node": "node_a_effect",
                        "operation": "create",
                        "inputs": {"v": "${intent.payload.x}", "w": "${input.q}"},
                    }
                },
            },
        }
    )
    message = problems(data, NodeRegistry({"node_a_effect": ScriptedNode}, entry_points=False))
    for text in (
        "reducer.start.data",
        "reducer.failure.data",
        "unknown node 'infra_ghost'",
        "intent keys are",
        "unknown step 'ghost'",
        ".call.inputs",
    ):
        assert text in message


def test_an_intent_binding_needs_exactly_one_handler() -> None:
    data = base(
        reducer={
            "resource_id": "x",
            "start": {"trigger": "go"},
            "intents": {"node_x_effect.op": {}},
        }
    )
    assert "exactly one of satisfied_by, call" in problems(data)


def test_files_yaml_and_io_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "workflow: {name: wf}\nsteps: [{id: a, node: node_a_effect, operation: create}]\n"
    )
    assert load_workflow(good).name == "wf"
    with pytest.raises(InfraConfigurationError, match="cannot read"):
        load_workflow(tmp_path / "missing.yaml")
    with pytest.raises(InfraConfigurationError, match=r"x\.yaml: YAML syntax error at line 1"):
        parse_workflow_text("steps: [", source="x.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "workflow: {name: wf}\n"
        "steps: [{id: a, node: node_a_effect, operation: create, tmeout_ms: 3}]\n"
    )
    with pytest.raises(InfraConfigurationError, match=r"(?s)bad\.yaml.*steps\[0\] \(step 'a'\)"):
        load_workflow(bad)
