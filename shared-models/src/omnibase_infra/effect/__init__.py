"""The effect-node platform: one operation runner and one node base for every effect node.

* :mod:`~omnibase_infra.effect.runner` — :class:`OperationRunner`: deadline, retries,
  breaker, error mapping, span, metrics and operation record, one semantics for all.
* :mod:`~omnibase_infra.effect.node` — :class:`InfraEffectNode`: configuration, lifecycle,
  ``process()`` dispatch and core's envelope, built once.
* :mod:`~omnibase_infra.effect.policy` — operation policies from a node's contract YAML.
* :mod:`~omnibase_infra.effect.http` — HTTP statuses, ``Retry-After`` and transport
  failures as typed errors, for every HTTP-based node.
* :mod:`~omnibase_infra.effect.settings` — ``OMNIBASE_INFRA_<NODE>_<FIELD>`` configuration.
"""

from omnibase_infra.effect.http import (
    DEFAULT_RETRY_AFTER_CAP_SECONDS,
    error_for_status,
    error_for_transport,
    parse_retry_after,
)
from omnibase_infra.effect.node import EffectOperation, InfraEffectNode, operation
from omnibase_infra.effect.policy import (
    CONTRACT_EXTENSION_PATHS,
    ModelEffectPolicies,
    ModelOperationPolicy,
    load_effect_policies,
    parse_effect_policies,
    policies_from_contract,
)
from omnibase_infra.effect.runner import (
    Attempt,
    ErrorMapper,
    OperationOutcome,
    OperationRunner,
    map_generic_error,
)
from omnibase_infra.effect.settings import ENV_PREFIX, env_name, env_values, settings_from_env

__all__ = [
    "CONTRACT_EXTENSION_PATHS",
    "DEFAULT_RETRY_AFTER_CAP_SECONDS",
    "ENV_PREFIX",
    "Attempt",
    "EffectOperation",
    "ErrorMapper",
    "InfraEffectNode",
    "ModelEffectPolicies",
    "ModelOperationPolicy",
    "OperationOutcome",
    "OperationRunner",
    "env_name",
    "env_values",
    "error_for_status",
    "error_for_transport",
    "load_effect_policies",
    "map_generic_error",
    "operation",
    "parse_effect_policies",
    "parse_retry_after",
    "policies_from_contract",
    "settings_from_env",
]
