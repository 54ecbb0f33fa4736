"""The bus's configuration: one model, read from ``OMNIBASE_INFRA_EVENT_BUS_<FIELD>``.

Every field can be set in the environment (``OMNIBASE_INFRA_EVENT_BUS_SERVERS``,
``..._PASSWORD``, ``..._ACK_WAIT_SECONDS``, ...) through
:func:`omnibase_infra.effect.settings.settings_from_env`. Credentials are ``SecretStr``:
they never appear in a ``repr``, a log line, an error or a span, and server URLs may not
carry them (``nats://user:password@host`` is refused; set ``user``/``password`` or
``token``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from omnibase_infra.effect.settings import settings_from_env
from omnibase_infra.event_bus.nats.subjects import (
    check_name_token,
    is_dotted,
    stream_name,
    subject_prefix,
)

__all__ = ["ENV_NODE", "ModelNatsEventBusConfig"]

ENV_NODE: Final = "EVENT_BUS"
"""The ``<NODE>`` part of ``OMNIBASE_INFRA_<NODE>_<FIELD>``."""
_SCHEMES: Final = frozenset({"nats", "tls", "ws", "wss"})
_NAME: Final = r"^[^\s.*>/\\]{1,64}$"


class ModelNatsEventBusConfig(BaseModel):
    """Where the NATS servers are and how the bus uses JetStream (see the package README)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    servers: str = Field(
        default="nats://127.0.0.1:4222",
        description="Comma-separated server URLs (nats://host:port), tried in turn",
    )
    user: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    token: SecretStr | None = None
    client_name: str | None = Field(default=None, min_length=1, max_length=128)

    environment: str = Field(default="dev", description="Subject token and stream of the bus")
    group: str = Field(default="default", description="This node group (command topics)")
    subject_prefix: str | None = Field(
        default=None, description="Optional '.'-separated tokens before the environment"
    )
    stream: str | None = Field(
        default=None, pattern=_NAME, description="Stream name (default onex-<environment>)"
    )
    create_stream: bool = Field(default=True, description="Create the stream when missing")
    duplicate_window_seconds: float = Field(default=120.0, gt=0, le=86_400)
    max_age_seconds: float | None = Field(
        default=7 * 86_400, gt=0, description="How long the stream keeps messages (None: ever)"
    )
    max_bytes: int | None = Field(default=None, gt=0)
    replicas: int = Field(default=1, ge=1, le=5)

    ack_wait_seconds: float = Field(default=30.0, gt=0, le=43_200)
    in_progress_interval_seconds: float | None = Field(
        default=None, gt=0, description="In-progress heartbeats of running handlers"
    )
    max_deliver: int = Field(default=5, description="Deliveries per message (-1: no limit)")
    redelivery_delay_seconds: float = Field(
        default=1.0, ge=0, description="First delay after a failed handler; doubles"
    )
    max_redelivery_delay_seconds: float = Field(default=60.0, ge=0)
    max_ack_pending: int = Field(default=1000, ge=1, description="Unacked per group")
    max_in_flight: int = Field(default=64, ge=1, description="Running handlers per subscriber")
    deliver_policy: Literal["all", "new"] = "all"
    auto_ack: bool = Field(default=True, description="Ack after a handler returns")
    pull_expires_seconds: float = Field(default=5.0, ge=0.5, le=300)
    drain_timeout_seconds: float = Field(default=10.0, ge=0)

    max_pending_publishes: int = Field(default=256, ge=1, description="Unacked publishes")
    publish_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    publish_ack_timeout_seconds: float = Field(
        default=2.0, gt=0, description="One attempt's wait for the server's ack"
    )
    publish_max_attempts: int = Field(default=5, ge=1, le=100)
    connect_timeout_seconds: float = Field(default=2.0, gt=0, le=300)
    reconnect_wait_seconds: float = Field(default=0.5, ge=0, le=300)
    max_reconnect_attempts: int = Field(default=-1, ge=-1, description="-1: forever")

    @field_validator("servers")
    @classmethod
    def _check_servers(cls, value: str) -> str:
        urls = [part.strip() for part in value.split(",")]
        if not urls or any(not url for url in urls):
            raise ValueError("servers must be comma-separated URLs, none empty")
        for url in urls:
            parts = urlsplit(url if "://" in url else f"nats://{url}")
            if parts.scheme not in _SCHEMES:
                raise ValueError(f"a server URL's scheme must be one of {sorted(_SCHEMES)}")
            if parts.username is not None or parts.password is not None:
                raise ValueError(
                    "server URLs must not carry credentials: set user/password or token"
                )
            if not parts.hostname:
                raise ValueError("a server URL has no host")
            try:
                parts.port  # noqa: B018 - raises ValueError for a bad port
            except ValueError:
                raise ValueError("a server URL has an invalid port") from None
        return ",".join(urls)

    @field_validator("environment", "group")
    @classmethod
    def _check_token(cls, value: str, info: Any) -> str:
        return check_name_token(value, str(info.field_name))

    @field_validator("subject_prefix")
    @classmethod
    def _check_prefix(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 64 or not is_dotted(value)):
            raise ValueError("subject_prefix must be '.'-separated tokens of [A-Za-z0-9_-]")
        return value

    @field_validator("max_deliver")
    @classmethod
    def _check_max_deliver(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("max_deliver must be -1 (no limit) or at least 1")
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if self.password is not None and self.user is None:
            raise ValueError("password needs user")
        if self.token is not None and self.user is not None:
            raise ValueError("set either user/password or token, not both")
        interval = self.in_progress_interval_seconds
        if interval is not None and interval >= self.ack_wait_seconds:
            raise ValueError("in_progress_interval_seconds must be below ack_wait_seconds")
        if self.max_redelivery_delay_seconds < self.redelivery_delay_seconds:
            raise ValueError("max_redelivery_delay_seconds must be >= redelivery_delay_seconds")
        return self

    # -- derived -------------------------------------------------------------------------

    @property
    def server_urls(self) -> list[str]:
        """The servers as a list (each with a scheme)."""
        return [url if "://" in url else f"nats://{url}" for url in self.servers.split(",")]

    @property
    def target(self) -> str:
        """``host:port`` of each server, comma-separated: errors, breaker and spans name it."""
        return ",".join(
            f"{parts.hostname}:{parts.port or 4222}"
            for parts in (urlsplit(url) for url in self.server_urls)
        )

    @property
    def stream_name(self) -> str:
        """The stream every subject of this bus goes to."""
        return stream_name(self.environment, self.stream)

    @property
    def subject_prefix_for_environment(self) -> str:
        """``<environment>`` or ``<subject_prefix>.<environment>``."""
        return subject_prefix(self.environment, self.subject_prefix)

    @property
    def heartbeat_interval_seconds(self) -> float:
        """How often a running handler's message is reported in progress."""
        interval = self.in_progress_interval_seconds
        return interval if interval is not None else self.ack_wait_seconds / 3

    @classmethod
    def from_env(
        cls, *, environ: Mapping[str, str] | None = None, **explicit: Any
    ) -> ModelNatsEventBusConfig:
        """The configuration from ``OMNIBASE_INFRA_EVENT_BUS_<FIELD>`` (defaults for what
        is unset; ``explicit`` fields win). A value the model refuses is an
        ``InfraConfigurationError`` naming the variables, never their values."""
        found = settings_from_env(cls, ENV_NODE, explicit=explicit, environ=environ)
        return found if found is not None else cls()
