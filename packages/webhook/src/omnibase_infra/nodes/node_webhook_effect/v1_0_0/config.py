"""The node's configuration from the environment: ``OMNIBASE_INFRA_WEBHOOK_<FIELD>``.

Every field of :class:`~omnibase_infra.models.webhook.ModelWebhookConfig` can be set
(``omnibase_infra.effect.settings``): ``OMNIBASE_INFRA_WEBHOOK_OUTBOX_PATH``,
``..._TOTAL_TIMEOUT_SECONDS``, ``..._MAX_CONCURRENCY``, lists as JSON
(``..._ALLOW_NETWORKS='["10.0.0.0/8"]'``), the retry schedule as
``..._RETRY_POLICY__SCHEDULE_SECONDS='[1, 60]'``. The lists' older comma-separated form
(``10.0.0.0/8,192.168.0.0/16``) is still read, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from typing import Final

from omnibase_infra.effect.settings import env_name, settings_from_env
from omnibase_infra.models.webhook import ModelWebhookConfig

__all__ = [
    "ALLOW_HOSTS_ENV",
    "ALLOW_NETWORKS_ENV",
    "ENV_NAME",
    "NAT64_PREFIXES_ENV",
    "OUTBOX_PATH_ENV",
    "env_config",
]

ENV_NAME: Final = "WEBHOOK"
OUTBOX_PATH_ENV: Final = env_name(ENV_NAME, "outbox_path")
ALLOW_NETWORKS_ENV: Final = env_name(ENV_NAME, "allow_networks")
ALLOW_HOSTS_ENV: Final = env_name(ENV_NAME, "allow_hosts")
NAT64_PREFIXES_ENV: Final = env_name(ENV_NAME, "nat64_prefixes")
_COMMA_LISTS: Final = (ALLOW_NETWORKS_ENV, ALLOW_HOSTS_ENV, NAT64_PREFIXES_ENV)


def env_config(environ: Mapping[str, str] | None = None) -> ModelWebhookConfig:
    """The configuration from the environment; every field optional (defaults otherwise;
    an empty ``OUTBOX_PATH`` keeps the outbox in memory)."""
    env = dict(os.environ if environ is None else environ)
    if not env.get(OUTBOX_PATH_ENV, "x").strip():
        del env[OUTBOX_PATH_ENV]
    for name in _COMMA_LISTS:
        raw = env.get(name)
        if raw is not None and not raw.lstrip().startswith("["):
            warnings.warn(
                f"{name} as a comma-separated list is deprecated; give a JSON list",
                DeprecationWarning,
                stacklevel=2,
            )
            env[name] = json.dumps([item.strip() for item in raw.split(",") if item.strip()])
    return settings_from_env(ModelWebhookConfig, ENV_NAME, environ=env) or ModelWebhookConfig()
