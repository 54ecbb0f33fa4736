"""The FSM as a Mermaid ``stateDiagram-v2`` for documentation.

A ``*`` transition is drawn from every state it can really leave: each non-terminal
state without its own transition for that trigger.
"""

from __future__ import annotations

from omnibase_infra.nodes.infra_reducer.v1_0_0.definition import FsmDefinition, TransitionSpec

__all__ = ["render_mermaid"]

_INDENT = "    "


def _label(spec: TransitionSpec) -> str:
    label = spec.trigger
    if spec.guards:
        label += " [" + ", ".join(str(guard) for guard in spec.guards) + "]"
    if spec.actions:
        label += " / " + ", ".join(action.name for action in spec.actions)
    return label


def render_mermaid(definition: FsmDefinition) -> str:
    """The diagram text (no code fence), one line per state action and transition."""
    lines = ["stateDiagram-v2", f"{_INDENT}[*] --> {definition.initial_state}"]
    for state in definition.states.values():
        lines.extend(f"{_INDENT}{state.name} : entry / {a.name}" for a in state.entry_actions)
        lines.extend(f"{_INDENT}{state.name} : exit / {a.name}" for a in state.exit_actions)
    for state in definition.states.values():
        lines.extend(
            f"{_INDENT}{state.name} --> {spec.to_state} : {_label(spec)}"
            for spec in definition.transitions_from(state.name)
        )
    terminal = [s.name for s in definition.states.values() if s.is_terminal]
    lines.extend(f"{_INDENT}{name} --> [*]" for name in terminal)
    errors = [s.name for s in definition.states.values() if s.is_error]
    if errors:
        lines.append(f"{_INDENT}classDef error fill:#fdd,stroke:#c00")
        lines.append(f"{_INDENT}class {','.join(errors)} error")
    return "\n".join(lines) + "\n"
