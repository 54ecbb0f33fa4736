"""Hypothesis inputs for fuzzing YAML loaders (contracts, workflows): one strategy that
mixes arbitrary text and bytes, YAML dumped from generated data shaped like the documents
under test, and real documents mutated.

    @fuzz_target(examples=300)
    @given(yaml_inputs(seeds, keys=["name", "steps"], scalars=["EFFECT", "${input.x}"]))
    def test_loader(text: str | bytes) -> None: ...

Mutations of a seed: a line dropped, repeated (often a key given twice) or indented; a few
characters replaced; deep nesting (50-2000 levels) or YAML syntax (anchors, aliases, merge
keys, tags, ``? `` keys, ``${...}`` bindings) spliced in at a random place.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml
from hypothesis import strategies as st

__all__ = ["mutated_yaml", "yaml_inputs"]

_SPLICES = ["&a ", "*a", "<<: *a\n", "!!set ", "!!python/object:os.system ", ": ", "? ",
            "- ", "{", "]", "${input.", "${steps."]  # fmt: skip


@st.composite
def mutated_yaml(draw: st.DrawFn, seeds: Sequence[str]) -> str:
    """One of ``seeds`` with one mutation (module docstring)."""
    lines = draw(st.sampled_from(seeds)).splitlines(keepends=True) or [""]
    at = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["drop", "repeat", "indent", "replace", "deep", "splice"]))
    if how == "drop":
        return "".join(lines[:at] + lines[at + 1 :])
    if how == "repeat":
        return "".join(lines[: at + 1] + lines[at:])
    if how == "indent":
        return "".join([*lines[:at], "  " + lines[at], *lines[at + 1 :]])
    text = "".join(lines)
    pos = draw(st.integers(0, len(text)))
    if how == "replace":
        return text[:pos] + draw(st.text(max_size=3)) + text[pos + 1 :]
    if how == "deep":
        depth = draw(st.integers(50, 2000))
        return text[:pos] + "{a: " * depth + "[" * depth + "]" * depth + "}" * depth + text[pos:]
    return text[:pos] + draw(st.sampled_from(_SPLICES)) + text[pos:]


def yaml_inputs(
    seeds: Sequence[str], *, keys: Sequence[str], scalars: Sequence[object]
) -> st.SearchStrategy[str | bytes]:
    """Arbitrary text and bytes, YAML of generated data (mapping keys from ``keys`` or any
    short text, leaves from ``scalars`` or any scalar), and mutated ``seeds``."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=10),
        st.sampled_from(list(scalars)),
    )
    data = st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(list(keys)) | st.text(max_size=6), inner, max_size=5)
        ),
        max_leaves=25,
    )
    return st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        data.map(lambda value: yaml.safe_dump(value, allow_unicode=True)),
        mutated_yaml(seeds),
    )
