"""Typed configuration, requests and results of the Consul node (``node_consul_adapter_effect``).

Only what Consul 1.8 offers is modelled. The ACL token is a ``SecretStr``; ``target`` never
contains it.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = [
    "EnumConsulCheckKind",
    "EnumConsulCheckStatus",
    "EnumConsulSessionBehavior",
    "ModelConsulCheck",
    "ModelConsulConfig",
    "ModelConsulKVEntry",
    "ModelConsulServiceInstance",
    "ModelConsulServiceRegistration",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class ModelConsulConfig(BaseModel):
    """How to reach one Consul agent over HTTP."""

    model_config = _FROZEN

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=8500, ge=1, le=65535)
    scheme: str = Field(default="http", pattern=r"^https?$")
    token: SecretStr | None = None
    datacenter: str | None = Field(default=None, min_length=1)
    verify_tls: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0)

    @property
    def target(self) -> str:
        """``host:port``: the breaker key and the target named in errors."""
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.target}"


class EnumConsulCheckKind(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    TTL = "ttl"


class EnumConsulCheckStatus(StrEnum):
    """Statuses a TTL check can be set to (Consul's pass/warn/fail endpoints)."""

    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


class EnumConsulSessionBehavior(StrEnum):
    """What happens to a session's locks when it is invalidated."""

    RELEASE = "release"
    DELETE = "delete"


class ModelConsulCheck(BaseModel):
    """A health check registered with a service: HTTP, TCP or TTL."""

    model_config = _FROZEN

    kind: EnumConsulCheckKind
    check_id: str | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, min_length=1)
    http: str | None = None
    tcp: str | None = None
    ttl_seconds: float | None = Field(default=None, gt=0)
    interval_seconds: float | None = Field(default=None, gt=0)
    timeout_seconds: float | None = Field(default=None, gt=0)
    deregister_critical_after_seconds: float | None = Field(default=None, gt=0)
    initial_status: EnumConsulCheckStatus | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        needed = {
            EnumConsulCheckKind.HTTP: ("http", "interval_seconds"),
            EnumConsulCheckKind.TCP: ("tcp", "interval_seconds"),
            EnumConsulCheckKind.TTL: ("ttl_seconds",),
        }[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.kind.value} check needs {', '.join(missing)}")
        return self

    def to_api(self) -> dict[str, Any]:
        """The check definition of Consul's ``/v1/agent/service/register``."""
        body: dict[str, Any] = {}
        if self.check_id is not None:
            body["CheckID"] = self.check_id
        if self.name is not None:
            body["Name"] = self.name
        if self.http is not None:
            body["HTTP"] = self.http
        if self.tcp is not None:
            body["TCP"] = self.tcp
        for key, value in (
            ("TTL", self.ttl_seconds),
            ("Interval", self.interval_seconds),
            ("Timeout", self.timeout_seconds),
            ("DeregisterCriticalServiceAfter", self.deregister_critical_after_seconds),
        ):
            if value is not None:
                body[key] = _duration(value)
        if self.initial_status is not None:
            body["Status"] = self.initial_status.value
        return body


class ModelConsulServiceRegistration(BaseModel):
    """A service instance to register with the local agent."""

    model_config = _FROZEN

    name: str = Field(min_length=1)
    service_id: str | None = Field(default=None, min_length=1)
    address: str | None = None
    port: int | None = Field(default=None, ge=0, le=65535)
    tags: tuple[str, ...] = ()
    meta: dict[str, str] = Field(default_factory=dict)
    checks: tuple[ModelConsulCheck, ...] = ()

    def to_api(self) -> dict[str, Any]:
        """The body of ``/v1/agent/service/register``."""
        body: dict[str, Any] = {"Name": self.name}
        if self.service_id is not None:
            body["ID"] = self.service_id
        if self.address is not None:
            body["Address"] = self.address
        if self.port is not None:
            body["Port"] = self.port
        if self.tags:
            body["Tags"] = list(self.tags)
        if self.meta:
            body["Meta"] = dict(self.meta)
        if self.checks:
            body["Checks"] = [check.to_api() for check in self.checks]
        return body


class ModelConsulServiceInstance(BaseModel):
    """One instance of a service as the health endpoint reports it."""

    model_config = _FROZEN

    node: str
    node_address: str
    service_id: str
    name: str
    address: str
    port: int
    tags: tuple[str, ...] = ()
    meta: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_health_entry(cls, entry: dict[str, Any]) -> Self:
        """From one element of ``/v1/health/service/<name>``."""
        node, service = entry["Node"], entry["Service"]
        return cls(
            node=node["Node"],
            node_address=node["Address"],
            service_id=service["ID"],
            name=service["Service"],
            # An empty service address means "the node's address" in Consul.
            address=service.get("Address") or node["Address"],
            port=service.get("Port") or 0,
            tags=tuple(service.get("Tags") or ()),
            meta=dict(service.get("Meta") or {}),
        )


class ModelConsulKVEntry(BaseModel):
    """A key with its value (raw bytes) and the indexes needed for check-and-set."""

    model_config = _FROZEN

    key: str
    value: bytes | None
    flags: int = 0
    create_index: int
    modify_index: int
    lock_index: int = 0
    session: str | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Self:
        """From an entry of ``/v1/kv/<key>`` whose ``Value`` was already base64-decoded."""
        return cls(
            key=item["Key"],
            value=item.get("Value"),
            flags=item.get("Flags", 0),
            create_index=item["CreateIndex"],
            modify_index=item["ModifyIndex"],
            lock_index=item.get("LockIndex", 0),
            session=item.get("Session"),
        )

    def json_value(self) -> Any:
        """The value decoded as JSON (``None`` for a key without a value)."""
        return None if self.value is None else json.loads(self.value)
