"""The ONEX event bus on NATS JetStream: omnibase-spi's ``ProtocolEventBus``.

``NatsEventBus`` publishes through the shared operation runner (deadline, retries, breaker,
spans) with JetStream's de-duplication by message id, and subscribes consumer groups as
durable pull consumers with explicit acks, in-progress heartbeats and bounded in-flight
handlers. See the package README for the guarantees and the subject layout.
"""

from omnibase_infra.event_bus.nats.bus import SCOPE, NatsEventBus
from omnibase_infra.event_bus.nats.config import ENV_NODE, ModelNatsEventBusConfig
from omnibase_infra.event_bus.nats.error_map import map_nats_error, nats_error
from omnibase_infra.event_bus.nats.message import (
    NatsEventMessage,
    OutgoingMessage,
    PublishReceipt,
)
from omnibase_infra.event_bus.nats.subjects import (
    MAX_TOPIC_LENGTH,
    check_topic,
    durable_name,
    stream_name,
    subject_prefix,
)

__all__ = [
    "ENV_NODE",
    "MAX_TOPIC_LENGTH",
    "SCOPE",
    "ModelNatsEventBusConfig",
    "NatsEventBus",
    "NatsEventMessage",
    "OutgoingMessage",
    "PublishReceipt",
    "check_topic",
    "durable_name",
    "map_nats_error",
    "nats_error",
    "stream_name",
    "subject_prefix",
]
