"""The node's configuration from the environment: ``OMNIBASE_INFRA_CONSUL_<FIELD>`` for every
field of ``ModelConsulConfig`` (``HOST``, ``PORT``, ``SCHEME``, ``TOKEN``, ``DATACENTER``,
``VERIFY_TLS``, ``TIMEOUT_SECONDS``, ``COMPRESS_RESPONSES``), by
``omnibase_infra.effect.settings``.

``OMNIBASE_INFRA_CONSUL_ADDR`` (``[http[s]://]host:port``, the name before this scheme) is
still read when none of ``HOST``/``PORT``/``SCHEME`` is set, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any, Final

from omnibase_infra.effect import env_name, settings_from_env
from omnibase_infra.errors import InfraConfigurationError
from omnibase_infra.models.consul import ModelConsulConfig
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.errors import TRANSPORT

__all__ = ["ADDR_ENV", "ENV_NAME", "TOKEN_ENV", "config_from_env"]

ENV_NAME: Final = "CONSUL"
ADDR_ENV: Final = "OMNIBASE_INFRA_CONSUL_ADDR"
"""Deprecated: ``OMNIBASE_INFRA_CONSUL_HOST``, ``_PORT`` and ``_SCHEME`` replace it."""
TOKEN_ENV: Final = env_name(ENV_NAME, "token")
_ADDRESS_FIELDS: Final = ("host", "port", "scheme")


def _address(addr: str) -> dict[str, Any]:
    scheme, _, rest = addr.rpartition("://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise InfraConfigurationError(
            f"{ADDR_ENV} must be [http[s]://]host:port",
            transport=TRANSPORT,
            operation="configure",
        )
    return {"scheme": scheme or "http", "host": host, "port": port}


def config_from_env(environ: Mapping[str, str] | None = None) -> ModelConsulConfig:
    """The configuration the environment gives (the defaults, ``http://127.0.0.1:8500``
    without a token, for what it does not set)."""
    env = os.environ if environ is None else environ
    explicit: dict[str, Any] = {}
    addr = env.get(ADDR_ENV, "").strip()
    if addr and not any(env_name(ENV_NAME, field) in env for field in _ADDRESS_FIELDS):
        names = ", ".join(env_name(ENV_NAME, field) for field in _ADDRESS_FIELDS)
        warnings.warn(
            f"{ADDR_ENV} is deprecated; set {names} instead", DeprecationWarning, stacklevel=2
        )
        explicit = _address(addr)
    config = settings_from_env(ModelConsulConfig, ENV_NAME, explicit=explicit, environ=env)
    return config if config is not None else ModelConsulConfig()
