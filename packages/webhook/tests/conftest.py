"""Fixtures: signing secrets, and nodes that may reach the harness's loopback receiver.

Nodes here allow-list 127.0.0.0/8 explicitly (the SSRF guard refuses loopback otherwise)
and use a fast retry schedule so retries happen within a test.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from omnibase_infra.models.webhook import ModelWebhookConfig, ModelWebhookRetryPolicy
from omnibase_infra.nodes.node_webhook_effect import NodeWebhookEffect
from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import SqliteOutboxStore


def make_secret() -> SecretStr:
    return SecretStr("whsec_" + base64.b64encode(os.urandom(32)).decode())


FAST = ModelWebhookRetryPolicy(schedule_seconds=(0.05, 0.1, 0.1), jitter="none")


@pytest.fixture
def secret() -> SecretStr:
    return make_secret()


@pytest.fixture
def outbox_path(tmp_path: Path) -> str:
    return str(tmp_path / "outbox.sqlite3")


type NodeFactory = Callable[..., NodeWebhookEffect]


@pytest.fixture
async def make_node(outbox_path: str) -> AsyncIterator[NodeFactory]:
    nodes: list[NodeWebhookEffect] = []

    def factory(**overrides: object) -> NodeWebhookEffect:
        store = overrides.pop("store", None)
        secrets = overrides.pop("endpoint_secrets", None)
        providers = {
            key: overrides.pop(key)
            for key in ("tracer_provider", "meter_provider", "policies", "policy_overrides")
            if key in overrides
        }
        fields: dict[str, object] = {
            "allow_networks": ("127.0.0.0/8",),
            "outbox_path": outbox_path,
            "retry_policy": FAST,
            "total_timeout_seconds": 2.0,
            "connect_timeout_seconds": 1.0,
        }
        fields.update(overrides)
        config = ModelWebhookConfig.model_validate(fields)
        node = NodeWebhookEffect(
            config=config,
            store=store if isinstance(store, SqliteOutboxStore) else None,
            endpoint_secrets=secrets,  # type: ignore[arg-type]
            **providers,  # type: ignore[arg-type]
        )
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        await node.close()
