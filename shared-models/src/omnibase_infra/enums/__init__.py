"""Enumerations shared by every omnibase_infra package."""

from omnibase_infra.enums.enum_health_status import EnumHealthStatus, EnumServiceStatus
from omnibase_infra.enums.enum_infra_fsm_type import EnumInfraFSMType
from omnibase_infra.enums.enum_operation_type import EnumOperationType
from omnibase_infra.enums.enum_transport import EnumTransport

__all__ = [
    "EnumHealthStatus",
    "EnumInfraFSMType",
    "EnumOperationType",
    "EnumServiceStatus",
    "EnumTransport",
]
