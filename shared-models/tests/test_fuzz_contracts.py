"""Fuzz targets for the contract loaders: whatever the text or bytes, parsing YAML and
validating it as a node contract, an FSM subcontract or a workflow definition raises
only ``InfraConfigurationError`` (or returns a model).

Inputs: arbitrary text and bytes, YAML made from generated data (mappings, lists,
scalars, anchors and aliases), and the shipped fixtures mutated (lines dropped or
repeated, characters replaced, a key given twice, deep nesting spliced in).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st
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


def _mutate(seed: str, draw: st.DrawFn) -> str:
    lines = seed.splitlines(keepends=True)
    how = draw(st.sampled_from(["drop", "repeat", "replace", "splice", "deep", "indent"]))
    at = draw(st.integers(0, len(lines) - 1))
    if how == "drop":
        return "".join(lines[:at] + lines[at + 1 :])
    if how == "repeat":  # often a key given twice
        return "".join(lines[: at + 1] + lines[at:])
    if how == "indent":
        return "".join([*lines[:at], "  " + lines[at], *lines[at + 1 :]])
    text = "".join(lines)
    pos = draw(st.integers(0, len(text)))
    if how == "replace":
        return text[:pos] + draw(st.text(max_size=3)) + text[pos + 1 :]
    if how == "deep":
        depth = draw(st.integers(50, 2000))
        return text[:pos] + "[" * depth + "]" * depth + text[pos:]
    return (
        text[:pos]
        + draw(st.sampled_from(["&a ", "*a", "<<: *a\n", "!!set ", ": ", "? "]))
        + text[pos:]
    )


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    return _mutate(draw(st.sampled_from(SEEDS)), draw)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(["EFFECT", "EFFECT_GENERIC", "COMPUTE", "1.0.0", "2020-13-45", "node_type"]),
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["name", "version", "node_type", "states", "steps", "x"])
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@fuzz_target(examples=300)
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        _DATA.map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
        _mutated(),
    )
)
def test_contract_loaders_raise_only_configuration_errors(text: str | bytes) -> None:
    _load_everything(text)
