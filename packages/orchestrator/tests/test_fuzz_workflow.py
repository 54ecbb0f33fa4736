"""Fuzz target for the workflow loader: whatever the text or bytes,
``parse_workflow_text`` returns a workflow or raises ``InfraConfigurationError`` naming
the source.

Inputs: arbitrary text and bytes, YAML made from generated workflow-like data, and the
shipped workflows mutated (lines dropped or repeated, characters replaced, aliases,
deep nesting and odd tokens spliced in).
"""

from __future__ import annotations

from importlib import resources

import yaml
from hypothesis import given
from hypothesis import strategies as st

from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import (
    BUILTIN_WORKFLOWS,
    CONTRACTS_PACKAGE,
    parse_workflow_text,
)
from omnibase_infra_testing.fuzz import fuzz_target

SEEDS = [
    resources.files(CONTRACTS_PACKAGE).joinpath(*resource.split("/")).read_text(encoding="utf-8")
    for resource in BUILTIN_WORKFLOWS.values()
]
_SPLICES = ["&a ", "*a", "<<: *a\n", "!!set ", ": ", "? ", "${input.", "${steps.", "- ", "{", "]"]


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SEEDS)).splitlines(keepends=True)
    at = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["drop", "repeat", "replace", "splice", "deep"]))
    if how == "drop":
        return "".join(lines[:at] + lines[at + 1 :])
    if how == "repeat":  # often a key or a step id given twice
        return "".join(lines[: at + 1] + lines[at:])
    text = "".join(lines)
    pos = draw(st.integers(0, len(text)))
    if how == "replace":
        return text[:pos] + draw(st.text(max_size=3)) + text[pos + 1 :]
    if how == "deep":
        depth = draw(st.integers(50, 2000))
        return text[:pos] + "{a: " * depth + "1" + "}" * depth + text[pos:]
    return text[:pos] + draw(st.sampled_from(_SPLICES)) + text[pos:]


_KEYS = st.sampled_from(
    ["workflow", "name", "inputs", "steps", "id", "node", "operation", "depends_on",
     "compensation", "when", "retry", "timeout_ms", "marker", "secret", "outputs"]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(["${input.x}", "${steps.a.output.y}", "node_a_effect", "create", "a"]),
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)


@fuzz_target(examples=150)  # each mutated built-in workflow parses in ~30 ms
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        _DATA.map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
        _mutated(),
    )
)
def test_workflow_loader_raises_only_configuration_errors(text: str | bytes) -> None:
    try:
        parse_workflow_text(text, source="fuzz.yaml")
    except InfraConfigurationError as exc:
        assert exc.message.startswith("fuzz.yaml: ")  # noqa: PT017 - the error names the file
