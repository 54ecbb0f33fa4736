"""Operation policies of an effect node, read from its contract YAML.

A node's contract (core's ``ModelContractEffect``) is the source of its defaults:

* ``retry_policies`` (core's fields) is the node-wide retry policy: ``max_attempts``,
  ``base_delay_ms``, ``max_delay_ms``, ``jitter_enabled`` and ``circuit_breaker_enabled``;
  ``circuit_breaker_timeout_s`` is the breaker's wait in open and
  ``circuit_breaker_threshold`` the calls in its window before it may open
  (``minimum_calls``). Our extension ``retry_policies.circuit_breaker`` takes any other
  field of :class:`~omnibase_infra.resilience.breaker.ModelCircuitBreakerConfig`.
* ``idempotent_operations`` (core's) is the default idempotency of every operation.
* ``io_operations`` (core's) lists the operations with their ``timeout_seconds``; our
  extension keys on an entry override the node-wide values for that operation:
  ``idempotent``, ``max_attempts``, ``base_delay_ms``, ``max_delay_ms`` and
  ``circuit_breaker`` (false: the breaker does not guard it, e.g. a health check).

Core ignores the extension keys (its entry models allow extra keys) and our strict loader
accepts exactly these, so the file stays a valid core contract. Callers override per
operation with :meth:`ModelEffectPolicies.with_overrides` (validated strictly).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError, summarize_validation_error
from omnibase_infra.resilience.breaker import ModelCircuitBreakerConfig
from omnibase_infra.resilience.model_retry_policy import ModelRetryPolicy

__all__ = [
    "CONTRACT_EXTENSION_PATHS",
    "ModelEffectPolicies",
    "ModelOperationPolicy",
    "load_effect_policies",
    "parse_effect_policies",
    "policies_from_contract",
]

# Keys our loader reads beyond core's contract schema (see the module docstring).
_OPERATION_EXTENSIONS: Final = (
    "idempotent",
    "max_attempts",
    "base_delay_ms",
    "max_delay_ms",
    "circuit_breaker",
)
CONTRACT_EXTENSION_PATHS: Final = (
    *(f"io_operations[*].{key}" for key in _OPERATION_EXTENSIONS),
    "retry_policies.circuit_breaker",
)
_LOAD: Final = "load_policies"


class ModelOperationPolicy(BaseModel):
    """How one operation runs: its deadline, whether it may be retried, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operation: str = Field(min_length=1, max_length=200)
    timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600, allow_inf_nan=False, description="Overall deadline"
    )
    idempotent: bool = Field(
        default=False, description="Safe to run twice: transient failures are retried"
    )
    retry: ModelRetryPolicy = Field(default_factory=ModelRetryPolicy)
    guarded: bool = Field(default=True, description="The target's circuit breaker guards it")


class ModelEffectPolicies(BaseModel):
    """Every operation's policy plus the breaker settings of one node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    operations: dict[str, ModelOperationPolicy]
    breaker_enabled: bool = True
    breaker: dict[str, Any] = Field(
        default_factory=dict, description="ModelCircuitBreakerConfig fields from the contract"
    )

    def get(self, operation: str) -> ModelOperationPolicy:
        """The policy of ``operation``; an operation the contract lacks is a clear error."""
        try:
            return self.operations[operation]
        except KeyError:
            known = ", ".join(sorted(self.operations))
            raise InfraConfigurationError(
                f"{self.node}: the contract has no operation {operation!r} (known: {known})",
                transport=EnumTransport.INTERNAL,
                operation=_LOAD,
                target=self.node,
            ) from None

    def breaker_config(self, **code_defaults: Any) -> ModelCircuitBreakerConfig:
        """The breaker configuration: the node's code defaults (e.g. its classifier) under
        what the contract says."""
        return ModelCircuitBreakerConfig(**{**code_defaults, **self.breaker})

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Self:
        """A copy with per-operation fields replaced, e.g.
        ``{"fetch_one": {"timeout_seconds": 5, "retry": {"max_attempts": 1}}}``.

        Unknown operations or fields are errors; ``retry`` is merged field by field.
        """
        operations = dict(self.operations)
        for name, fields in overrides.items():
            current = self.get(name)
            data = current.model_dump()
            for key, value in fields.items():
                if key == "retry" and isinstance(value, Mapping):
                    data["retry"] = {**data["retry"], **value}
                else:
                    data[key] = value
            operations[name] = _validated(
                ModelOperationPolicy, data, f"{self.node} overrides[{name!r}]"
            )
        return self.model_copy(update={"operations": operations})


def _validated[M: BaseModel](model: type[M], data: object, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InfraConfigurationError(
            f"{where}: {summarize_validation_error(exc)}",
            transport=EnumTransport.INTERNAL,
            operation=_LOAD,
            target=where,
        ) from None


def _retry_fields(source: Mapping[str, Any]) -> dict[str, Any]:
    """Core's retry keys (milliseconds, a jitter switch) as ``ModelRetryPolicy`` fields."""
    return {
        "max_attempts": source["max_attempts"],
        "base_delay_seconds": source["base_delay_ms"] / 1000,
        "max_delay_seconds": source["max_delay_ms"] / 1000,
        "jitter": "full" if source["jitter_enabled"] else "none",
    }


