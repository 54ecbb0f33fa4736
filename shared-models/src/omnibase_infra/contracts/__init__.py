"""Load ONEX contracts (node, FSM, workflow YAML) from package data, strictly.

Every failure is an ``InfraConfigurationError`` (transport ``INTERNAL``, operation
``load_contract``, target ``<package>/<resource>``) whose message names the file and
the field paths.
"""

from omnibase_infra.contracts.loaders import (
    fsm_contract_findings,
    load_fsm_contract,
    load_node_contract,
    load_workflow_definition,
    parse_fsm_contract,
    parse_node_contract,
    parse_workflow_definition,
)
from omnibase_infra.contracts.node_type import GENERIC_NODE_KINDS, node_kind, resolve_node_type
from omnibase_infra.contracts.strict import (
    ContractProblem,
    UnknownKey,
    find_unknown_keys,
    load_strict_model,
    validate_strict,
)
from omnibase_infra.contracts.yaml_resources import (
    load_yaml_file,
    load_yaml_resource,
    parse_yaml_text,
    resource_label,
)

__all__ = [
    "GENERIC_NODE_KINDS",
    "ContractProblem",
    "UnknownKey",
    "find_unknown_keys",
    "fsm_contract_findings",
    "load_fsm_contract",
    "load_node_contract",
    "load_strict_model",
    "load_workflow_definition",
    "load_yaml_file",
    "load_yaml_resource",
    "node_kind",
    "parse_fsm_contract",
    "parse_node_contract",
    "parse_workflow_definition",
    "parse_yaml_text",
    "resolve_node_type",
    "resource_label",
    "validate_strict",
]
