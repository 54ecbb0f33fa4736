"""Service configuration for the CLI: a file, the environment, or the embedded services.

Every node reads its own configuration from ``OMNIBASE_INFRA_*`` environment variables
(``OMNIBASE_INFRA_CONSUL_HOST``, the Vault/Postgres/Keycloak/webhook variables each node's
README lists). A services file is YAML ``{env: {NAME: value, ...}}``; its values are set in
the environment before any node is built (values already set in the environment win).

With no file and no ``OMNIBASE_INFRA_*`` variable, the CLI calls
:func:`start_embedded_services`: the hook that starts embedded PostgreSQL, an OpenBao dev
server, Consul, the OIDC server and a webhook receiver and returns their variables. The CLI
installs ``omnibase_infra_testing.onex_embedded`` as the hook when that package is
installed; otherwise set :data:`EMBEDDED_HOOK`
(``omnibase_infra.nodes.infra_orchestrator.v1_0_0.services.EMBEDDED_HOOK = my_starter``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from omnibase_infra.contracts import load_yaml_file
from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

__all__ = [
    "EMBEDDED_HOOK",
    "ENV_PREFIX",
    "ORCHESTRATOR_ENV_PREFIX",
    "EmbeddedServices",
    "apply_services_file",
    "needs_embedded",
    "start_embedded_services",
]

ENV_PREFIX: Final = "OMNIBASE_INFRA_"
ORCHESTRATOR_ENV_PREFIX: Final = "OMNIBASE_INFRA_ORCHESTRATOR_"
"""The orchestrator's own variables (store, inputs): they configure no service."""


@dataclass
class EmbeddedServices:
    """Running embedded services: their environment and how to stop them."""

    env: dict[str, str]
    stop: Callable[[], Awaitable[None]]
    description: list[str] = field(default_factory=list)
    nodes: dict[str, object] = field(default_factory=dict)
    """Node factories/instances by name for what the environment cannot configure (e.g. a
    webhook node allowed to reach the loopback receiver); ``--node`` wins."""


EMBEDDED_HOOK: Callable[[], Awaitable[EmbeddedServices]] | None = None
"""Set by whoever provides embedded services (the demo); None: not available."""


def _config_error(message: str, target: str) -> InfraConfigurationError:
    return InfraConfigurationError(
        message, transport=EnumTransport.INTERNAL, operation="configure_services", target=target
    )


def apply_services_file(
    path: str | Path, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Set the file's ``env`` values that are not set yet; return what it set."""
    env = os.environ if environ is None else environ
    data = load_yaml_file(path, operation="configure_services")  # errors name file and line
    if not isinstance(data, dict) or set(data) - {"env"} or not isinstance(data.get("env"), dict):
        raise _config_error(f"{path}: a services file is {{env: {{NAME: value}}}}", str(path))
    applied: dict[str, str] = {}
    for name, value in data["env"].items():
        if not isinstance(name, str) or not name.startswith(ENV_PREFIX):
            raise _config_error(f"{path}: env.{name}: names start with {ENV_PREFIX}", str(path))
        if name not in env:
            env[name] = applied[name] = str(value)
    return applied


def needs_embedded(environ: Mapping[str, str] | None = None) -> bool:
    """True when no ``OMNIBASE_INFRA_*`` variable configures any service (the
    orchestrator's own ``OMNIBASE_INFRA_ORCHESTRATOR_*`` variables do not count)."""
    env = os.environ if environ is None else environ
    return not any(
        name.startswith(ENV_PREFIX) and not name.startswith(ORCHESTRATOR_ENV_PREFIX) for name in env
    )


async def start_embedded_services() -> EmbeddedServices:
    """Start the embedded services through :data:`EMBEDDED_HOOK` (error when unset)."""
    if EMBEDDED_HOOK is None:
        raise _config_error(
            "no services are configured and embedded services are not available in this "
            "installation: pass --config services.yaml, set the OMNIBASE_INFRA_* variables, "
            "or install omnibase-infra-testing (tests-integration/) for the embedded services",
            "embedded",
        )
    return await EMBEDDED_HOOK()
