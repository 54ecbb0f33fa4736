"""Models built from values that are already valid, without validation (hot paths).

:func:`construct_trusted` is what pydantic's ``model_construct`` does, without its
per-field alias and default look-ups (which cost more than validating a small model):
the caller names **every** field, in declaration order, with a value of the field's type.
Use it only for values the code itself produced or checked (a server's parsed answer of
known shape, a fresh correlation id); anything from a caller is validated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from pydantic import BaseModel

__all__ = ["construct_trusted"]

_set: Final = object.__setattr__


def construct_trusted[M: BaseModel](
    model: type[M], values: dict[str, Any], fields_set: Iterable[str] | None = None
) -> M:
    """``model.model_construct(_fields_set, **values)`` for ``values`` naming every field.

    ``fields_set`` is what ``model_fields_set`` reports (the fields a validating caller
    would have passed); default: every field in ``values``. ``values`` becomes the
    instance's ``__dict__`` (not copied). Models with private attributes, extra fields or a
    ``model_post_init`` are not supported.
    """
    instance = model.__new__(model)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values if fields_set is None else fields_set))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
