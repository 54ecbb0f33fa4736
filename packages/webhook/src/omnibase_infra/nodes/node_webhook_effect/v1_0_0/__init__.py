"""Version 1.0.0 of ``node_webhook_effect``: the node, signing, SSRF guard and outbox."""

from omnibase_infra.nodes.node_webhook_effect.v1_0_0.effect import (
    NodeWebhookEffect,
    parse_retry_after,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.ratelimit import TokenBucket
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.signing import (
    WebhookSigner,
    WebhookVerifier,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.ssrf import (
    PinnedResolver,
    SsrfGuard,
    embedded_ipv4,
    is_public_address,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.store import (
    OutboxStore,
    SqliteOutboxStore,
    StoredMessage,
)

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_webhook_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "NodeWebhookEffect",
    "OutboxStore",
    "PinnedResolver",
    "SqliteOutboxStore",
    "SsrfGuard",
    "StoredMessage",
    "TokenBucket",
    "WebhookSigner",
    "WebhookVerifier",
    "embedded_ipv4",
    "is_public_address",
    "parse_retry_after",
]
