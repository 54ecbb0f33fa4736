"""Health of a dependency or node, as reported by health operations."""

from enum import StrEnum


class EnumHealthStatus(StrEnum):
    """Health of a target, from best to worst."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"
