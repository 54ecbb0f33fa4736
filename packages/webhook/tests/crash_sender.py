"""Run as a subprocess by the crash test: enqueue messages, deliver, get SIGKILLed."""

from __future__ import annotations

import asyncio
import os
import sys

from pydantic import SecretStr

from omnibase_infra.models.webhook import (
    ModelWebhookConfig,
    ModelWebhookRetryPolicy,
    ModelWebhookSendRequest,
)
from omnibase_infra.nodes.node_webhook_effect import NodeWebhookEffect


async def main(outbox: str, url: str, count: int) -> None:
    secret = SecretStr(os.environ["CRASH_TEST_SECRET"])
    node = NodeWebhookEffect(
        config=ModelWebhookConfig(
            outbox_path=outbox,
            allow_networks=("127.0.0.0/8",),
            total_timeout_seconds=30.0,
            retry_policy=ModelWebhookRetryPolicy(schedule_seconds=(0.2,), jitter="none"),
        )
    )
    for index in range(count):
        await node.enqueue(
            ModelWebhookSendRequest(url=url, secrets=(secret,), payload={"index": index})
        )
    sys.stdout.write("enqueued\n")
    sys.stdout.flush()
    await asyncio.sleep(3600)  # killed long before


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
