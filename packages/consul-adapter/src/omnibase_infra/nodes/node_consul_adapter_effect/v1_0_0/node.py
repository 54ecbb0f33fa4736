"""``NodeConsulAdapterEffect``: Consul service discovery, KV, sessions and blocking reads as
an ONEX EFFECT node on the effect platform (``omnibase_infra.effect``).

One public shape: ``await node.process(request)`` with any request of
``omnibase_infra.models.consul`` (or core's ``ModelEffectInput`` envelope), or the typed
method of that request (``await node.kv_read(ModelConsulKVReadRequest(key=...))``). Every
operation runs through the platform's runner: one deadline per operation (the contract's
``timeout_seconds``, or the request's when it sets one), retries of transient failures of
idempotent operations only (never a check-and-set, never a session creation), the agent's
breaker per attempt, a span ``consul.<operation>`` (a child of the caller's span),
metrics ``omnibase.consul.*`` and the operation record. Values and the token are never in
a span, a metric, a record or an error.

aiohttp and python-consul are imported when the node first talks to the agent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, overload

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry import metrics, trace
from pydantic import BaseModel

from omnibase_infra.effect import Attempt, InfraEffectNode, operation
from omnibase_infra.errors import InfraConflictError
from omnibase_infra.models.consul import (
    EnumConsulCheckStatus,
    KVValue,
    ModelConsulCatalogNodes,
    ModelConsulCatalogRequest,
    ModelConsulCatalogServices,
    ModelConsulCatalogWaitRequest,
    ModelConsulCatalogWaitResult,
    ModelConsulConfig,
    ModelConsulDeregisterRequest,
    ModelConsulDone,
    ModelConsulHealthWaitRequest,
    ModelConsulHealthWaitResult,
    ModelConsulHealthyInstances,
    ModelConsulHealthyInstancesRequest,
    ModelConsulKVDeleteRequest,
    ModelConsulKVEntry,
    ModelConsulKVLockRequest,
    ModelConsulKVLockResult,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
    ModelConsulKVResult,
    ModelConsulKVWaitRequest,
    ModelConsulKVWaitResult,
    ModelConsulRegisterRequest,
    ModelConsulServiceInstance,
    ModelConsulSession,
    ModelConsulSessionCreateRequest,
    ModelConsulSessionRequest,
    ModelConsulTTLUpdateRequest,
)
from omnibase_infra.models.model_infra_envelope import ModelInfraRequest
from omnibase_infra.models.trusted import construct_trusted
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.errors import (
    TRANSPORT,
    map_consul_error,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.settings import (
    ENV_NAME,
    config_from_env,
)
from omnibase_infra.observability import semconv
from omnibase_infra.observability.telemetry import OperationTelemetry
from omnibase_infra.resilience import ModelRetryPolicy

if TYPE_CHECKING:
    from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput

    from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import AioConsul

__all__ = ["BLOCKING_OPERATIONS", "CONTRACT_PACKAGE", "NodeConsulAdapterEffect", "encode_value"]

logger = logging.getLogger("omnibase_infra.nodes.node_consul_adapter_effect")

CONTRACT_PACKAGE: Final = "omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0"
BLOCKING_OPERATIONS: Final = frozenset({"kv_wait", "health_wait", "catalog_wait"})
"""Blocking reads: their policy's ``timeout_seconds`` is the margin beyond their wait."""
_KV_GET_FIELDS_SET: Final = ("operation", "key", "entry")


def encode_value(value: KVValue) -> bytes | None:
    """Bytes are stored as given, ``None`` as a key without a value, anything else as JSON."""
    if value is None or isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode()


def _services(services: Mapping[str, Any]) -> dict[str, list[str]]:
    return {name: list(tags or ()) for name, tags in services.items()}


