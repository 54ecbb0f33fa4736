"""The seed's enums: FSM types, operation types, service status."""

from __future__ import annotations

from omnibase_infra.enums import (
    EnumHealthStatus,
    EnumInfraFSMType,
    EnumOperationType,
    EnumServiceStatus,
)
from omnibase_infra.models import ModelHealthStatus


def test_values_are_the_names_used_in_contracts_and_commands() -> None:
    assert EnumInfraFSMType("infrastructure_state") is EnumInfraFSMType.INFRASTRUCTURE_STATE
    assert [op.value for op in EnumOperationType] == ["deploy", "decommission"]
    assert [s.value for s in EnumServiceStatus] == ["healthy", "degraded", "unhealthy", "unknown"]


def test_the_earlier_health_enum_name_is_the_same_enum() -> None:
    assert EnumHealthStatus is EnumServiceStatus
    status = ModelHealthStatus(status=EnumHealthStatus.DEGRADED, target="db:5432")
    assert status.status is EnumServiceStatus.DEGRADED
