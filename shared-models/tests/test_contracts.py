"""Contract loading: package data, both node-type spellings, strict FSM/workflow YAML."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import pytest
from omnibase_core.enums.enum_node_type import EnumNodeType
from omnibase_core.models.contracts.model_contract_base import ModelContractBase
from omnibase_core.models.contracts.model_contract_compute import ModelContractCompute
from omnibase_core.models.contracts.model_contract_effect import ModelContractEffect
from omnibase_core.models.contracts.model_contract_orchestrator import ModelContractOrchestrator
from omnibase_core.models.contracts.model_contract_reducer import ModelContractReducer
from omnibase_core.models.contracts.subcontracts.model_fsm_subcontract import ModelFSMSubcontract
from omnibase_core.models.contracts.subcontracts.model_workflow_definition import (
    ModelWorkflowDefinition,
)
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    field_validator,
)

from omnibase_infra import contracts as contracts_module
from omnibase_infra.contracts import (
    GENERIC_NODE_KINDS,
    ContractProblem,
    UnknownKey,
    find_unknown_keys,
    fsm_contract_findings,
    load_fsm_contract,
    load_node_contract,
    load_strict_model,
    load_workflow_definition,
    load_yaml_resource,
    node_kind,
    parse_fsm_contract,
    parse_node_contract,
    parse_workflow_definition,
    resolve_node_type,
    resource_label,
    validate_strict,
)
from omnibase_infra.contracts import loaders as loaders_module
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

PKG = "infra_contract_fixtures"
DATA_DIR = Path(__file__).parent / "data"
ON_036 = "EFFECT_GENERIC" in EnumNodeType.__members__ and "EFFECT" not in EnumNodeType.__members__


@pytest.fixture(autouse=True)
def fixture_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fixture package importable (it is test data, not part of the wheel)."""
    monkeypatch.syspath_prepend(str(DATA_DIR))


def installed(kind: str) -> EnumNodeType:
    """The member the installed core uses for one of the four node kinds."""
    members = EnumNodeType.__members__
    return members[kind] if kind in members else members[f"{kind}_GENERIC"]


def config_error(excinfo: pytest.ExceptionInfo[InfraConfigurationError]) -> str:
    error = excinfo.value
    assert error.transport is EnumTransport.INTERNAL
    return str(error.message)


# -- package data ---------------------------------------------------------------------


def test_contract_is_read_from_package_data_via_importlib_resources() -> None:
    traversable = resources.files(PKG).joinpath("contracts", "vault_adapter_effect.yaml")
    assert traversable.is_file()
    data = load_yaml_resource(PKG, "contracts/vault_adapter_effect.yaml")
    assert data["name"] == "vault_adapter_effect"
    contract = load_node_contract(PKG, "contracts/vault_adapter_effect.yaml", ModelContractEffect)
    assert contract.name == "vault_adapter_effect"
    assert str(contract.version) == "1.2.0"
    assert [op.operation_type for op in contract.io_operations] == ["kv_read", "kv_write"]
    # A sub-package addresses the same file relative to itself.
    same = load_yaml_resource(f"{PKG}.contracts", "vault_adapter_effect.yaml")
    assert same == data


def test_resource_label() -> None:
    assert resource_label("pkg.mod", "contracts/a.yaml") == "pkg.mod/contracts/a.yaml"


def test_missing_resource_suggests_a_sibling() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_yaml_resource(PKG, "service_lifecycle_fsm.yml")
    message = config_error(excinfo)
    assert message.startswith(f"{PKG}/service_lifecycle_fsm.yml: resource not found")
    assert "did you mean 'service_lifecycle_fsm.yaml'?" in message
    assert excinfo.value.target == f"{PKG}/service_lifecycle_fsm.yml"
    assert excinfo.value.operation == "load_contract"


