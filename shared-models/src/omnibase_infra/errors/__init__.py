"""Infra error taxonomy: one class per failure kind, each with code, transport, operation,
target, the caller's correlation id, a retryable flag and a message that is safe to log.
"""

from omnibase_infra.errors.enum_infra_error_code import EnumInfraErrorCode
from omnibase_infra.errors.infra_errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraConflictError,
    InfraConnectionError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
    InfraRateLimitedError,
    InfraReadOnlyError,
    InfraRejectedRequestError,
    InfraTimeoutError,
    InfraUnavailableError,
    InfraValidationError,
    JsonValue,
    to_json_safe,
)
from omnibase_infra.errors.serialize import error_to_safe_dict, summarize_validation_error

__all__ = [
    "EnumInfraErrorCode",
    "InfraAuthenticationError",
    "InfraConfigurationError",
    "InfraConflictError",
    "InfraConnectionError",
    "InfraError",
    "InfraNotFoundError",
    "InfraPermissionError",
    "InfraProtocolError",
    "InfraRateLimitedError",
    "InfraReadOnlyError",
    "InfraRejectedRequestError",
    "InfraTimeoutError",
    "InfraUnavailableError",
    "InfraValidationError",
    "JsonValue",
    "error_to_safe_dict",
    "summarize_validation_error",
    "to_json_safe",
]
