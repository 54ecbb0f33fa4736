"""Loaders for node contracts, FSM subcontracts and workflow definitions."""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Sequence

from omnibase_core.models.contracts.model_contract_base import ModelContractBase
from omnibase_core.models.contracts.subcontracts.model_fsm_subcontract import ModelFSMSubcontract
from omnibase_core.models.contracts.subcontracts.model_workflow_definition import (
    ModelWorkflowDefinition,
)
from omnibase_core.utils.fsm_executor import validate_fsm_contract

from omnibase_infra.contracts.node_type import GENERIC_NODE_KINDS, node_kind, resolve_node_type
from omnibase_infra.contracts.strict import ContractProblem, validate_strict
from omnibase_infra.contracts.yaml_resources import load_yaml_resource, resource_label
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

__all__ = [
    "fsm_contract_findings",
    "load_fsm_contract",
    "load_node_contract",
    "load_workflow_definition",
    "parse_fsm_contract",
    "parse_node_contract",
    "parse_workflow_definition",
]

logger = logging.getLogger(__name__)


def _expected_kind(model: type[ModelContractBase]) -> str | None:
    names = {cls.__name__ for cls in model.__mro__}
    for kind in GENERIC_NODE_KINDS:
        if f"ModelContract{kind.title()}" in names:
            return kind
    return None


def _node_type_problems(data: object, model: type[ModelContractBase]) -> list[ContractProblem]:
    # Core's specialised contracts overwrite node_type after validation, so a contract
    # that names the wrong kind would otherwise load without complaint.
    expected = _expected_kind(model)
    if expected is None or not isinstance(data, dict) or "node_type" not in data:
        return []
    raw = data["node_type"]
    try:
        kind = node_kind(resolve_node_type(raw))
    except InfraConfigurationError:
        return []  # reported by validate_strict with a suggestion
    if kind is not None and kind != expected:
        return [
            ContractProblem(
                "node_type", f"{raw!r} does not match {model.__name__} (expected {expected})"
            )
        ]
    return []


def parse_node_contract[C: ModelContractBase](
    data: object,
    model: type[C],
    *,
    source: str,
    strict: bool = True,
    extra_allowed_paths: Sequence[str] = (),
) -> C:
    """Validate raw contract data as ``model`` (a ``ModelContract*`` class).

    ``node_type`` may use either core spelling (``EFFECT`` or ``EFFECT_GENERIC``) and
    must match the contract class. With ``strict`` (default) unknown keys in nested
    objects are errors too; core itself only rejects them at the top level.
    """
    return validate_strict(
        data,
        model,
        source=source,
        strict=strict,
        extra_allowed_paths=extra_allowed_paths,
        extra_problems=_node_type_problems(data, model),
    )


def load_node_contract[C: ModelContractBase](
    package: str,
    resource: str,
    model: type[C],
    *,
    strict: bool = True,
    extra_allowed_paths: Sequence[str] = (),
) -> C:
    """Load a node contract YAML from package data (see :func:`parse_node_contract`)."""
    return parse_node_contract(
        load_yaml_resource(package, resource),
        model,
        source=resource_label(package, resource),
        strict=strict,
        extra_allowed_paths=extra_allowed_paths,
    )


def _run_to_completion[T](coroutine: Coroutine[object, object, T]) -> T:
    # validate_fsm_contract is declared async but never awaits; drive it here so the
    # loaders stay usable from synchronous code and from inside a running event loop.
    try:
        coroutine.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coroutine.close()
    raise InfraConfigurationError(
        "validate_fsm_contract suspended; this omnibase-core needs an async FSM check",
        transport=EnumTransport.INTERNAL,
        operation="validate_fsm_contract",
    )


def fsm_contract_findings(fsm: ModelFSMSubcontract) -> list[str]:
    """Core's ``validate_fsm_contract()`` findings (unreachable states, exits from
    terminal states, ...); empty when the FSM is sound. Safe inside an event loop."""
    return list(_run_to_completion(validate_fsm_contract(fsm)))


def parse_fsm_contract(
    data: object,
    *,
    source: str,
    path_prefix: str = "",
    findings_are_errors: bool = True,
    extra_allowed_paths: Sequence[str] = (),
) -> ModelFSMSubcontract:
    """Strictly validate raw FSM data, then run core's FSM check on it.

    With ``findings_are_errors`` (default) any finding of :func:`fsm_contract_findings`
    raises ``InfraConfigurationError`` naming ``source``; otherwise findings are logged
    as warnings and the FSM is returned (call :func:`fsm_contract_findings` to get them).
    """
    fsm = validate_strict(
        data,
        ModelFSMSubcontract,
        source=source,
        path_prefix=path_prefix,
        extra_allowed_paths=extra_allowed_paths,
    )
    findings = fsm_contract_findings(fsm)
    if findings and findings_are_errors:
        where = f" at {path_prefix}" if path_prefix else ""
        raise InfraConfigurationError(
            f"{source}: FSM {fsm.state_machine_name!r}{where} fails core's FSM check:\n  "
            + "\n  ".join(findings),
            transport=EnumTransport.INTERNAL,
            operation="load_contract",
            target=source,
            findings=findings,
        )
    for finding in findings:
        logger.warning("%s: FSM %r: %s", source, fsm.state_machine_name, finding)
    return fsm


def load_fsm_contract(
    package: str,
    resource: str,
    *,
    findings_are_errors: bool = True,
    extra_allowed_paths: Sequence[str] = (),
) -> ModelFSMSubcontract:
    """Load a ``ModelFSMSubcontract`` YAML from package data (see :func:`parse_fsm_contract`)."""
    return parse_fsm_contract(
        load_yaml_resource(package, resource),
        source=resource_label(package, resource),
        findings_are_errors=findings_are_errors,
        extra_allowed_paths=extra_allowed_paths,
    )


def parse_workflow_definition(
    data: object,
    *,
    source: str,
    path_prefix: str = "",
    extra_allowed_paths: Sequence[str] = (),
) -> ModelWorkflowDefinition:
    """Strictly validate raw data as a ``ModelWorkflowDefinition``.

    Keys the definition does not model (e.g. a ``steps`` list the orchestrator reads
    itself) must be listed in ``extra_allowed_paths``.
    """
    return validate_strict(
        data,
        ModelWorkflowDefinition,
        source=source,
        path_prefix=path_prefix,
        extra_allowed_paths=extra_allowed_paths,
    )


def load_workflow_definition(
    package: str,
    resource: str,
    *,
    extra_allowed_paths: Sequence[str] = (),
) -> ModelWorkflowDefinition:
    """Load a ``ModelWorkflowDefinition`` YAML from package data."""
    return parse_workflow_definition(
        load_yaml_resource(package, resource),
        source=resource_label(package, resource),
        extra_allowed_paths=extra_allowed_paths,
    )
