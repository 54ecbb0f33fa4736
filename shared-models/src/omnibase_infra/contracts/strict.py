"""Strict validation of raw YAML data against pydantic models.

Core's subcontract models use ``extra="ignore"``, so a misspelt key silently
disappears. :func:`find_unknown_keys` walks the raw data alongside the model's field
annotations and reports every key no model field accepts, with its path and a
"did you mean" suggestion. :func:`validate_strict` combines that with pydantic
validation and turns every failure into one ``InfraConfigurationError`` naming the
source and field paths.
"""

from __future__ import annotations

import collections.abc
import difflib
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAliasType

from omnibase_core.enums.enum_node_type import EnumNodeType
from omnibase_core.models.errors.model_onex_error import ModelOnexError
from pydantic import AliasChoices, AliasPath, BaseModel, RootModel, ValidationError
from pydantic.fields import FieldInfo

from omnibase_infra.contracts.node_type import resolve_node_type
from omnibase_infra.contracts.yaml_resources import load_yaml_resource, resource_label
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

__all__ = [
    "ContractProblem",
    "UnknownKey",
    "find_unknown_keys",
    "load_strict_model",
    "validate_strict",
]

MAX_REPORTED_PROBLEMS = 20

_SEQUENCE_ORIGINS: frozenset[object] = frozenset(
    {
        list,
        set,
        frozenset,
        collections.abc.Sequence,
        collections.abc.MutableSequence,
        collections.abc.Set,
        collections.abc.MutableSet,
        collections.abc.Collection,
        collections.abc.Iterable,
    }
)
_MAPPING_ORIGINS: frozenset[object] = frozenset(
    {dict, collections.abc.Mapping, collections.abc.MutableMapping}
)


@dataclass(frozen=True, slots=True)
class UnknownKey:
    """A key that no field of the model at ``path``'s parent accepts."""

    path: str
    key: str
    suggestion: str | None
    rejected_by_model: bool = False
    """True when the model forbids extra keys (pydantic would fail anyway)."""

    def __str__(self) -> str:
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{self.path}: unknown key{hint}"


