"""User YAML files (workflows, inputs, services): one strict loader, typed errors only."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.contracts import load_yaml_file, parse_yaml_text
from omnibase_infra.contracts.yaml_resources import MAX_YAML_DEPTH, MAX_YAML_VALUES
from omnibase_infra.errors import InfraConfigurationError


def _message(text: str | bytes) -> str:
    with pytest.raises(InfraConfigurationError) as info:
        parse_yaml_text(text, "user.yaml", operation="load_workflow")
    assert info.value.operation == "load_workflow"
    assert info.value.message.startswith("user.yaml: ")
    return info.value.message


def test_a_good_document_and_a_file() -> None:
    assert parse_yaml_text("a: [1, 2]\n", "x.yaml") == {"a": [1, 2]}


def test_a_duplicated_key_names_the_key_and_the_line() -> None:
    message = _message("a: 1\nb: 2\na: 3\n")
    assert "'a'" in message
    assert "line 3" in message


def test_nesting_the_parser_cannot_follow_is_typed() -> None:
    message = _message("[" * 500 + "]" * 500)  # PyYAML's composer recurses per level
    assert message.endswith("YAML nested too deeply")


def test_a_value_the_safe_constructors_refuse_is_typed() -> None:
    assert "value not understood (ValueError)" in _message("when: 2020-13-45\n")


def test_shape_limits_cycles_aliases_and_depth() -> None:
    assert "nested too deeply" in _message("&a [*a]")  # a cycle never ends: the depth limit
    deep = "x: " + "[" * (MAX_YAML_DEPTH + 2) + "]" * (MAX_YAML_DEPTH + 2)
    assert f"over {MAX_YAML_DEPTH} levels" in _message(deep)
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        laughs.append(
            f"{chr(97 + level)}: &{chr(97 + level)} ["
            + ", ".join([f"*{chr(96 + level)}"] * 10)
            + "]"
        )
    assert f"over {MAX_YAML_VALUES} values" in _message("\n".join(laughs))


def test_files_are_read_and_unreadable_ones_named(tmp_path: Path) -> None:
    good = tmp_path / "inputs.yaml"
    good.write_text("service: billing\n")
    assert load_yaml_file(good) == {"service": "billing"}
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InfraConfigurationError, match=r"nope\.yaml: cannot read"):
        load_yaml_file(missing)