def test_missing_resource_in_missing_folder() -> None:
    with pytest.raises(InfraConfigurationError, match="resource not found; is it included"):
        load_yaml_resource(PKG, "nowhere/contract.yaml")


def test_missing_resource_without_a_close_match() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_yaml_resource(PKG, "zzzz.yaml")
    assert "did you mean" not in config_error(excinfo)


def test_missing_package() -> None:
    with pytest.raises(InfraConfigurationError, match="package 'no_such_pkg_xyz' cannot be"):
        load_yaml_resource("no_such_pkg_xyz", "a.yaml")


@pytest.mark.parametrize("resource", ["/etc/passwd", "../test_contracts.py", ""])
def test_resource_must_stay_inside_the_package(resource: str) -> None:
    with pytest.raises(InfraConfigurationError, match="relative path inside the package"):
        load_yaml_resource(PKG, resource)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("broken_syntax.yaml", "YAML syntax error at line 4, column 1: while parsing a flow"),
        ("duplicate_key.yaml", "line 3, column 1: while constructing a mapping; found duplicate"),
        ("empty.yaml", "document is empty; expected a mapping"),
        ("top_level_list.yaml", "top level must be a mapping, got list"),
        ("numeric_key.yaml", "top-level keys must be strings, got 1"),
        ("not_utf8.yaml", "not valid UTF-8"),
        ("unhashable_key.yaml", "found unhashable key"),
        ("control_char.yaml", "YAML error: unacceptable character"),
    ],
)
def test_yaml_problems_name_the_file(resource: str, expected: str) -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_yaml_resource(PKG, resource)
    message = config_error(excinfo)
    assert message.startswith(f"{PKG}/{resource}: ")
    assert expected in message


def test_merge_keys_may_be_overridden() -> None:
    data = load_yaml_resource(PKG, "merge_override.yaml")
    assert data["derived"] == {"a": 1, "b": 3}


# -- node types -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", GENERIC_NODE_KINDS)
@pytest.mark.parametrize("spelling", ["{k}", "{k}_GENERIC", "{lk}", " {lk}_generic "])
def test_both_node_type_spellings_resolve_on_the_installed_core(kind: str, spelling: str) -> None:
    name = spelling.format(k=kind, lk=kind.lower())
    resolved = resolve_node_type(name)
    assert resolved is installed(kind)
    assert node_kind(resolved) == kind
    assert resolve_node_type(resolved) is resolved


def test_other_node_types_resolve_by_name() -> None:
    assert resolve_node_type("tool") is EnumNodeType.TOOL
    assert node_kind(EnumNodeType.TOOL) is None
    if ON_036:
        assert resolve_node_type("runtime_host").name == "RUNTIME_HOST_GENERIC"


@pytest.mark.parametrize("bad", ["EFFEKT", "", 42])
def test_unknown_node_type(bad: object) -> None:
    with pytest.raises(InfraConfigurationError, match="unknown node type") as excinfo:
        resolve_node_type(bad)  # type: ignore[arg-type]
    assert excinfo.value.operation == "resolve_node_type"
    if bad == "EFFEKT":
        assert "did you mean 'EFFECT'?" in str(excinfo.value)


@pytest.mark.parametrize(
    ("resource", "model", "kind"),
    [
        ("contracts/vault_adapter_effect.yaml", ModelContractEffect, "EFFECT"),
        ("contracts/vault_adapter_effect_generic.yaml", ModelContractEffect, "EFFECT"),
        ("contracts/breaker_compute.yaml", ModelContractCompute, "COMPUTE"),
        ("contracts/health_reducer.yaml", ModelContractReducer, "REDUCER"),
        ("contracts/deploy_orchestrator.yaml", ModelContractOrchestrator, "ORCHESTRATOR"),
    ],
)
def test_node_contracts_load_with_either_spelling(
    resource: str, model: type[ModelContractBase], kind: str
) -> None:
    contract = load_node_contract(PKG, resource, model)
    assert isinstance(contract, model)
    # ModelContractOrchestrator sets use_enum_values=True, so its node_type is a plain str.
    assert EnumNodeType(contract.node_type) is installed(kind)


