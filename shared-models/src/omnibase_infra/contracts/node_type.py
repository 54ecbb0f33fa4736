"""Node-type names that work on both omnibase-core 0.3.5 and 0.3.6."""

from __future__ import annotations

import difflib

from omnibase_core.enums.enum_node_type import EnumNodeType

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

__all__ = ["GENERIC_NODE_KINDS", "node_kind", "resolve_node_type"]

GENERIC_NODE_KINDS = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")
"""The four node kinds; 0.3.5 spells them ``EFFECT``..., 0.3.6 ``EFFECT_GENERIC``..."""

_GENERIC_SUFFIX = "_GENERIC"


def resolve_node_type(name: str | EnumNodeType) -> EnumNodeType:
    """The installed core's ``EnumNodeType`` member for ``name``.

    Accepts either spelling of the four node kinds (``EFFECT`` or ``EFFECT_GENERIC``,
    any case) and maps it to whichever member the installed core defines, plus every
    other member name of the installed enum. Raises ``InfraConfigurationError``
    (with a suggestion) for anything else.
    """
    if isinstance(name, EnumNodeType):
        return name
    members = EnumNodeType.__members__
    key = name.strip().upper().replace("-", "_") if isinstance(name, str) else ""
    base = key.removesuffix(_GENERIC_SUFFIX)
    if base in GENERIC_NODE_KINDS:
        # Prefer the plain 0.3.5 member: 0.3.5 also has a distinct COMPUTE_GENERIC.
        candidates = (base, base + _GENERIC_SUFFIX)
    else:
        candidates = (key, key + _GENERIC_SUFFIX)
    for candidate in candidates:
        if candidate in members:
            return members[candidate]
    close = difflib.get_close_matches(key, [*GENERIC_NODE_KINDS, *members], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InfraConfigurationError(
        f"unknown node type {name!r}{hint}; expected {', '.join(GENERIC_NODE_KINDS)} "
        "(or their *_GENERIC spelling) or another EnumNodeType member name",
        transport=EnumTransport.INTERNAL,
        operation="resolve_node_type",
    )


def node_kind(node_type: EnumNodeType) -> str | None:
    """``EFFECT``/``COMPUTE``/``REDUCER``/``ORCHESTRATOR`` for the generic members, else None."""
    base = node_type.name.removesuffix(_GENERIC_SUFFIX)
    return base if base in GENERIC_NODE_KINDS else None
