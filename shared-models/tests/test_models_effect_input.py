"""process_effect_input: core's envelope in, the typed request run, core's output back."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

import pytest
from omnibase_core.enums.enum_effect_types import EnumEffectType, EnumTransactionState
from omnibase_core.nodes import ModelEffectInput
from pydantic import BaseModel, SecretStr

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraValidationError
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.models.effect_input import process_effect_input
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.observability import inject


class _Echo(ModelInfraRequest):
    operation: Literal["echo"] = "echo"
    value: SecretStr


class _Answer(BaseModel):
    value: SecretStr
    timeout_seconds: float
    correlation_id: uuid.UUID


def _parse(data: Mapping[str, Any]) -> _Echo:
    return _Echo.model_validate(data)


async def _process(request: _Echo) -> _Answer:
    return _Answer(
        value=request.value,
        timeout_seconds=request.timeout_seconds,
        correlation_id=request.correlation_id,
    )


async def test_the_request_runs_with_the_callers_correlation_and_timeout() -> None:
    caller = ModelCorrelationContext.new()
    envelope = ModelEffectInput(
        effect_type=EnumEffectType.API_CALL,
        operation_data={"operation": "echo", "value": "s3cr3t-value"},
        metadata=inject(caller, {}),
        timeout_ms=2500,
    )
    output = await process_effect_input(
        envelope, parse=_parse, process=_process, transport=EnumTransport.VAULT, target="v:8200"
    )
    assert output.result == {
        "value": "**********",
        "timeout_seconds": 2.5,
        "correlation_id": str(caller.correlation_id),
    }
    assert output.operation_id == envelope.operation_id
    assert output.transaction_state is EnumTransactionState.COMMITTED
    assert output.metadata == {"operation": "echo", "target": "v:8200"}


async def test_without_metadata_the_operation_id_is_the_correlation_id() -> None:
    envelope = ModelEffectInput(
        effect_type=EnumEffectType.API_CALL,
        operation_data={"operation": "echo", "value": "x"},
    )
    output = await process_effect_input(
        envelope, parse=_parse, process=_process, transport=EnumTransport.VAULT, target="t"
    )
    assert isinstance(output.result, dict)
    assert output.result["correlation_id"] == str(envelope.operation_id)


async def test_a_bad_request_names_the_field_and_keeps_the_correlation() -> None:
    envelope = ModelEffectInput(
        effect_type=EnumEffectType.API_CALL,
        operation_data={"operation": "echo"},
    )
    expected = "invalid request: value: Field required"
    with pytest.raises(InfraValidationError, match=expected) as caught:
        await process_effect_input(
            envelope, parse=_parse, process=_process, transport=EnumTransport.CONSUL, target="c"
        )
    assert caught.value.correlation_id == envelope.operation_id
    assert caught.value.operation == "echo"
