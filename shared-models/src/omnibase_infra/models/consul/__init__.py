"""Typed configuration, requests and results of the Consul node (``node_consul_adapter_effect``).

Only what Consul 1.8 offers is modelled. The ACL token is a ``SecretStr``; ``target`` never
contains it.
"""

from __future__ import annotations

import functools
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.trusted import construct_trusted

__all__ = [
    "ConsulRequest",
    "EnumConsulCheckKind",
    "EnumConsulCheckStatus",
    "EnumConsulSessionBehavior",
    "KVValue",
    "ModelConsulCatalogNodes",
    "ModelConsulCatalogRequest",
    "ModelConsulCatalogServices",
    "ModelConsulCatalogWaitRequest",
    "ModelConsulCatalogWaitResult",
    "ModelConsulCheck",
    "ModelConsulConfig",
    "ModelConsulDeregisterRequest",
    "ModelConsulDone",
    "ModelConsulHealthWaitRequest",
    "ModelConsulHealthWaitResult",
    "ModelConsulHealthyInstances",
    "ModelConsulHealthyInstancesRequest",
    "ModelConsulKVDeleteRequest",
    "ModelConsulKVEntry",
    "ModelConsulKVLockRequest",
    "ModelConsulKVLockResult",
    "ModelConsulKVPutRequest",
    "ModelConsulKVReadRequest",
    "ModelConsulKVResult",
    "ModelConsulKVWaitRequest",
    "ModelConsulKVWaitResult",
    "ModelConsulRegisterRequest",
    "ModelConsulServiceInstance",
    "ModelConsulServiceRegistration",
    "ModelConsulSession",
    "ModelConsulSessionCreateRequest",
    "ModelConsulSessionRequest",
    "ModelConsulTTLUpdateRequest",
    "parse_consul_request",
    "validate_consul_key",
]

type KVValue = bytes | str | dict[str, Any] | list[Any] | int | float | bool | None
"""A KV value: bytes are stored as given, ``None`` as a key without a value, the rest as JSON."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The common case, checked in one match: word characters and '-' only, no dot at all.
_PLAIN_KEY = re.compile(r"[\w\-]+(?:/[\w\-]+)*/?", re.ASCII)


def validate_consul_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is a safe KV key, else raise ``ValueError``.

    An HTTP client would collapse ``a/../b``, ``a/./b`` and ``a//b`` (and a leading ``/``)
    into another key than the one named, so these are refused: no leading ``/``, no empty,
    ``.`` or ``..`` segment, no control character. A trailing ``/`` is allowed (Consul's
    folder keys). With ``prefix`` (recursive reads, key listings), ``""`` means every key.
    """
    if len(key) <= 512 and _PLAIN_KEY.fullmatch(key):
        return key
    if not key:
        if prefix:
            return key
        raise ValueError("key is empty")
    if len(key) > 512:
        raise ValueError("key is longer than 512 characters")
    if key.startswith("/"):
        raise ValueError("key starts with '/'")
    if _CONTROL.search(key):
        raise ValueError("key contains a control character")
    body = key[:-1] if key.endswith("/") else key
    for segment in body.split("/"):
        if segment == "":
            raise ValueError("key has an empty segment ('//')")
        if segment in {".", ".."}:
            raise ValueError(f"key has a {segment!r} segment")
    return key


_FROZEN = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True, defer_build=True)


class ModelConsulConfig(BaseModel):
    """How to reach one Consul agent over HTTP."""

    model_config = _FROZEN

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=8500, ge=1, le=65535)
    scheme: str = Field(default="http", pattern=r"^https?$")
    token: SecretStr | None = None
    datacenter: str | None = Field(default=None, min_length=1)
    verify_tls: bool = True
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="When set explicitly, every operation's policy timeout (instead of the "
        "contract's); for a blocking read, the margin beyond its wait",
    )
    compress_responses: bool = Field(
        default=False,
        description="Ask the agent to gzip its answers (it does when asked, whatever their "
        "size): worth it over a slow link to a remote agent; to the local agent Consul's "
        "architecture puts on every machine it only costs CPU on both ends",
    )

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
    """A key with its value (raw bytes; base64 in JSON) and the indexes needed for
    check-and-set."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        ser_json_bytes="base64",
        val_json_bytes="base64",
        defer_build=True,
    )

    key: str
    value: bytes | None
    flags: int = 0
    create_index: int
    modify_index: int
    lock_index: int = 0
    session: str | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Self:
        """From an entry of ``/v1/kv/<key>`` whose ``Value`` was already base64-decoded.

        The KV read hot path: an entry whose values have exactly the fields' types (what
        Consul sends) is built without pydantic's validation, anything else is validated."""
        key, value, session = item["Key"], item.get("Value"), item.get("Session")
        flags, lock_index = item.get("Flags", 0), item.get("LockIndex", 0)
        create_index, modify_index = item["CreateIndex"], item["ModifyIndex"]
        if (
            type(key) is str
            and (value is None or type(value) is bytes)
            and type(flags) is int
            and type(create_index) is int
            and type(modify_index) is int
            and type(lock_index) is int
            and (session is None or type(session) is str)
        ):
            return construct_trusted(
                cls,
                {
                    "key": key,
                    "value": value,
                    "flags": flags,
                    "create_index": create_index,
                    "modify_index": modify_index,
                    "lock_index": lock_index,
                    "session": session,
                },
            )
        return cls(
            key=key,
            value=value,
            flags=flags,
            create_index=create_index,
            modify_index=modify_index,
            lock_index=lock_index,
            session=session,
        )

    def json_value(self) -> Any:
        """The value decoded as JSON (``None`` for a key without a value)."""
        return None if self.value is None else json.loads(self.value)


