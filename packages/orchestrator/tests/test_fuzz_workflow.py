"""Fuzz target for the workflow loader: whatever the text or bytes,
``parse_workflow_text`` returns a workflow or raises ``InfraConfigurationError`` naming
the source.

Inputs (``omnibase_infra_testing.fuzz_yaml.yaml_inputs``): arbitrary text and bytes, YAML
made from generated workflow-like data, and the shipped workflows mutated (lines dropped
or repeated, characters replaced, aliases, deep nesting and odd tokens spliced in).
"""

from __future__ import annotations

from importlib import resources

from hypothesis import given

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    BUILTIN_WORKFLOWS,
    CONTRACTS_PACKAGE,
    parse_workflow_text,
)
from omnibase_infra_testing.fuzz import fuzz_target
from omnibase_infra_testing.fuzz_yaml import yaml_inputs

SEEDS = [
    resources.files(CONTRACTS_PACKAGE).joinpath(*resource.split("/")).read_text(encoding="utf-8")
    for resource in BUILTIN_WORKFLOWS.values()
]


@fuzz_target(examples=150)  # each mutated built-in workflow parses in ~30 ms
@given(
    yaml_inputs(
        SEEDS,
        keys=[
            "workflow",
            "name",
            "inputs",
            "steps",
            "id",
            "node",
            "operation",
            "depends_on",
            "compensation",
            "when",
            "retry",
            "timeout_ms",
            "marker",
            "secret",
            "outputs",
        ],
        scalars=["${input.x}", "${steps.a.output.y}", "node_a_effect", "create", "a"],
    )
)
def test_workflow_loader_raises_only_configuration_errors(text: str | bytes) -> None:
    try:
        parse_workflow_text(text, source="fuzz.yaml")
    except InfraConfigurationError as exc:
        assert exc.message.startswith("fuzz.yaml: ")  # noqa: PT017 - the error names the file
