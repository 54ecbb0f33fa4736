"""Core's ``ModelEffectInput`` envelope for effect nodes whose requests are typed models.

A node's ``process(ModelEffectInput)`` takes the operation's fields from ``operation_data``,
the caller's correlation and trace context from ``metadata`` (the keys of
``omnibase_infra.observability.inject``; the envelope's ``operation_id`` when none is
given) and its ``timeout_ms``; :func:`process_effect_input` parses the typed request with the
node's parser, runs it through the node's typed ``process`` and returns core's
``ModelEffectOutput`` with the response as JSON (secret values stay masked).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from omnibase_core.enums.enum_effect_types import EnumEffectType, EnumTransactionState
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput
from pydantic import BaseModel, ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError, summarize_validation_error
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.observability import CORRELATION_ID, caller_context

__all__ = ["process_effect_input"]


async def process_effect_input(
    input_data: ModelEffectInput,
    *,
    parse: Callable[[Mapping[str, Any]], ModelInfraRequest],
    process: Callable[[Any], Awaitable[BaseModel]],
    transport: EnumTransport,
    target: str,
    effect_type: EnumEffectType = EnumEffectType.API_CALL,
) -> ModelEffectOutput:
    """Parse, run and wrap one envelope; a bad request is an ``InfraValidationError``."""
    metadata = {k: v for k, v in input_data.metadata.items() if isinstance(v, str)}
    metadata.setdefault(CORRELATION_ID, str(input_data.operation_id))
    correlation = caller_context(metadata)
    data = {
        "correlation": correlation,
        "timeout_seconds": input_data.timeout_ms / 1000,
        **input_data.operation_data,
    }
    try:
        request = parse(data)
    except ValidationError as exc:
        raise InfraValidationError(
            f"invalid request: {summarize_validation_error(exc, root='request')}",
            transport=transport,
            operation=str(data.get("operation", "process")),
            target=target,
            correlation_id=correlation.correlation_id,
        ) from None
    started = time.perf_counter()
    response = await process(request)
    return ModelEffectOutput(
        result=response.model_dump(mode="json"),
        operation_id=input_data.operation_id,
        effect_type=effect_type,
        transaction_state=EnumTransactionState.COMMITTED,
        processing_time_ms=(time.perf_counter() - started) * 1000,
        metadata={"operation": request.operation, "target": target},
    )