def test_node_contract_of_the_wrong_kind_is_rejected() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_node_contract(PKG, "contracts/effect_wrong_kind.yaml", ModelContractEffect)
    message = config_error(excinfo)
    assert message.startswith(
        f"{PKG}/contracts/effect_wrong_kind.yaml: invalid ModelContractEffect"
    )
    assert "node_type: 'COMPUTE_GENERIC' does not match ModelContractEffect (expected EFFECT)" in (
        message
    )


def test_node_contract_typos_are_all_reported_with_paths() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_node_contract(PKG, "contracts/effect_typos.yaml", ModelContractEffect)
    message = config_error(excinfo)
    assert f"{PKG}/contracts/effect_typos.yaml: invalid ModelContractEffect (3 problems)" in message
    assert "node_type: unknown node type 'EFFEKT' (did you mean 'EFFECT'?)" in message
    assert "io_operations[0].operation_typ: unknown key (did you mean 'operation_type'?)" in message
    assert "\n  kafka_topik: unknown key" in message
    assert excinfo.value.details["field_paths"] == [
        "node_type",
        "io_operations[0].operation_typ",
        "kafka_topik",
    ]
    assert len(message.splitlines()) == 4  # a summary, not a pydantic dump


def _effect_data(**changes: object) -> dict[str, object]:
    data = load_yaml_resource(PKG, "contracts/vault_adapter_effect.yaml")
    data.update(changes)
    return data


def test_non_strict_node_contract_only_rejects_what_core_rejects() -> None:
    nested_typo = _effect_data(
        io_operations=[{"operation_type": "kv_read", "atomicc": True}],
    )
    contract = parse_node_contract(nested_typo, ModelContractEffect, source="x.yaml", strict=False)
    assert contract.io_operations[0].operation_type == "kv_read"
    with pytest.raises(InfraConfigurationError, match=r"io_operations\[0\].atomicc: unknown key"):
        parse_node_contract(nested_typo, ModelContractEffect, source="x.yaml")

    top_level_typo = _effect_data(descripton="typo")
    with pytest.raises(InfraConfigurationError) as excinfo:
        parse_node_contract(top_level_typo, ModelContractEffect, source="x.yaml", strict=False)
    message = config_error(excinfo)
    # Reported once, by us, with a suggestion (pydantic's extra_forbidden is folded in).
    assert "(1 problem)" in message
    assert "descripton: unknown key (did you mean 'description'?)" in message


class ModelContractCustom(ModelContractBase):
    """A contract class that is none of the four node kinds."""

    def validate_node_specific_config(self) -> None:
        return None


def test_node_type_kind_check_only_applies_to_the_four_kinds() -> None:
    data = load_yaml_resource(PKG, "contracts/health_reducer.yaml")
    data["node_type"] = "EFFECT"
    custom = parse_node_contract(data, ModelContractCustom, source="custom.yaml")
    assert custom.node_type is installed("EFFECT")
    data.pop("node_type")
    reducer = parse_node_contract(data, ModelContractReducer, source="reducer.yaml")
    assert reducer.node_type is installed("REDUCER")


def test_core_validation_errors_are_summarised_with_paths() -> None:
    data = _effect_data(version="1.0.0", io_operations=[{}])
    with pytest.raises(InfraConfigurationError) as excinfo:
        parse_node_contract(data, ModelContractEffect, source="pkg/effect.yaml")
    message = config_error(excinfo)
    assert message.startswith("pkg/effect.yaml: invalid ModelContractEffect")
    assert "\n  version: " in message
    assert "\n  io_operations[0].operation_type: Field required" in message


