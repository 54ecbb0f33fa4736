"""The infrastructure operations the orchestrator runs as workflows."""

from enum import StrEnum


class EnumOperationType(StrEnum):
    """Which workflow an operation runs (``infra_orchestrator`` keys its built-in
    workflows and the ``onex-infra`` commands by it)."""

    DEPLOY = "deploy"
    """Credentials, database, configuration, registration, token, notification."""
    DECOMMISSION = "decommission"
    """Everything ``DEPLOY`` created, removed in reverse."""
