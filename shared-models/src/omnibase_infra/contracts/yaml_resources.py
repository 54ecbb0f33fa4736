"""Read YAML documents shipped as package data (``importlib.resources``)."""

from __future__ import annotations

import difflib
from collections.abc import Hashable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

__all__ = ["load_yaml_resource", "resource_label"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKeyCheckingLoader(yaml.SafeLoader):
    """``SafeLoader`` that rejects a key given twice in one mapping.

    Plain ``safe_load`` keeps the last value, which silently hides mistakes. Keys that
    override a ``<<:`` merge are still allowed.
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: let the base class report it
                continue
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def resource_label(package: str, resource: str) -> str:
    """How errors name a resource: ``<package>/<resource>``."""
    return f"{package}/{resource}"


def _config_error(label: str, message: str, *, line: int | None = None) -> InfraConfigurationError:
    return InfraConfigurationError(
        f"{label}: {message}",
        transport=EnumTransport.INTERNAL,
        operation="load_contract",
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
    try:
        data = yaml.load(text, Loader=_DuplicateKeyCheckingLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        detail = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise _config_error(
            label, f"YAML syntax error{where}: {detail}", line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise _config_error(label, f"YAML error: {exc}") from None
    if data is None:
        raise _config_error(label, "document is empty; expected a mapping")
    if not isinstance(data, dict):
        raise _config_error(label, f"top level must be a mapping, got {type(data).__name__}")
    bad_keys = [key for key in data if not isinstance(key, str)]
    if bad_keys:
        raise _config_error(label, f"top-level keys must be strings, got {bad_keys[0]!r}")
    return {str(key): value for key, value in data.items()}
