"""Configuration from the environment, one scheme for every node:
``OMNIBASE_INFRA_<NODE>_<FIELD>``.

``<NODE>`` is the node's short name (``POSTGRES``, ``VAULT``, ``CONSUL``, ``KEYCLOAK``,
``WEBHOOK``, ``ORCHESTRATOR``), ``<FIELD>`` a field of its configuration model in upper
case; a field of a nested model adds ``__<FIELD>`` (``OMNIBASE_INFRA_VAULT_APPROLE__ROLE_ID``).
Values are strings validated by the model as usual (``"10"`` becomes ``10``, ``"true"``
becomes ``True``, a secret field a ``SecretStr``); a list, dict or whole nested model is
given as JSON. Names used before this scheme are read too, with a ``DeprecationWarning``.
Nothing is read for a field the caller set explicitly.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from typing import Any, Final, get_args, get_origin

from pydantic import BaseModel, ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError, summarize_validation_error

__all__ = ["ENV_PREFIX", "env_name", "env_values", "settings_from_env"]

ENV_PREFIX: Final = "OMNIBASE_INFRA_"
_NESTED: Final = "__"


def env_name(node: str, *fields: str) -> str:
    """``env_name("vault", "approle", "role_id")`` -> ``OMNIBASE_INFRA_VAULT_APPROLE__ROLE_ID``."""
    return f"{ENV_PREFIX}{node.upper()}_" + _NESTED.join(f.upper() for f in fields)


def _model_of(annotation: object) -> type[BaseModel] | None:
    """The model class of ``Model`` or ``Model | None`` annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        models = [
            a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        others = [a for a in get_args(annotation) if a is not type(None) and a not in models]
        if len(models) == 1 and not others:
            return models[0]
    return None


def _structured(annotation: object) -> bool:
    origin = get_origin(annotation)
    candidates = get_args(annotation) if origin is not None else (annotation,)
    for candidate in (annotation, *candidates):
        base = get_origin(candidate) or candidate
        if base in (list, tuple, dict, set, frozenset):
            return True
    return False


def env_values(
    model: type[BaseModel],
    node: str,
    *,
    environ: Mapping[str, str] | None = None,
    _path: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The fields of ``model`` set in the environment (raw, not validated), nested
    models as nested dicts. JSON is parsed for list/dict fields and whole nested models."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        path = (*_path, field_name)
        name = env_name(node, *path)
        nested = _model_of(info.annotation)
        raw = env.get(name)
        if raw is not None:
            if nested is not None or _structured(info.annotation):
                values[field_name] = _json(name, raw, node)
            else:
                values[field_name] = raw
        elif nested is not None:
            inner = env_values(nested, node, environ=env, _path=path)
            if inner:
                values[field_name] = inner
    return values


def _json(name: str, raw: str, node: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InfraConfigurationError(
            f"{name} must be JSON ({exc.msg} at character {exc.pos})",
            transport=EnumTransport.INTERNAL,
            operation="configure",
            target=node,
        ) from None


def settings_from_env[M: BaseModel](
    model: type[M],
    node: str,
    *,
    explicit: Mapping[str, Any] | None = None,
    deprecated: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> M | None:
    """``model`` from the environment under the scheme above, or ``None`` when nothing of
    it is set there (and nothing is given explicitly).

    ``explicit`` fields win over the environment. ``deprecated`` maps an older variable
    name to the top-level field it sets (read only when the new name is unset, with a
    ``DeprecationWarning``). A value the model refuses is an ``InfraConfigurationError``
    naming the variables, never their values.
    """
    env = os.environ if environ is None else environ
    values = env_values(model, node, environ=env)
    for old, field_name in (deprecated or {}).items():
        if old in env and field_name not in values:
            new = env_name(node, field_name)
            warnings.warn(
                f"{old} is deprecated; set {new} instead", DeprecationWarning, stacklevel=2
            )
            values[field_name] = env[old]
    if not values and not explicit:
        return None
    values.update(explicit or {})
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        names = ", ".join(
            sorted(env_name(node, str(e["loc"][0])) for e in exc.errors() if e["loc"])
        )
        raise InfraConfigurationError(
            f"{node} configuration from the environment is invalid "
            f"({names or 'see the fields'}): {summarize_validation_error(exc)}",
            transport=EnumTransport.INTERNAL,
            operation="configure",
            target=node,
        ) from None
