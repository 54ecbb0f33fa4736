"""Read YAML documents shipped as package data (``importlib.resources``), and YAML text or
files a user wrote (:func:`parse_yaml_text`, :func:`load_yaml_file`), with one loader that
rejects a key given twice in one mapping."""

from __future__ import annotations

import difflib
from collections.abc import Hashable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

__all__ = [
    "MAX_YAML_DEPTH",
    "MAX_YAML_VALUES",
    "load_yaml_file",
    "load_yaml_resource",
    "parse_yaml_text",
    "resource_label",
]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKeyCheckingLoader(yaml.SafeLoader):
    """``SafeLoader`` that rejects a key given twice in one mapping.

    Plain ``safe_load`` keeps the last value, which silently hides mistakes. Keys that
    override a ``<<:`` merge are still allowed.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, object]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = first_line.get(key)
                if first is None:
                    first_line[key] = key_node.start_mark.line + 1
            except TypeError:  # unhashable key: let the base class report it
                continue
            if first is not None:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {_shown(key)} (first given at line {first})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _shown(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def resource_label(package: str, resource: str) -> str:
    """How errors name a resource: ``<package>/<resource>``."""
    return f"{package}/{resource}"


def _config_error(
    label: str, message: str, *, line: int | None = None, operation: str = "load_contract"
) -> InfraConfigurationError:
    return InfraConfigurationError(
        f"{label}: {message}",
        transport=EnumTransport.INTERNAL,
        operation=operation,
        target=label,
        line=line,
    )


def _locate(package: str, resource: str, label: str) -> Traversable:
    parts = PurePosixPath(resource).parts
    if not parts or PurePosixPath(resource).is_absolute() or ".." in parts:
        raise _config_error(label, "resource must be a relative path inside the package")
    try:
        root = resources.files(package)
    except (ModuleNotFoundError, TypeError, ValueError) as exc:
        raise _config_error(label, f"package {package!r} cannot be imported ({exc})") from exc
    target = root.joinpath(*parts)
    if target.is_file():
        return target
    parent = root.joinpath(*parts[:-1]) if len(parts) > 1 else root
    hint = ""
    if parent.is_dir():
        siblings = sorted(c.name for c in parent.iterdir() if c.is_file())
        close = difflib.get_close_matches(parts[-1], siblings, n=1)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    raise _config_error(label, f"resource not found{hint}; is it included in the package data?")


def _yaml_error(label: str, exc: yaml.YAMLError, operation: str) -> InfraConfigurationError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        detail = "; ".join(part for part in (exc.context, exc.problem) if part)
        return _config_error(
            label,
            f"YAML syntax error{where}: {detail}",
            line=mark.line + 1 if mark else None,
            operation=operation,
        )
    return _config_error(label, f"YAML error: {exc}", operation=operation)


def parse_yaml_text(text: str | bytes, label: str, *, operation: str = "load_contract") -> object:
    """Parse one YAML document (``SafeLoader``; a key given twice in one mapping is an
    error). Every failure is an ``InfraConfigurationError`` whose message starts with
    ``label`` (the file) and gives the line and column (and the duplicated key): YAML
    syntax, bytes that are not UTF-8, nesting deeper than the parser can follow, values
    the safe constructors refuse (a timestamp that is no date)."""
    try:
        data = yaml.load(text, Loader=_DuplicateKeyCheckingLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _yaml_error(label, exc, operation) from None
    except RecursionError:
        raise _config_error(label, "YAML nested too deeply", operation=operation) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. timestamp 2020-13-45
        raise _config_error(
            label, f"YAML value not understood ({type(exc).__name__})", operation=operation
        ) from None
    problem = _shape_problem(data)
    if problem is not None:
        raise _config_error(label, problem, operation=operation)
    return data


MAX_YAML_VALUES = 100_000
"""Values in one document once aliases are expanded (``&a``/``*a`` may repeat a subtree)."""
MAX_YAML_DEPTH = 100
"""Nesting of mappings and lists in one document."""


def _shape_problem(data: object) -> str | None:
    """Why ``data`` cannot be walked safely: an alias cycle (``&a [*a]``), more than
    :data:`MAX_YAML_VALUES` values counting each alias use (the "billion laughs"), or more
    than :data:`MAX_YAML_DEPTH` levels. Iterative, and stops at the limit."""
    stack: list[tuple[object, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            return f"YAML document too large (over {MAX_YAML_VALUES} values, aliases expanded)"
        if depth > MAX_YAML_DEPTH:
            return f"YAML nested too deeply (over {MAX_YAML_DEPTH} levels)"
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list | tuple | set):
            stack.extend((item, depth + 1) for item in value)
    return None


def load_yaml_file(path: str | Path, *, operation: str = "load_contract") -> object:
    """Read and parse a YAML file (see :func:`parse_yaml_text`); an unreadable file is an
    ``InfraConfigurationError`` naming it too."""
    label = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _config_error(
            label, f"cannot read: {exc.strerror or exc}", operation=operation
        ) from None
    return parse_yaml_text(data, label, operation=operation)


def load_yaml_resource(package: str, resource: str) -> dict[str, object]:
    """Parse ``resource`` (a ``/``-separated path inside ``package``) as a YAML mapping.

    Raises ``InfraConfigurationError`` naming ``<package>/<resource>`` for a missing
    package or file, a YAML syntax error (with line and column), a duplicate key, or a
    top level that is not a mapping with string keys.
    """
    label = resource_label(package, resource)
    path = _locate(package, resource, label)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _config_error(label, f"not valid UTF-8 ({exc.reason})") from None
    data = parse_yaml_text(text, label)
    if data is None:
        raise _config_error(label, "document is empty; expected a mapping")
    if not isinstance(data, dict):
        raise _config_error(label, f"top level must be a mapping, got {type(data).__name__}")
    bad_keys = [key for key in data if not isinstance(key, str)]
    if bad_keys:
        raise _config_error(label, f"top-level keys must be strings, got {bad_keys[0]!r}")
    return {str(key): value for key, value in data.items()}
