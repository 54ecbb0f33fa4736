"""Error codes of the infra component, registered with omnibase_core at import."""

from __future__ import annotations

from omnibase_core.enums.enum_onex_error_code import EnumOnexErrorCode
from omnibase_core.errors import register_error_codes

__all__ = ["EnumInfraErrorCode"]


class EnumInfraErrorCode(EnumOnexErrorCode):
    """``ONEX_INFRA_<NNN>_<NAME>`` codes; ``str()`` gives the code itself."""

    INFRA_ERROR = "ONEX_INFRA_001_INFRA_ERROR"
    CONNECTION_FAILED = "ONEX_INFRA_002_CONNECTION_FAILED"
    TIMEOUT = "ONEX_INFRA_003_TIMEOUT"
    AUTHENTICATION_FAILED = "ONEX_INFRA_004_AUTHENTICATION_FAILED"
    PERMISSION_DENIED = "ONEX_INFRA_005_PERMISSION_DENIED"
    NOT_FOUND = "ONEX_INFRA_006_NOT_FOUND"
    CONFLICT = "ONEX_INFRA_007_CONFLICT"
    RATE_LIMITED = "ONEX_INFRA_008_RATE_LIMITED"
    UNAVAILABLE = "ONEX_INFRA_009_UNAVAILABLE"
    CIRCUIT_OPEN = "ONEX_INFRA_010_CIRCUIT_OPEN"
    SEALED = "ONEX_INFRA_011_SEALED"
    REQUEST_REJECTED = "ONEX_INFRA_012_REQUEST_REJECTED"
    PROTOCOL_ERROR = "ONEX_INFRA_013_PROTOCOL_ERROR"
    CONFIGURATION_ERROR = "ONEX_INFRA_014_CONFIGURATION_ERROR"
    VALIDATION_ERROR = "ONEX_INFRA_015_VALIDATION_ERROR"
    DEADLINE_EXCEEDED = "ONEX_INFRA_016_DEADLINE_EXCEEDED"
    READ_ONLY = "ONEX_INFRA_017_READ_ONLY"

    def __str__(self) -> str:
        return str(self.value)

    def get_component(self) -> str:
        """The component part of the code: ``INFRA``."""
        return "INFRA"

    def get_number(self) -> int:
        """The numeric part of the code (``ONEX_INFRA_003_TIMEOUT`` -> 3)."""
        return int(self.value.split("_")[2])

    def get_description(self) -> str:
        """One line saying what the code means."""
        return _DESCRIPTIONS[self.name]


_DESCRIPTIONS: dict[str, str] = {
    "INFRA_ERROR": "Infrastructure operation failed",
    "CONNECTION_FAILED": "Could not connect to the target",
    "TIMEOUT": "The operation did not finish within its timeout",
    "AUTHENTICATION_FAILED": "The target rejected the credentials",
    "PERMISSION_DENIED": "The credentials lack permission for the operation",
    "NOT_FOUND": "The requested resource does not exist",
    "CONFLICT": "The resource changed concurrently (e.g. check-and-set mismatch)",
    "RATE_LIMITED": "The target asked the caller to slow down",
    "UNAVAILABLE": "The target is temporarily unavailable",
    "CIRCUIT_OPEN": "The circuit breaker for the target is open",
    "SEALED": "The secret store is sealed",
    "REQUEST_REJECTED": "The target rejected the request",
    "PROTOCOL_ERROR": "The target answered something that could not be understood",
    "CONFIGURATION_ERROR": "The operation is misconfigured",
    "VALIDATION_ERROR": "The input or output failed validation",
    "DEADLINE_EXCEEDED": "The overall deadline across retries was exceeded",
    "READ_ONLY": "The operation is read-only and the target refused a write",
}

register_error_codes("infra", EnumInfraErrorCode)
