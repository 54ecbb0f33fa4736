"""Pydantic models shared by every omnibase_infra package."""

from omnibase_infra.models.model_correlation_context import ModelCorrelationContext
from omnibase_infra.models.model_health_status import HealthDetailValue, ModelHealthStatus
from omnibase_infra.models.model_infra_envelope import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_TIMEOUT_SECONDS,
    ModelInfraRequest,
    ModelInfraResponse,
)
from omnibase_infra.models.model_service_endpoint import (
    DEFAULT_PORTS,
    ModelServiceEndpoint,
    ModelTlsSettings,
)

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_TIMEOUT_SECONDS",
    "HealthDetailValue",
    "ModelCorrelationContext",
    "ModelHealthStatus",
    "ModelInfraRequest",
    "ModelInfraResponse",
    "ModelServiceEndpoint",
    "ModelTlsSettings",
]
