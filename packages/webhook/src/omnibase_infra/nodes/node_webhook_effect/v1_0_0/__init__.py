"""Version 1.0.0 of ``node_webhook_effect``: the node (the outbox API), the delivery engine,
signing and verification, the SSRF guard, the outbox store and the configuration."""

from omnibase_infra.nodes.node_webhook_effect.v1_0_0.config import (
    ALLOW_HOSTS_ENV,
    ALLOW_NETWORKS_ENV,
    ENV_NAME,
    NAT64_PREFIXES_ENV,
    OUTBOX_PATH_ENV,
    env_config,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.delivery import (
    DeliveryEngine,
    SignerBook,
    endpoint_target,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.effect import (
    NodeWebhookEffect,
    parse_retry_after,
)
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.ratelimit import TokenBucket
from omnibase_infra.nodes.node_webhook_effect.v1_0_0.receiver import (
    DeduplicatingVerifier,
    MemorySeenIds,
    SeenIds,
    VerifiedWebhook,
)
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
    MessageStatus,
    OutboxStore,
    SqliteOutboxStore,
    StoredMessage,
)

CONTRACT_PACKAGE = "omnibase_infra.nodes.node_webhook_effect.v1_0_0"
CONTRACT_RESOURCE = "contracts/effect_contract.yaml"

__all__ = [
    "ALLOW_HOSTS_ENV",
    "ALLOW_NETWORKS_ENV",
    "CONTRACT_PACKAGE",
    "CONTRACT_RESOURCE",
    "ENV_NAME",
    "NAT64_PREFIXES_ENV",
    "OUTBOX_PATH_ENV",
    "DeduplicatingVerifier",
    "DeliveryEngine",
    "MemorySeenIds",
    "MessageStatus",
    "NodeWebhookEffect",
    "OutboxStore",
    "PinnedResolver",
    "SeenIds",
    "SignerBook",
    "SqliteOutboxStore",
    "SsrfGuard",
    "StoredMessage",
    "TokenBucket",
    "VerifiedWebhook",
    "WebhookSigner",
    "WebhookVerifier",
    "embedded_ipv4",
    "endpoint_target",
    "env_config",
    "is_public_address",
    "parse_retry_after",
]