@dataclass(frozen=True, slots=True)
class ContractProblem:
    """One problem found while validating, located by field path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<top level>'}: {self.message}"


def _join(path: str, key: object) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _compile_allowed(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[\]]+")
    # A pattern also allows everything below it.
    return re.compile(rf"(?:{regex})(?:[.\[].*)?")


def _field_keys(field_name: str, field: FieldInfo, by_name: bool) -> list[str]:
    alias = field.validation_alias
    choices: list[str | AliasPath] = []
    if isinstance(alias, AliasChoices):
        choices = list(alias.choices)
    elif alias is not None:
        choices = [alias]
    # pydantic copies ``alias`` into ``validation_alias``; an AliasPath starts with a key.
    keys = [str(c.path[0]) if isinstance(c, AliasPath) else c for c in choices]
    if not keys or by_name:
        keys.append(field_name)
    return keys


def _accepted_keys(model: type[BaseModel]) -> dict[str, FieldInfo]:
    config = model.model_config
    by_name = bool(config.get("populate_by_name") or config.get("validate_by_name"))
    accepted: dict[str, FieldInfo] = {}
    for name, field in model.model_fields.items():
        for key in _field_keys(name, field, by_name):
            accepted[key] = field
    return accepted


def _suggest(key: str, candidates: collections.abc.Iterable[str]) -> str | None:
    options = list(candidates)
    lowered = {option.lower(): option for option in options}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    return close[0] if close else None


def _unwrap(annotation: object) -> object:
    while True:
        if isinstance(annotation, TypeAliasType):
            annotation = annotation.__value__
        elif typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


def _is_model(annotation: object) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _shape_matches(annotation: object, value: object) -> bool | None:
    """Whether ``value`` has the shape of ``annotation``; None for unstructured types."""
    annotation = _unwrap(annotation)
    if annotation is EnumNodeType:
        return isinstance(value, str)
    if _is_model(annotation) and issubclass(annotation, RootModel):
        return _shape_matches(annotation.model_fields["root"].annotation, value)
    origin = typing.get_origin(annotation)
    if _is_model(annotation) or origin in _MAPPING_ORIGINS:
        return isinstance(value, dict)
    if origin in _SEQUENCE_ORIGINS or origin is tuple:
        return isinstance(value, list)
    return None


class _Walker:
    def __init__(self, allowed: Sequence[re.Pattern[str]]) -> None:
        self.allowed = allowed
        self.unknown: list[UnknownKey] = []
        self.problems: list[ContractProblem] = []

    def issue_count(self) -> int:
        return len(self.unknown) + len(self.problems)

    def walk(self, value: object, annotation: object, path: str) -> object:
        annotation = _unwrap(annotation)
        if annotation is EnumNodeType:
            return self._node_type(value, path)
        if _is_model(annotation):
            return self._model(value, annotation, path)
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Union or origin is types.UnionType:
            return self._union(value, [a for a in args if a is not type(None)], path)
        if isinstance(value, list) and args:
            return self._sequence(value, origin, args, path)
        if isinstance(value, dict) and origin in _MAPPING_ORIGINS and len(args) == 2:
            return {key: self.walk(item, args[1], _join(path, key)) for key, item in value.items()}
        return value

    def _sequence(
        self, value: list[object], origin: object, args: tuple[object, ...], path: str
    ) -> object:
        if origin in _SEQUENCE_ORIGINS:
            return [self.walk(item, args[0], f"{path}[{i}]") for i, item in enumerate(value)]
        if origin is not tuple:
            return value
        if len(args) == 2 and args[1] is Ellipsis:
            item_types = [args[0]] * len(value)
        else:
            item_types = list(args[: len(value)])
        walked = [
            self.walk(item, item_type, f"{path}[{i}]")
            for i, (item, item_type) in enumerate(zip(value, item_types, strict=False))
        ]
        return walked + value[len(walked) :]

    def _node_type(self, value: object, path: str) -> object:
        if not isinstance(value, str):
            return value
        try:
            return resolve_node_type(value)
        except InfraConfigurationError as exc:
            self.problems.append(ContractProblem(path, exc.message))
            return value

    def _model(self, value: object, model: type[BaseModel], path: str) -> object:
        if issubclass(model, RootModel):
            return self.walk(value, model.model_fields["root"].annotation, path)
        if not isinstance(value, dict):
            return value
        accepted = _accepted_keys(model)
        extra = model.model_config.get("extra")
        walked: dict[object, object] = {}
        for key, item in value.items():
            child_path = _join(path, key)
            field = accepted.get(key) if isinstance(key, str) else None
            if field is not None:
                walked[key] = self.walk(item, field.annotation, child_path)
                continue
            walked[key] = item
            if extra != "allow" and not any(p.fullmatch(child_path) for p in self.allowed):
                self.unknown.append(
                    UnknownKey(
                        path=child_path,
                        key=str(key),
                        suggestion=_suggest(str(key), accepted),
                        rejected_by_model=extra == "forbid",
                    )
                )
        return walked

    def _union(self, value: object, arms: list[object], path: str) -> object:
        best: tuple[int, object, _Walker] | None = None
        for arm in arms:
            if not _shape_matches(arm, value):
                continue
            trial = _Walker(self.allowed)
            walked = trial.walk(value, arm, path)
            if best is None or trial.issue_count() < best[0]:
                best = (trial.issue_count(), walked, trial)
        if best is None:
            return value
        _, walked, trial = best
        self.unknown.extend(trial.unknown)
        self.problems.extend(trial.problems)
        return walked


def _walk(
    data: object, model_cls: type[BaseModel], path_prefix: str, extra_allowed_paths: Sequence[str]
) -> tuple[object, _Walker]:
    walker = _Walker([_compile_allowed(p) for p in extra_allowed_paths])
    return walker.walk(data, model_cls, path_prefix), walker


def find_unknown_keys(
    data: object,
    model_cls: type[BaseModel],
    *,
    extra_allowed_paths: Sequence[str] = (),
    path_prefix: str = "",
) -> list[UnknownKey]:
    """Every key in ``data`` that ``model_cls`` (recursively) would not accept.

    Recurses through nested models, ``list``/``tuple``/``set`` of models,
    ``dict[str, Model]`` and ``Optional``/``Union`` (choosing the union arm that fits
    best), honouring field aliases. Models with ``extra="allow"`` accept anything.
    ``extra_allowed_paths`` lists paths to tolerate, e.g. ``"steps"`` or
    ``"transitions[*].metadata"`` (``[*]`` any index, ``*`` any key); a path also
    tolerates everything below it.
    """
    _, walker = _walk(data, model_cls, path_prefix, extra_allowed_paths)
    return list(walker.unknown)


def _loc_to_path(
    loc: tuple[int | str, ...], data: object, prefix: str
) -> tuple[str, tuple[str, str] | None]:
    """Data path for a pydantic error location, and the first union arm it went through.

    Parts that do not index into ``data`` are union-arm or validator tags, not fields.
    """
    path = prefix
    arm: tuple[str, str] | None = None
    current: object = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and part in current:
            current = current[part]
            path = _join(path, part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path = f"{path}[{part}]"
        elif last and isinstance(current, dict):
            path = _join(path, part)  # a missing key
        elif arm is None:
            arm = (path, str(part))
    return path, arm


def _validation_problems(
    exc: ValidationError, data: object, prefix: str, unknown: set[str], located: set[str]
) -> list[ContractProblem]:
    """One line per error; for a union, only the errors of the arm that came closest.

    Errors at ``located`` paths (already reported by the walker) and ``extra_forbidden``
    errors for ``unknown`` keys (reported with a suggestion) are dropped.
    """
    plain: list[ContractProblem] = []
    by_union: dict[str, dict[str, list[ContractProblem]]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        path, arm = _loc_to_path(tuple(error["loc"]), data, prefix)
        if path in located or (error["type"] == "extra_forbidden" and path in unknown):
            continue
        problem = ContractProblem(path, error["msg"])
        if arm is None:
            plain.append(problem)
        else:
            by_union.setdefault(arm[0], {}).setdefault(arm[1], []).append(problem)
    for arms in by_union.values():
        closest: list[ContractProblem] = min(arms.values(), key=len)
        plain.extend(closest)
    unique: dict[tuple[str, str], ContractProblem] = {}
    for problem in plain:
        unique.setdefault((problem.path, problem.message), problem)
    return list(unique.values())


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _raise_problems(
    source: str, what: str, problems: Sequence[ContractProblem | UnknownKey], operation: str
) -> typing.NoReturn:
    lines = [str(p) for p in problems[:MAX_REPORTED_PROBLEMS]]
    if len(problems) > MAX_REPORTED_PROBLEMS:
        lines.append(f"... and {len(problems) - MAX_REPORTED_PROBLEMS} more")
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    raise InfraConfigurationError(
        f"{source}: invalid {what} ({count}):\n  " + "\n  ".join(lines),
        transport=EnumTransport.INTERNAL,
        operation=operation,
        target=source,
        field_paths=[p.path for p in problems],
    )


def validate_strict[M: BaseModel](
    data: object,
    model_cls: type[M],
    *,
    source: str,
    strict: bool = True,
    extra_allowed_paths: Sequence[str] = (),
    path_prefix: str = "",
    extra_problems: Sequence[ContractProblem] = (),
    operation: str = "load_contract",
) -> M:
    """Validate raw ``data`` as ``model_cls``, reporting every problem at once.

    Unknown keys (see :func:`find_unknown_keys`) are errors when ``strict`` (always
    when the model itself forbids them). ``EnumNodeType`` fields accept either core
    spelling. Pydantic errors, ``ModelOnexError`` from core's validators and any other
    validator failure become one ``InfraConfigurationError`` naming ``source`` and
    the field paths (``path_prefix`` is prepended, for data embedded in a larger file).
    """
    normalised, walker = _walk(data, model_cls, path_prefix, extra_allowed_paths)
    unknown = [u for u in walker.unknown if strict or u.rejected_by_model]
    problems: list[ContractProblem | UnknownKey] = [*extra_problems, *walker.problems, *unknown]
    try:
        model = model_cls.model_validate(normalised)
    except ValidationError as exc:
        unknown_paths = {u.path for u in unknown}
        located = {p.path for p in walker.problems}
        problems.extend(_validation_problems(exc, normalised, path_prefix, unknown_paths, located))
    except ModelOnexError as exc:
        # A failing node_type makes core's field validator raise; that is reported already.
        if not walker.problems:
            problems.append(ContractProblem(path_prefix, _first_line(str(exc.message))))
    except Exception as exc:  # core validators raise assorted exception types
        message = f"{type(exc).__name__}: {_first_line(str(exc))}"
        problems.append(ContractProblem(path_prefix, message))
    else:
        if not problems:
            return model
    _raise_problems(source, model_cls.__name__, problems, operation)


def load_strict_model[M: BaseModel](
    package: str,
    resource: str,
    model_cls: type[M],
    *,
    strict: bool = True,
    extra_allowed_paths: Sequence[str] = (),
) -> M:
    """Load ``<package>/<resource>`` YAML and :func:`validate_strict` it as ``model_cls``."""
    data = load_yaml_resource(package, resource)
    return validate_strict(
        data,
        model_cls,
        source=resource_label(package, resource),
        strict=strict,
        extra_allowed_paths=extra_allowed_paths,
    )
