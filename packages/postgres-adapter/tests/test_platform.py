"""The node on the effect platform: its contract YAML is the source of its policies (a
changed contract or override changes behaviour), configuration from the environment, one
lookup per operation."""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from omnibase_infra.effect import parse_effect_policies
from omnibase_infra.errors import InfraConfigurationError, InfraTimeoutError
from omnibase_infra.models.postgres import (
    ModelPostgresFetchValueRequest,
    ModelPostgresPoolConfig,
)
from omnibase_infra.nodes.node_postgres_adapter_effect import NodePostgresAdapterEffect
from omnibase_infra.nodes.node_postgres_adapter_effect.v1_0_0 import (
    CONTRACT_PACKAGE,
    CONTRACT_RESOURCE,
)

pytestmark = pytest.mark.real_service

SLOW = "SELECT pg_sleep(3)"


def _contract() -> dict[str, Any]:
    text = resources.files(CONTRACT_PACKAGE).joinpath(CONTRACT_RESOURCE).read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_the_contract_is_the_source_of_the_policies(pool_config: ModelPostgresPoolConfig) -> None:
    node = NodePostgresAdapterEffect(config=pool_config)
    assert set(node.operations) == {
        "fetch",
        "fetch_one",
        "fetch_value",
        "execute",
        "execute_many",
        "copy_records",
        "transaction",
        "migrate",
        "health",
    }
    assert node.policy("fetch_one").timeout_seconds == 30
    assert node.policy("fetch_one").retry.max_attempts == 3
    assert node.policy("transaction").idempotent
    assert node.policy("migrate").idempotent
    assert not node.policy("copy_records").idempotent
    assert not node.policy("health").guarded
    assert node.policy("health").retry.max_attempts == 1
    assert node.operations["fetch_one"].method == "fetch_one"


async def test_a_changed_contract_changes_the_deadline(
    pool_config: ModelPostgresPoolConfig,
) -> None:
    data = _contract()
    for entry in data["io_operations"]:
        if entry["operation_type"] == "fetch_value":
            entry["timeout_seconds"] = 1  # core's contract takes whole seconds
    policies = parse_effect_policies(data, source="test contract")
    async with NodePostgresAdapterEffect(config=pool_config, policies=policies) as node:
        started = time.monotonic()
        with pytest.raises(InfraTimeoutError) as info:
            await node.process(ModelPostgresFetchValueRequest(sql=SLOW))
        assert time.monotonic() - started < 2.5
        assert info.value.timeout_seconds == 1
        # The request's own timeout still wins over the contract's.
        done = await node.process(
            ModelPostgresFetchValueRequest(sql="SELECT pg_sleep(0.5)", timeout_seconds=5)
        )
        assert done.found


async def test_policy_overrides_change_the_deadline_and_are_validated(
    pool_config: ModelPostgresPoolConfig,
) -> None:
    overrides = {"fetch_value": {"timeout_seconds": 0.3}}
    async with NodePostgresAdapterEffect(config=pool_config, policy_overrides=overrides) as node:
        with pytest.raises(InfraTimeoutError):
            await node.process(ModelPostgresFetchValueRequest(sql=SLOW))
        assert node.policy("fetch_one").timeout_seconds == 30
    with pytest.raises(InfraConfigurationError, match="no operation 'nope'"):
        NodePostgresAdapterEffect(config=pool_config, policy_overrides={"nope": {}})
    with pytest.raises(InfraConfigurationError):
        NodePostgresAdapterEffect(
            config=pool_config, policy_overrides={"fetch": {"timeout_seconds": -1}}
        )


def test_configuration_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, database_dsn: str
) -> None:
    monkeypatch.setenv("OMNIBASE_INFRA_POSTGRES_DSN", database_dsn)
    monkeypatch.setenv("OMNIBASE_INFRA_POSTGRES_MAX_SIZE", "3")
    monkeypatch.setenv("OMNIBASE_INFRA_POSTGRES_APPLICATION_NAME", "from-env")
    node = NodePostgresAdapterEffect()
    assert node.pool.config.max_size == 3
    assert node.pool.config.application_name == "from-env"
    assert node.pool.config.dsn == SecretStr(database_dsn)
    assert node.reader_pool.config is node.pool.config