# -- typed requests of ``process()`` -------------------------------------------------------


class _Request(ModelInfraRequest):
    timeout_seconds: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)


class ModelConsulRegisterRequest(_Request):
    """Register (or replace) a service instance and its checks."""

    operation: Literal["register_service"] = "register_service"
    registration: ModelConsulServiceRegistration


class ModelConsulDeregisterRequest(_Request):
    """Remove a service instance."""

    operation: Literal["deregister_service"] = "deregister_service"
    service_id: str = Field(min_length=1)


class ModelConsulTTLUpdateRequest(_Request):
    """Set a TTL check to passing, warning or critical."""

    operation: Literal["update_ttl"] = "update_ttl"
    check_id: str = Field(min_length=1)
    status: EnumConsulCheckStatus
    note: str | None = None


class ModelConsulHealthyInstancesRequest(_Request):
    """Instances of a service whose checks all pass (optionally with ``tag``)."""

    operation: Literal["healthy_instances"] = "healthy_instances"
    service: str = Field(min_length=1)
    tag: str | None = None


class ModelConsulCatalogRequest(_Request):
    """Every service (with its tags) or every node (with its address) of the datacenter."""

    operation: Literal["catalog_services", "catalog_nodes"] = "catalog_services"


class ModelConsulKVReadRequest(_Request):
    """``kv_get`` one key, ``kv_get_tree`` every key under a prefix, or ``kv_keys`` their
    names (up to ``separator``)."""

    operation: Literal["kv_get", "kv_get_tree", "kv_keys"] = "kv_get"
    key: str
    separator: str | None = None

    @model_validator(mode="after")
    def _key(self) -> Self:
        validate_consul_key(self.key, prefix=self.operation != "kv_get")
        return self


class ModelConsulKVPutRequest(_Request):
    """Write a key; with ``cas`` only if its ``modify_index`` is ``cas`` (0: create only)."""

    operation: Literal["kv_put"] = "kv_put"
    key: str
    value: KVValue = None
    cas: int | None = Field(default=None, ge=0)
    flags: int | None = Field(default=None, ge=0)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return validate_consul_key(value)


class ModelConsulKVDeleteRequest(_Request):
    """Delete a key (or every key under it with ``recurse``); with ``cas`` only if its
    ``modify_index`` is ``cas``."""

    operation: Literal["kv_delete"] = "kv_delete"
    key: str
    recurse: bool = False
    cas: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _key(self) -> Self:
        validate_consul_key(self.key, prefix=self.recurse)
        return self


class ModelConsulSessionCreateRequest(_Request):
    """Create a session (Consul accepts a TTL from 10 s to 24 h)."""

    operation: Literal["session_create"] = "session_create"
    name: str | None = None
    ttl_seconds: float | None = Field(default=None, ge=10, le=86400)
    lock_delay_seconds: float = Field(default=15, ge=0)
    behavior: EnumConsulSessionBehavior = EnumConsulSessionBehavior.RELEASE


class ModelConsulSessionRequest(_Request):
    """Renew or destroy a session."""

    operation: Literal["session_renew", "session_destroy"] = "session_renew"
    session_id: str = Field(min_length=1)


class ModelConsulKVLockRequest(_Request):
    """``kv_acquire``: take the lock on ``key`` for ``session_id`` (writing ``value``);
    ``kv_release``: give it up (the value stays)."""

    operation: Literal["kv_acquire", "kv_release"] = "kv_acquire"
    key: str
    session_id: str = Field(min_length=1)
    value: KVValue = None

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return validate_consul_key(value)


class _BlockingRequest(_Request):
    """A blocking query: it returns when what it reads changes after ``index`` or when
    ``wait_seconds`` pass (Consul caps the wait at 10 minutes). Without an explicit
    ``timeout_seconds`` its deadline is ``wait + wait/16`` (Consul's jitter) plus the
    operation's policy timeout."""

    index: int = Field(default=0, ge=0)
    wait_seconds: float = Field(default=30.0, gt=0, le=600, allow_inf_nan=False)


