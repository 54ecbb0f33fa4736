"""infra_reducer v1.0.0: (snapshot, event) -> (new snapshot, intents) on core's FSM."""

from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import (
    FsmDefinition,
    compile_fsm,
    load_definition,
    parse_definition,
)
from omnibase_infra.nodes.infra_reducer.v1_0_0.mermaid import render_mermaid
from omnibase_infra.nodes.infra_reducer.v1_0_0.reducer import InfraReducer

__all__ = [
    "FsmDefinition",
    "InfraReducer",
    "compile_fsm",
    "load_definition",
    "parse_definition",
    "render_mermaid",
]
