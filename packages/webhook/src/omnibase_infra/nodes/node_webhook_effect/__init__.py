"""ONEX webhook EFFECT node of omnibase_infra (versioned implementations below)."""

from omnibase_infra.nodes.node_webhook_effect.v1_0_0 import NodeWebhookEffect

__all__ = ["NodeWebhookEffect"]