class ModelConsulKVWaitRequest(_BlockingRequest):
    """A blocking read of one key."""

    operation: Literal["kv_wait"] = "kv_wait"
    key: str

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return validate_consul_key(value)


class ModelConsulHealthWaitRequest(_BlockingRequest):
    """A blocking read of a service's passing instances (optionally with ``tag``)."""

    operation: Literal["health_wait"] = "health_wait"
    service: str = Field(min_length=1)
    tag: str | None = None


class ModelConsulCatalogWaitRequest(_BlockingRequest):
    """A blocking read of the catalog's services."""

    operation: Literal["catalog_wait"] = "catalog_wait"


type ConsulRequest = (
    ModelConsulRegisterRequest
    | ModelConsulDeregisterRequest
    | ModelConsulTTLUpdateRequest
    | ModelConsulHealthyInstancesRequest
    | ModelConsulCatalogRequest
    | ModelConsulKVReadRequest
    | ModelConsulKVPutRequest
    | ModelConsulKVDeleteRequest
    | ModelConsulSessionCreateRequest
    | ModelConsulSessionRequest
    | ModelConsulKVLockRequest
    | ModelConsulKVWaitRequest
    | ModelConsulHealthWaitRequest
    | ModelConsulCatalogWaitRequest
)


# -- responses -------------------------------------------------------------------------


class ModelConsulDone(BaseModel):
    """An operation that returns nothing succeeded."""

    model_config = _FROZEN

    operation: str


class ModelConsulHealthyInstances(BaseModel):
    """The passing instances of a service."""

    model_config = _FROZEN

    service: str
    instances: tuple[ModelConsulServiceInstance, ...] = ()


class ModelConsulCatalogServices(BaseModel):
    """Service names with the union of their tags."""

    model_config = _FROZEN

    services: dict[str, list[str]] = Field(default_factory=dict)


class ModelConsulCatalogNodes(BaseModel):
    """Node names with their addresses."""

    model_config = _FROZEN

    nodes: dict[str, str] = Field(default_factory=dict)


class ModelConsulKVResult(BaseModel):
    """What a KV read found: ``entry`` (``kv_get``; ``None`` when there is no such key),
    ``entries`` (``kv_get_tree``) or ``keys`` (``kv_keys``)."""

    model_config = _FROZEN

    operation: Literal["kv_get", "kv_get_tree", "kv_keys"]
    key: str
    entry: ModelConsulKVEntry | None = None
    entries: tuple[ModelConsulKVEntry, ...] = ()
    keys: tuple[str, ...] = ()


class ModelConsulSession(BaseModel):
    """A created session."""

    model_config = _FROZEN

    session_id: str


class ModelConsulKVLockResult(BaseModel):
    """Whether ``kv_acquire`` took the lock (``False``: another session holds it) or
    ``kv_release`` gave it up (``False``: the session did not hold it)."""

    model_config = _FROZEN

    operation: Literal["kv_acquire", "kv_release"]
    key: str
    succeeded: bool


class ModelConsulKVWaitResult(BaseModel):
    """A blocking read of a key: the new index and the entry (``None``: no such key)."""

    model_config = _FROZEN

    index: int
    entry: ModelConsulKVEntry | None = None


class ModelConsulHealthWaitResult(BaseModel):
    """A blocking read of a service's health: the new index and its passing instances."""

    model_config = _FROZEN

    index: int
    service: str
    instances: tuple[ModelConsulServiceInstance, ...] = ()


class ModelConsulCatalogWaitResult(BaseModel):
    """A blocking read of the catalog: the new index and the services with their tags."""

    model_config = _FROZEN

    index: int
    services: dict[str, list[str]] = Field(default_factory=dict)


@functools.cache
def _request_adapter() -> TypeAdapter[ConsulRequest]:
    # Built on first use: its schema costs import time that the node never needs.
    return TypeAdapter(
        Annotated[
            ModelConsulRegisterRequest
            | ModelConsulDeregisterRequest
            | ModelConsulTTLUpdateRequest
            | ModelConsulHealthyInstancesRequest
            | ModelConsulCatalogRequest
            | ModelConsulKVReadRequest
            | ModelConsulKVPutRequest
            | ModelConsulKVDeleteRequest
            | ModelConsulSessionCreateRequest
            | ModelConsulSessionRequest
            | ModelConsulKVLockRequest
            | ModelConsulKVWaitRequest
            | ModelConsulHealthWaitRequest
            | ModelConsulCatalogWaitRequest,
            Field(discriminator="operation"),
        ]
    )


def parse_consul_request(data: object) -> ConsulRequest:
    """The typed request for a dict whose ``operation`` names it (pydantic errors otherwise)."""
    return _request_adapter().validate_python(data)
