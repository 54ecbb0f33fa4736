"""Health of a dependency or node, as reported by health operations."""

from enum import StrEnum


class EnumServiceStatus(StrEnum):
    """Health of a service or target as a node reports it, from best to worst."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


EnumHealthStatus = EnumServiceStatus
"""The earlier name of :class:`EnumServiceStatus` (the same enum), kept for callers."""