def policies_from_contract(
    contract: Any, raw: Mapping[str, Any], *, source: str
) -> ModelEffectPolicies:
    """Build the policies from a validated ``ModelContractEffect`` and its raw data.

    ``contract`` supplies core's fields (validated and defaulted by core); ``raw`` the
    extension keys, which the strict loader has already checked by name.
    """
    raw_retry: Mapping[str, Any] = raw.get("retry_policies") or {}
    retry_config = contract.retry_policies
    node_retry = {
        "max_attempts": retry_config.max_attempts,
        "base_delay_ms": retry_config.base_delay_ms,
        "max_delay_ms": retry_config.max_delay_ms,
        "jitter_enabled": retry_config.jitter_enabled,
    }
    breaker: dict[str, Any] = {}
    if "circuit_breaker_timeout_s" in raw_retry:
        breaker["wait_in_open_seconds"] = float(retry_config.circuit_breaker_timeout_s)
        breaker["max_wait_in_open_seconds"] = max(
            300.0, float(retry_config.circuit_breaker_timeout_s)
        )
    if "circuit_breaker_threshold" in raw_retry:
        breaker["minimum_calls"] = retry_config.circuit_breaker_threshold
    extension = raw_retry.get("circuit_breaker") or {}
    if not isinstance(extension, Mapping):
        raise InfraConfigurationError(
            f"{source}: retry_policies.circuit_breaker must be a mapping",
            transport=EnumTransport.INTERNAL,
            operation=_LOAD,
            target=source,
        )
    breaker.update(extension)
    # Validate the breaker fields now, so a bad contract fails at load, not at first call.
    _validated(ModelCircuitBreakerConfig, breaker, f"{source}: retry_policies.circuit_breaker")

    raw_operations: list[Mapping[str, Any]] = list(raw.get("io_operations") or [])
    operations: dict[str, ModelOperationPolicy] = {}
    for index, io in enumerate(contract.io_operations):
        extra = raw_operations[index] if index < len(raw_operations) else {}
        name = io.operation_type
        where = f"{source}: io_operations[{index}] ({name!r})"
        if name in operations:
            raise InfraConfigurationError(
                f"{where}: operation listed twice",
                transport=EnumTransport.INTERNAL,
                operation=_LOAD,
                target=source,
            )
        retry = _retry_fields(
            {**node_retry, **{k: v for k, v in extra.items() if k != "idempotent"}}
        )
        operations[name] = _validated(
            ModelOperationPolicy,
            {
                "operation": name,
                "timeout_seconds": io.timeout_seconds,
                "idempotent": extra.get("idempotent", contract.idempotent_operations),
                "retry": retry,
                "guarded": extra.get("circuit_breaker", True),
            },
            where,
        )
    return ModelEffectPolicies(
        node=contract.name,
        operations=operations,
        breaker_enabled=retry_config.circuit_breaker_enabled,
        breaker=breaker,
    )


def parse_effect_policies(raw: object, *, source: str) -> ModelEffectPolicies:
    """Validate raw contract data (a parsed effect contract YAML) strictly as core's
    ``ModelContractEffect`` plus our extension keys, and build its policies. Use it for a
    contract of your own; ``source`` names it in errors."""
    # Imported here: core's contract models cost import time no node should pay up front.
    from omnibase_core.models.contracts.model_contract_effect import (  # noqa: PLC0415
        ModelContractEffect,
    )

    from omnibase_infra.contracts import parse_node_contract  # noqa: PLC0415

    contract = parse_node_contract(
        raw, ModelContractEffect, source=source, extra_allowed_paths=CONTRACT_EXTENSION_PATHS
    )
    return policies_from_contract(contract, raw if isinstance(raw, Mapping) else {}, source=source)


@functools.cache
def _packaged_policies(package: str, resource: str) -> ModelEffectPolicies:
    from omnibase_infra.contracts import load_yaml_resource, resource_label  # noqa: PLC0415

    return parse_effect_policies(
        load_yaml_resource(package, resource), source=resource_label(package, resource)
    )


def load_effect_policies(
    package: str,
    resource: str = "contracts/effect_contract.yaml",
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> ModelEffectPolicies:
    """The policies of the contract ``resource`` in ``package`` (package data, read once
    per process), with ``overrides`` applied (see :meth:`ModelEffectPolicies.with_overrides`)."""
    policies = _packaged_policies(package, resource)
    return policies.with_overrides(overrides) if overrides else policies