def test_core_model_validator_errors_name_the_file() -> None:
    data = load_yaml_resource(PKG, "contracts/breaker_compute.yaml")
    data["performance"] = {}
    with pytest.raises(InfraConfigurationError) as excinfo:
        parse_node_contract(data, ModelContractCompute, source="pkg/compute.yaml")
    message = config_error(excinfo)
    assert message.startswith("pkg/compute.yaml: invalid ModelContractCompute (1 problem)")
    assert "single_operation_max_ms" in message


# -- FSM ------------------------------------------------------------------------------


def test_fsm_loads_and_passes_cores_check() -> None:
    fsm = load_fsm_contract(PKG, "service_lifecycle_fsm.yaml")
    assert isinstance(fsm, ModelFSMSubcontract)
    assert fsm.state_machine_name == "service_lifecycle"
    assert [t.transition_name for t in fsm.transitions] == ["start", "registered", "fail", "retire"]
    assert fsm.transitions[2].conditions[0].condition_name == "has_error"
    assert fsm_contract_findings(fsm) == []


async def test_fsm_can_be_loaded_inside_a_running_event_loop() -> None:
    assert asyncio.get_running_loop() is not None
    fsm = load_fsm_contract(PKG, "service_lifecycle_fsm.yaml")
    assert fsm_contract_findings(fsm) == []


def test_fsm_with_misspelt_key_fails_naming_file_and_key() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_fsm_contract(PKG, "service_lifecycle_fsm_typo.yaml")
    message = config_error(excinfo)
    assert message.startswith(f"{PKG}/service_lifecycle_fsm_typo.yaml: invalid ModelFSMSubcontract")
    assert "transitions[2].conditon: unknown key (did you mean 'conditions'?)" in message
    # A typo inside a union-typed value: the closest union member is used for the hint.
    assert (
        "transitions[2].actions[0].action_config[0].parameter_value.valeu: unknown key "
        "(did you mean 'value'?)"
    ) in message
    assert "transitions[2].conditon" in excinfo.value.details["field_paths"]  # type: ignore[operator]
    assert excinfo.value.target == f"{PKG}/service_lifecycle_fsm_typo.yaml"


def test_fsm_findings_are_errors_by_default() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_fsm_contract(PKG, "service_lifecycle_fsm_unreachable.yaml")
    message = config_error(excinfo)
    assert message.startswith(f"{PKG}/service_lifecycle_fsm_unreachable.yaml: FSM")
    assert "Unreachable states: orphan" in message
    assert excinfo.value.details["findings"] == ["Unreachable states: orphan"]


def test_fsm_findings_can_be_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="omnibase_infra.contracts"):
        fsm = load_fsm_contract(
            PKG, "service_lifecycle_fsm_unreachable.yaml", findings_are_errors=False
        )
    assert fsm_contract_findings(fsm) == ["Unreachable states: orphan"]
    assert "service_lifecycle_fsm_unreachable.yaml: FSM 'service_lifecycle'" in caplog.text
    assert "Unreachable states: orphan" in caplog.text


def test_fsm_model_validator_failure_names_the_file() -> None:
    # Core raises ModelOnexError (not a ValidationError) for an unknown initial state.
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_fsm_contract(PKG, "service_lifecycle_fsm_bad_initial.yaml")
    message = config_error(excinfo)
    assert f"{PKG}/service_lifecycle_fsm_bad_initial.yaml: invalid ModelFSMSubcontract" in message
    assert "Initial state 'idle' not found" in message


def test_fsm_embedded_in_a_reducer_contract_reports_full_paths() -> None:
    fsm_data = load_yaml_resource(PKG, "service_lifecycle_fsm_typo.yaml")
    with pytest.raises(InfraConfigurationError) as excinfo:
        parse_fsm_contract(fsm_data, source="pkg/reducer.yaml", path_prefix="state_transitions")
    assert "state_transitions.transitions[2].conditon: unknown key" in config_error(excinfo)

    unreachable = load_yaml_resource(PKG, "service_lifecycle_fsm_unreachable.yaml")
    with pytest.raises(InfraConfigurationError, match="at state_transitions fails core's FSM"):
        parse_fsm_contract(unreachable, source="pkg/reducer.yaml", path_prefix="state_transitions")


