"""Fuzz targets for the contract loaders: whatever the text or bytes, parsing YAML and
validating it as a node contract, an FSM subcontract or a workflow definition raises
only ``InfraConfigurationError`` (or returns a model).

Inputs (``omnibase_infra_testing.fuzz_yaml.yaml_inputs``): arbitrary text and bytes, YAML
made from generated contract-like data, and the shipped fixtures mutated (lines dropped or
repeated, characters replaced, a key given twice, aliases, tags and deep nesting spliced
in).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import given
from omnibase_core.models.contracts.model_contract_compute import ModelContractCompute
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect
from omnibase_core.models.contracts.model_contract_orchestrator import ModelContractOrchestrator
from omnibase_core.models.contracts.model_contract_reducer import ModelContractReducer

from omnibase_infra.contracts import (
    parse_fsm_contract,
    parse_node_contract,
    parse_workflow_definition,
    parse_yaml_text,
)
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra_testing.fuzz import fuzz_target
from omnibase_infra_testing.fuzz_yaml import yaml_inputs

FIXTURES = Path(__file__).parent / "data" / "infra_contract_fixtures"
SEEDS = [
    (FIXTURES / "contracts" / name).read_text(encoding="utf-8")
    for name in ("vault_adapter_effect.yaml", "breaker_compute.yaml", "health_reducer.yaml")
] + [
    (FIXTURES / name).read_text(encoding="utf-8")
    for name in ("deploy_workflow.yaml", "service_lifecycle_fsm.yaml", "merge_override.yaml")
]
MODELS = (
    ModelContractEffect,
    ModelContractCompute,
    ModelContractReducer,
    ModelContractOrchestrator,
)


def _load_everything(text: str | bytes) -> None:
    """Parse, then validate as every kind; only configuration errors may come out (the
    test fails on any other exception)."""
    try:
        data = parse_yaml_text(text, "fuzz.yaml")
    except InfraConfigurationError as exc:
        message = exc.message
    else:
        for model in MODELS:
            with contextlib.suppress(InfraConfigurationError):
                parse_node_contract(data, model, source="fuzz.yaml")
        for parse in (parse_fsm_contract, parse_workflow_definition):
            with contextlib.suppress(InfraConfigurationError):
                parse(data, source="fuzz.yaml")
        return
    assert message.startswith("fuzz.yaml: ")  # the error names the file


@fuzz_target(examples=60)
@given(
    yaml_inputs(
        SEEDS,
        keys=["name", "version", "node_type", "states", "steps", "transitions", "x"],
        scalars=["EFFECT", "EFFECT_GENERIC", "COMPUTE", "1.0.0", "2020-13-45", "node_type"],
    )
)
def test_contract_loaders_raise_only_configuration_errors(text: str | bytes) -> None:
    _load_everything(text)
