"""Enumerations shared by every omnibase_infra package."""

from omnibase_infra.enums.enum_health_status import EnumHealthStatus
from omnibase_infra.enums.enum_transport import EnumTransport

__all__ = ["EnumHealthStatus", "EnumTransport"]
