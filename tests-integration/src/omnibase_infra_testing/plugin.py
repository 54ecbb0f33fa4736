"""pytest plugin (entry point ``pytest11``): fixtures for every real service of the harness.

Each fixture is session-scoped, starts its server on 127.0.0.1 with a free port the first
time a test asks for it, and stops it by PID at the end of the session (also when tests
fail). See the package README for the fixtures and the environment variables.
"""

from omnibase_infra_testing.services.consul import consul_service
from omnibase_infra_testing.services.nats import nats_service
from omnibase_infra_testing.services.oidc import oidc_service, workflow_oidc_service
from omnibase_infra_testing.services.openbao import openbao_service
from omnibase_infra_testing.services.postgres import postgres_service
from omnibase_infra_testing.services.receiver import webhook_receiver
from omnibase_infra_testing.services.redis import redis_service

__all__ = [
    "consul_service",
    "nats_service",
    "oidc_service",
    "openbao_service",
    "postgres_service",
    "redis_service",
    "webhook_receiver",
    "workflow_oidc_service",
]