def test_fsm_check_that_suspends_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    async def suspending(fsm: ModelFSMSubcontract) -> list[str]:
        await asyncio.sleep(0)
        return []

    monkeypatch.setattr(loaders_module, "validate_fsm_contract", suspending)
    fsm = ModelFSMSubcontract.model_validate(load_yaml_resource(PKG, "service_lifecycle_fsm.yaml"))
    with pytest.raises(InfraConfigurationError, match="validate_fsm_contract suspended"):
        fsm_contract_findings(fsm)


# -- workflow -------------------------------------------------------------------------


def test_workflow_loads_with_node_types_in_either_spelling() -> None:
    workflow = load_workflow_definition(PKG, "deploy_workflow.yaml", extra_allowed_paths=["steps"])
    assert isinstance(workflow, ModelWorkflowDefinition)
    assert workflow.workflow_metadata.workflow_name == "deploy_service"
    assert [n.node_type for n in workflow.execution_graph.nodes] == [
        installed("EFFECT"),
        installed("REDUCER"),
    ]


def test_workflow_extra_sections_must_be_declared() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_workflow_definition(PKG, "deploy_workflow.yaml")
    message = config_error(excinfo)
    assert message == (
        f"{PKG}/deploy_workflow.yaml: invalid ModelWorkflowDefinition (1 problem):\n"
        "  steps: unknown key"
    )


def test_workflow_with_misspelt_keys_fails_naming_file_and_keys() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        load_workflow_definition(PKG, "deploy_workflow_typo.yaml", extra_allowed_paths=["steps"])
    message = config_error(excinfo)
    assert message.startswith(f"{PKG}/deploy_workflow_typo.yaml: invalid ModelWorkflowDefinition")
    assert "workflow_metadata.timeout_msec: unknown key (did you mean 'timeout_ms'?)" in message
    assert (
        "coordination_rules.paralel_execution_allowed: unknown key "
        "(did you mean 'parallel_execution_allowed'?)"
    ) in message


def test_workflow_with_bad_node_type_reports_its_path() -> None:
    data = load_yaml_resource(PKG, "deploy_workflow.yaml")
    data.pop("steps")
    graph = data["execution_graph"]
    assert isinstance(graph, dict)
    graph["nodes"][1]["node_type"] = "REDUCR"
    with pytest.raises(InfraConfigurationError) as excinfo:
        parse_workflow_definition(data, source="wf.yaml")
    message = config_error(excinfo)
    assert "execution_graph.nodes[1].node_type: unknown node type 'REDUCR'" in message


def test_load_strict_model_for_other_schemas() -> None:
    workflow = load_strict_model(
        PKG, "deploy_workflow.yaml", ModelWorkflowDefinition, extra_allowed_paths=["steps"]
    )
    assert workflow.coordination_rules.parallel_execution_allowed is False
    relaxed = load_strict_model(
        PKG, "deploy_workflow_typo.yaml", ModelWorkflowDefinition, strict=False
    )
    assert relaxed.workflow_metadata.timeout_ms != 120000  # the misspelt key was ignored


# -- the generic walker ---------------------------------------------------------------


class ModelLeaf(BaseModel):
    name: str
    weight: int = 1


class ModelOther(BaseModel):
    url: str
    retries: int = 0


class ModelTagged(BaseModel):
    kind: Literal["tagged"]
    label: str


class ModelOpen(BaseModel):
    model_config = ConfigDict(extra="allow")

    known: int = 0


class ModelLeaves(RootModel[list[ModelLeaf]]):
    pass


type LeafAlias = ModelLeaf


