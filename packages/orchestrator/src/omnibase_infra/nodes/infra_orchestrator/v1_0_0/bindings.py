"""Resolve ``${...}`` bindings and evaluate structured conditions (no ``eval``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.nodes.infra_orchestrator.v1_0_0.workflow import REFERENCE, ModelCondition

__all__ = ["BindingScope", "evaluate_condition", "resolve"]

_MISSING = object()


class _StepOutputs(Mapping[str, Mapping[str, Any]]):
    """``steps`` as bindings see it (``<id>.output``): a live view of the run's outputs, so
    a scope costs the same whatever the number of steps done (no copy per step)."""

    __slots__ = ("_outputs",)

    def __init__(self, outputs: Mapping[str, Any]) -> None:
        self._outputs = outputs

    def __getitem__(self, step_id: str) -> Mapping[str, Any]:
        return {"output": self._outputs[step_id]}

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._outputs

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)


class BindingScope:
    """What bindings can see: ``input``, ``steps.<id>.output``, ``run``, ``intent``.
    ``inputs`` and ``outputs`` are read live (a scope sees later changes to them)."""

    __slots__ = ("roots",)

    def __init__(
        self,
        *,
        inputs: Mapping[str, Any],
        outputs: Mapping[str, Any],
        run: Mapping[str, Any],
        intent: Mapping[str, Any] | None = None,
    ) -> None:
        self.roots: dict[str, Any] = {
            "input": inputs,
            "steps": _StepOutputs(outputs),
            "run": run,
        }
        if intent is not None:
            self.roots["intent"] = intent

    def lookup(self, text: str, where: str) -> Any:
        """The value at dotted path ``text`` (a missing step output is None: skipped step)."""
        parts = text.split(".")
        value: Any = self.roots.get(parts[0], _MISSING)
        for index, part in enumerate(parts[1:], start=1):
            if value is None and parts[0] == "steps" and index >= 2:
                return None  # a skipped step has no output
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif parts[0] == "steps" and index == 1:
                return None  # the step was skipped: it has no output
            else:
                raise InfraValidationError(
                    f"{where}: ${{{text}}} does not resolve (no {part!r})",
                    transport=EnumTransport.INTERNAL,
                    operation="resolve_binding",
                    target=where,
                )
        return value


def resolve(value: Any, scope: BindingScope, where: str) -> Any:
    """``value`` with every binding replaced (recursively through dicts and lists)."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value)
        if match:
            return scope.lookup(match.group(1), where)
        if "${" not in value:
            return value
        return REFERENCE.sub(lambda m: _text(scope.lookup(m.group(1), where)), value)
    if isinstance(value, Mapping):
        return {key: resolve(item, scope, where) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, scope, where) for item in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return "" if value is None else str(value)


def evaluate_condition(  # noqa: PLR0911 - one return per operator reads best
    condition: ModelCondition, scope: BindingScope, where: str
) -> bool:
    """Evaluate a structured condition against resolved bindings."""

    def operand(value: Any) -> Any:
        return resolve(value, scope, where)

    if condition.equals is not None:
        left, right = condition.equals
        return bool(operand(left) == operand(right))
    if condition.not_equals is not None:
        left, right = condition.not_equals
        return bool(operand(left) != operand(right))
    if condition.in_ is not None:
        value, options = condition.in_
        return operand(value) in operand(options)
    if condition.not_in is not None:
        value, options = condition.not_in
        return operand(value) not in operand(options)
    if condition.exists is not None:
        return operand(condition.exists) is not None
    if condition.truthy is not None:
        return bool(operand(condition.truthy))
    if condition.all is not None:
        return all(evaluate_condition(c, scope, where) for c in condition.all)
    if condition.any is not None:
        return any(evaluate_condition(c, scope, where) for c in condition.any)
    assert condition.not_ is not None  # noqa: S101 - the model guarantees one operator
    return not evaluate_condition(condition.not_, scope, where)