class NodeConsulAdapterEffect(InfraEffectNode):
    """Consul EFFECT node (see the module docstring).

    ``config`` defaults to the environment (``OMNIBASE_INFRA_CONSUL_<FIELD>``). A
    ``config.timeout_seconds`` set explicitly is every operation's policy timeout (for a
    blocking read, the margin beyond its wait); ``retry_policy`` replaces every
    operation's retry policy. Both are
    shorthands for ``policy_overrides``, which win over them; the contract
    (``contracts/effect_contract.yaml``) gives the rest. ``policies``, ``breakers``,
    ``breaker_defaults`` and ``record_sink`` are the platform's (``InfraEffectNode``).
    """

    node_name = "node_consul_adapter_effect"
    env_name = ENV_NAME
    transport = TRANSPORT
    contract_package = CONTRACT_PACKAGE

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelConsulConfig | None = None,
        retry_policy: ModelRetryPolicy | None = None,
        policy_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        **platform: Any,
    ) -> None:
        self._config = config if config is not None else config_from_env()
        self._api: AioConsul | None = None
        target = self._config.target
        super().__init__(
            container,
            target=target,
            telemetry=OperationTelemetry.for_client(
                semconv.rpc_client("consul", target=target),
                scope=logger.name,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            ),
            logger=logger,
            map_error=map_consul_error,
            policy_overrides=self._overrides(retry_policy, policy_overrides),
            **platform,
        )

    def _overrides(
        self,
        retry_policy: ModelRetryPolicy | None,
        given: Mapping[str, Mapping[str, Any]] | None,
    ) -> dict[str, dict[str, Any]] | None:
        merged: dict[str, dict[str, Any]] = {}
        if "timeout_seconds" in self._config.model_fields_set:
            for name in self.operations:
                merged[name] = {"timeout_seconds": self._config.timeout_seconds}
        if retry_policy is not None:
            for name in self.operations:
                merged.setdefault(name, {})["retry"] = retry_policy.model_dump()
        for name, fields in (given or {}).items():
            merged.setdefault(name, {}).update(fields)
        return merged or None

    @property
    def config(self) -> ModelConsulConfig:
        """The agent this node talks to (the token stays a ``SecretStr``)."""
        return self._config

    @property
    def api(self) -> AioConsul:
        """python-consul's API on the node's aiohttp transport (created on first use)."""
        api = self._api
        if api is None:
            from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import (  # noqa: PLC0415 - import cost
                AioConsul,
            )

            api = self._api = AioConsul(self._config)
        return api

    async def _close_resources(self) -> None:
        if self._api is not None:
            await self._api.http.close()

    if TYPE_CHECKING:  # the response type of each request; at run time the base's process()

        @overload  # type: ignore[override]  # the base's two, narrowed per request type
        async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput: ...
        @overload
        async def process(self, input_data: ModelConsulRegisterRequest) -> ModelConsulDone: ...
        @overload
        async def process(self, input_data: ModelConsulDeregisterRequest) -> ModelConsulDone: ...
        @overload
        async def process(self, input_data: ModelConsulTTLUpdateRequest) -> ModelConsulDone: ...
        @overload
        async def process(
            self, input_data: ModelConsulHealthyInstancesRequest
        ) -> ModelConsulHealthyInstances: ...
        @overload
        async def process(
            self, input_data: ModelConsulCatalogRequest
        ) -> ModelConsulCatalogServices | ModelConsulCatalogNodes: ...
        @overload
        async def process(
            self, input_data: ModelConsulSessionCreateRequest
        ) -> ModelConsulSession: ...
        @overload
        async def process(self, input_data: ModelConsulSessionRequest) -> ModelConsulDone: ...
        @overload
        async def process(
            self, input_data: ModelConsulKVLockRequest
        ) -> ModelConsulKVLockResult: ...
        @overload
        async def process(
            self, input_data: ModelConsulKVWaitRequest
        ) -> ModelConsulKVWaitResult: ...
        @overload
        async def process(
            self, input_data: ModelConsulHealthWaitRequest
        ) -> ModelConsulHealthWaitResult: ...
        @overload
        async def process(
            self, input_data: ModelConsulCatalogWaitRequest
        ) -> ModelConsulCatalogWaitResult: ...
        @overload
        async def process(self, input_data: ModelConsulKVReadRequest) -> ModelConsulKVResult: ...
        @overload
        async def process(self, input_data: ModelConsulKVPutRequest) -> ModelConsulDone: ...
        @overload
        async def process(self, input_data: ModelConsulKVDeleteRequest) -> ModelConsulDone: ...
        @overload
        async def process(self, input_data: ModelInfraRequest) -> BaseModel: ...
        async def process(
            self, input_data: ModelEffectInput | ModelInfraRequest
        ) -> ModelEffectOutput | BaseModel:
            raise NotImplementedError

    # -- services ---------------------------------------------------------------------

    @operation(ModelConsulRegisterRequest)
    async def register_service(self, request: ModelConsulRegisterRequest) -> ModelConsulDone:
        """Register (or replace) a service instance and its checks with the agent."""
        body = request.registration.to_api()
        await self.run(request, lambda _: self.api.register_service(body))
        return ModelConsulDone(operation=request.operation)

    @operation(ModelConsulDeregisterRequest)
    async def deregister_service(self, request: ModelConsulDeregisterRequest) -> ModelConsulDone:
        """Remove a service instance. Consul 1.8 accepts an unknown id (later versions
        answer 404, raised as ``InfraNotFoundError``)."""
        await self.run(request, lambda _: self.api.agent.service.deregister(request.service_id))
        return ModelConsulDone(operation=request.operation)

    @operation(ModelConsulTTLUpdateRequest)
    async def update_ttl(self, request: ModelConsulTTLUpdateRequest) -> ModelConsulDone:
        """Set a TTL check to passing, warning or critical (and restart its TTL)."""
        check = self.api.agent.check
        update = {
            EnumConsulCheckStatus.PASSING: check.ttl_pass,
            EnumConsulCheckStatus.WARNING: check.ttl_warn,
            EnumConsulCheckStatus.CRITICAL: check.ttl_fail,
        }[request.status]
        await self.run(request, lambda _: update(request.check_id, request.note))
        return ModelConsulDone(operation=request.operation)

    @operation(ModelConsulHealthyInstancesRequest)
    async def healthy_instances(
        self, request: ModelConsulHealthyInstancesRequest
    ) -> ModelConsulHealthyInstances:
        """Instances of a service whose checks all pass (an unknown service has none)."""
        outcome = await self.run(
            request,
            lambda _: self.api.health.service(request.service, passing=True, tag=request.tag),
        )
        _, entries = outcome.value
        return ModelConsulHealthyInstances(
            service=request.service,
            instances=tuple(ModelConsulServiceInstance.from_health_entry(e) for e in entries),
        )

    @operation(ModelConsulCatalogRequest, "catalog_services", "catalog_nodes")
    async def catalog(
        self, request: ModelConsulCatalogRequest
    ) -> ModelConsulCatalogServices | ModelConsulCatalogNodes:
        """Every service with the union of its tags, or every node with its address."""
        if request.operation == "catalog_nodes":
            nodes = (await self.run(request, lambda _: self.api.catalog.nodes())).value[1]
            return ModelConsulCatalogNodes(nodes={n["Node"]: n["Address"] for n in nodes})
        services = (await self.run(request, lambda _: self.api.catalog.services())).value[1]
        return ModelConsulCatalogServices(services=_services(services))

    # -- sessions and locks -------------------------------------------------------------

    @operation(ModelConsulSessionCreateRequest)
    async def session_create(self, request: ModelConsulSessionCreateRequest) -> ModelConsulSession:
        """Create a session (tied to the agent's node health). ``lock_delay_seconds=0`` lets
        another session take a released lock at once. The contract never retries it: a lost
        answer would leak a session."""
        body: dict[str, Any] = {
            "LockDelay": f"{request.lock_delay_seconds:g}s",
            "Behavior": request.behavior.value,
        }
        if request.name is not None:
            body["Name"] = request.name
        if request.ttl_seconds is not None:
            body["TTL"] = f"{request.ttl_seconds:g}s"
        outcome = await self.run(request, lambda _: self.api.create_session(body))
        return ModelConsulSession(session_id=outcome.value)

    @operation(ModelConsulSessionRequest, "session_renew", "session_destroy")
    async def session(self, request: ModelConsulSessionRequest) -> ModelConsulDone:
        """Renew a session's TTL (``InfraNotFoundError`` when it is gone), or destroy it
        (its locks are released, or their keys deleted)."""
        sessions = self.api.session
        call = sessions.destroy if request.operation == "session_destroy" else sessions.renew
        await self.run(request, lambda _: call(request.session_id))
        return ModelConsulDone(operation=request.operation)

    @operation(ModelConsulKVLockRequest, "kv_acquire", "kv_release")
    async def kv_lock(self, request: ModelConsulKVLockRequest) -> ModelConsulKVLockResult:
        """Take the lock on a key for a session (``succeeded=False``: another holds it), or
        release it (``succeeded=False``: the session did not hold it)."""
        kv, key, session_id = self.api.kv, request.key, request.session_id
        if request.operation == "kv_release":
            outcome = await self.run(request, lambda _: kv.put(key, None, release=session_id))
        else:
            data = encode_value(request.value)
            outcome = await self.run(request, lambda _: kv.put(key, data, acquire=session_id))
        return ModelConsulKVLockResult(
            operation=request.operation, key=key, succeeded=bool(outcome.value)
        )

    # -- blocking reads ---------------------------------------------------------------

    def _blocking[R: ModelInfraRequest](self, request: R, wait_seconds: float) -> R:
        """The request with its deadline, unless the caller set one: the wait, plus Consul's
        jitter (up to a sixteenth of it), plus the operation's policy timeout."""
        if "timeout_seconds" in request.model_fields_set:
            return request
        margin = self.policy(request.operation).timeout_seconds
        return request.model_copy(update={"timeout_seconds": wait_seconds * 17 / 16 + margin})

    @staticmethod
    def _wait(seconds: float) -> str:
        return f"{max(1, round(seconds))}s"

    @operation(ModelConsulKVWaitRequest)
    async def kv_wait(self, request: ModelConsulKVWaitRequest) -> ModelConsulKVWaitResult:
        """Returns when the key changes after ``index`` or ``wait_seconds`` pass, with the
        new index (``entry=None``: no such key)."""
        api, key, index, wait = (
            self.api,
            request.key,
            request.index,
            self._wait(request.wait_seconds),
        )
        outcome = await self.run(
            self._blocking(request, request.wait_seconds),
            lambda _: api.read_kv(key, index=index, wait=wait),
        )
        new_index, items = outcome.value
        return ModelConsulKVWaitResult(
            index=new_index, entry=ModelConsulKVEntry.from_api(items[0]) if items else None
        )

    @operation(ModelConsulHealthWaitRequest)
    async def health_wait(
        self, request: ModelConsulHealthWaitRequest
    ) -> ModelConsulHealthWaitResult:
        """Returns when the service's passing instances change after ``index`` or
        ``wait_seconds`` pass."""
        health, wait = self.api.health, self._wait(request.wait_seconds)
        outcome = await self.run(
            self._blocking(request, request.wait_seconds),
            lambda _: health.service(
                request.service, index=request.index, wait=wait, passing=True, tag=request.tag
            ),
        )
        new_index, entries = outcome.value
        return ModelConsulHealthWaitResult(
            index=int(new_index),
            service=request.service,
            instances=tuple(ModelConsulServiceInstance.from_health_entry(e) for e in entries),
        )

    @operation(ModelConsulCatalogWaitRequest)
    async def catalog_wait(
        self, request: ModelConsulCatalogWaitRequest
    ) -> ModelConsulCatalogWaitResult:
        """Returns when a service is added or removed or its tags change after ``index``,
        or ``wait_seconds`` pass."""
        catalog, wait = self.api.catalog, self._wait(request.wait_seconds)
        outcome = await self.run(
            self._blocking(request, request.wait_seconds),
            lambda _: catalog.services(index=request.index, wait=wait),
        )
        new_index, services = outcome.value
        return ModelConsulCatalogWaitResult(index=int(new_index), services=_services(services))

    # -- KV ---------------------------------------------------------------------------

    @operation(ModelConsulKVReadRequest, "kv_get", "kv_get_tree", "kv_keys")
    async def kv_read(self, request: ModelConsulKVReadRequest) -> ModelConsulKVResult:
        """``kv_get``: one key (``entry=None`` when it does not exist); ``kv_get_tree``:
        every key under a prefix with its value, sorted; ``kv_keys``: their names (up to
        ``separator`` when given)."""
        api, key, op = self.api, request.key, request.operation
        if op == "kv_get":  # the hot path
            items = (await self.run(request, lambda _: api.read_kv(key))).value[1]
            # Built without validation: a validated key, the entry from_api checked.
            return construct_trusted(
                ModelConsulKVResult,
                {
                    "operation": op,
                    "key": key,
                    "entry": ModelConsulKVEntry.from_api(items[0]) if items else None,
                    "entries": (),
                    "keys": (),
                },
                _KV_GET_FIELDS_SET,
            )
        if op == "kv_keys":
            sep = request.separator
            outcome = await self.run(request, lambda _: api.read_kv(key, keys=True, separator=sep))
            return ModelConsulKVResult(operation=op, key=key, keys=tuple(outcome.value[1] or ()))
        items = (await self.run(request, lambda _: api.read_kv(key, recurse=True))).value[1]
        return ModelConsulKVResult(
            operation=op,
            key=key,
            entries=tuple(ModelConsulKVEntry.from_api(item) for item in items or ()),
        )

    @operation(ModelConsulKVPutRequest)
    async def kv_put(self, request: ModelConsulKVPutRequest) -> ModelConsulDone:
        """Write a key. With ``cas`` only if its ``modify_index`` is ``cas`` (``0``: only if
        it does not exist), otherwise ``InfraConflictError``; a check-and-set is never
        retried."""
        kv, key, cas, flags = self.api.kv, request.key, request.cas, request.flags
        data = encode_value(request.value)

        async def put(attempt: Attempt) -> None:
            if not await kv.put(key, data, cas=cas, flags=flags):
                raise _conflict(key, cas, attempt)

        await self.run(request, put, idempotent=False if cas is not None else None)
        return ModelConsulDone(operation=request.operation)

    @operation(ModelConsulKVDeleteRequest)
    async def kv_delete(self, request: ModelConsulKVDeleteRequest) -> ModelConsulDone:
        """Delete a key (or every key under it with ``recurse``). With ``cas`` only if its
        ``modify_index`` is ``cas``, otherwise ``InfraConflictError``; never retried then."""
        kv, key, cas = self.api.kv, request.key, request.cas
        recurse = request.recurse or None

        async def delete(attempt: Attempt) -> None:
            if not await kv.delete(key, recurse=recurse, cas=cas):
                raise _conflict(key, cas, attempt)

        await self.run(request, delete, idempotent=False if cas is not None else None)
        return ModelConsulDone(operation=request.operation)


def _conflict(key: str, cas: int | None, attempt: Attempt) -> InfraConflictError:
    return InfraConflictError(
        f"check-and-set on {key!r} failed: the key changed since index {cas}",
        transport=TRANSPORT,
        operation=attempt.operation,
        target=attempt.target,
        correlation_id=attempt.correlation_id,
        index=cas,
    )