class ModelRoot(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    title: str = Field(default="", alias="Title")
    choice: str = Field(default="", validation_alias=AliasChoices("choice", "pick"))
    nested_path: str = Field(default="", validation_alias=AliasPath("outer", 0))
    leaf: ModelLeaf | None = None
    leaves: list[ModelLeaf] = Field(default_factory=list)
    by_name: dict[str, ModelLeaf] = Field(default_factory=dict)
    either: ModelLeaf | ModelOther | None = None
    pair: tuple[ModelLeaf, int] | None = None
    many: tuple[ModelLeaf, ...] = ()
    annotated: list[Annotated[ModelLeaf, Field(description="x")]] = Field(default_factory=list)
    aliased: LeafAlias | None = None
    rooted: ModelLeaves | None = None
    tagged_or_text: ModelTagged | str = ""
    open_section: ModelOpen | None = None
    node: EnumNodeType | None = None
    required_kind: EnumNodeType = EnumNodeType.TOOL
    direct_alias: LeafAlias = Field(default_factory=lambda: ModelLeaf(name="d"))
    either_map: ModelLeaf | dict[str, ModelTagged | int] | None = None


def _paths(unknown: list[UnknownKey]) -> list[str]:
    return [u.path for u in unknown]


def test_walker_recurses_through_every_container_shape() -> None:
    data = {
        "Title": "t",
        "title": "by name too",
        "pick": "alias choice",
        "outer": ["alias path"],
        "leaf": {"name": "a", "wieght": 2},
        "leaves": [{"name": "a"}, {"nme": "b"}],
        "by_name": {"x": {"name": "x", "extra": 1}, "not an identifier": {"name": "y", "z": 1}},
        "either": {"url": "http://x", "retires": 3},
        "pair": [{"name": "p", "bad": 1}, 5, "surplus"],
        "many": [{"name": "m"}, {"name": "n", "oops": 1}],
        "annotated": [{"name": "a", "annotated_typo": 1}],
        "aliased": {"name": "a", "alias_typo": 1},
        "rooted": [{"name": "r", "root_typo": 1}],
        "tagged_or_text": {"kind": "tagged", "label": "l", "lable": "x"},
        "open_section": {"known": 1, "anything": "goes"},
        "node": "effect",
        "direct_alias": {"name": "d", "direct_typo": 1},
        "unknwon": True,
    }
    unknown = find_unknown_keys(data, ModelRoot)
    assert _paths(unknown) == [
        "leaf.wieght",
        "leaves[1].nme",
        "by_name.x.extra",
        "by_name['not an identifier'].z",
        "either.retires",
        "pair[0].bad",
        "many[1].oops",
        "annotated[0].annotated_typo",
        "aliased.alias_typo",
        "rooted[0].root_typo",
        "tagged_or_text.lable",
        "direct_alias.direct_typo",
        "unknwon",
    ]
    suggestions = {u.path: u.suggestion for u in unknown}
    assert suggestions["leaf.wieght"] == "weight"
    assert suggestions["either.retires"] == "retries"
    assert suggestions["tagged_or_text.lable"] == "label"
    assert suggestions["by_name.x.extra"] is None
    assert str(unknown[0]) == "leaf.wieght: unknown key (did you mean 'weight'?)"
    assert str(unknown[2]) == "by_name.x.extra: unknown key"


def test_walker_alias_rules() -> None:
    class ModelStrictAlias(BaseModel):
        value: int = Field(default=0, alias="Value")

    unknown = find_unknown_keys({"value": 1}, ModelStrictAlias)
    assert [(u.path, u.suggestion) for u in unknown] == [("value", "Value")]


def test_walker_skips_values_of_the_wrong_shape() -> None:
    data = {
        "leaf": "not a mapping",
        "leaves": {"a": 1},
        "by_name": [{"name": "x", "extra": 1}],
        "either": [1],
        "pair": [1],
        "node": 3,
        "required_kind": 3,
    }
    assert find_unknown_keys(data, ModelRoot) == []
    assert find_unknown_keys(["not", "a", "mapping"], ModelRoot) == []


def test_extra_allowed_paths() -> None:
    data = {
        "steps": [1],
        "leaves": [{"name": "a", "meta": 1}, {"name": "b", "meta": 2}],
        "by_name": {"x": {"name": "x", "note": "n"}},
        "leaf": {"name": "l", "meta": 1},
    }
    unknown = find_unknown_keys(
        data, ModelRoot, extra_allowed_paths=["steps", "leaves[*].meta", "by_name.*.note"]
    )
    assert _paths(unknown) == ["leaf.meta"]
    prefixed = find_unknown_keys({"leaf": {"name": "l", "x": 1}}, ModelRoot, path_prefix="cfg")
    assert _paths(prefixed) == ["cfg.leaf.x"]


def test_validate_strict_normalises_node_types_and_reports_everything() -> None:
    model = validate_strict({"node": "reducer_generic", "Title": "t"}, ModelRoot, source="s")
    assert model.node is installed("REDUCER")
    assert model.title == "t"

    with pytest.raises(InfraConfigurationError) as excinfo:
        validate_strict(
            {"leaf": {"weight": "heavy", "colour": "red"}, "node": "nodez"},
            ModelRoot,
            source="cfg/app.yaml",
            path_prefix="app",
        )
    message = config_error(excinfo)
    assert message.startswith("cfg/app.yaml: invalid ModelRoot (4 problems):")
    assert "\n  app.node: unknown node type 'nodez' (did you mean 'NODE'?)" in message
    assert "\n  app.leaf.colour: unknown key" in message
    assert "\n  app.leaf.name: Field required" in message
    assert "\n  app.leaf.weight: Input should be a valid integer" in message


def test_validation_errors_through_nested_unions_use_data_paths() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        validate_strict({"either_map": {"k": {"kind": "tagged"}}}, ModelRoot, source="u.yaml")
    message = config_error(excinfo)
    assert message.startswith("u.yaml: invalid ModelRoot (1 problem):\n  either_map.")
    assert "ModelTagged" not in message


def test_validate_strict_truncates_long_reports() -> None:
    data = {f"unknown_{n}": n for n in range(25)}
    with pytest.raises(InfraConfigurationError) as excinfo:
        validate_strict(data, ModelLeaf, source="big.yaml")
    message = config_error(excinfo)
    assert "(26 problems)" in message  # 25 unknown keys + missing name
    assert message.endswith("... and 6 more")
    assert len(excinfo.value.details["field_paths"]) == 26  # type: ignore[arg-type]


class ModelRaisesOnexError(BaseModel):
    value: int

    @field_validator("value")
    @classmethod
    def _check(cls, value: int) -> int:
        if value < 0:
            raise ModelOnexError(message="value must be positive\nsecond line")
        if value == 0:
            raise KeyError("zero")
        return value


def test_validate_strict_wraps_non_pydantic_validator_failures() -> None:
    with pytest.raises(InfraConfigurationError) as excinfo:
        validate_strict({"value": -1}, ModelRaisesOnexError, source="a.yaml")
    assert config_error(excinfo).endswith("\n  <top level>: value must be positive")
    with pytest.raises(InfraConfigurationError) as excinfo:
        validate_strict({"value": 0}, ModelRaisesOnexError, source="a.yaml", path_prefix="p")
    assert config_error(excinfo).endswith("\n  p: KeyError: 'zero'")
    assert validate_strict({"value": 1}, ModelRaisesOnexError, source="a.yaml").value == 1


def test_contract_problem_rendering() -> None:
    assert str(ContractProblem("", "boom")) == "<top level>: boom"
    assert str(ContractProblem("a.b", "boom")) == "a.b: boom"


def test_public_api_is_exported() -> None:
    for name in contracts_module.__all__:
        assert hasattr(contracts_module, name), name
