"""``NodeConsulAdapterEffect``: Consul service discovery and KV as an ONEX EFFECT node.

The node owns a :class:`ConsulClient` (one agent, one breaker, an aiohttp transport for
python-consul) and exposes it as :attr:`client`. ``process(request)`` runs any request of
``omnibase_infra.models.consul`` and returns its typed response; core's
``ModelEffectInput`` (``API_CALL``, the request as ``operation_data``) is accepted too.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, Final, overload

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput, NodeEffect
from opentelemetry import metrics, trace
from pydantic import BaseModel, SecretStr

from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraValidationError,
)
from omnibase_infra.models.consul import (
    ConsulRequest,
    ModelConsulCatalogNodes,
    ModelConsulCatalogRequest,
    ModelConsulCatalogServices,
    ModelConsulConfig,
    ModelConsulDeregisterRequest,
    ModelConsulDone,
    ModelConsulHealthyInstances,
    ModelConsulHealthyInstancesRequest,
    ModelConsulKVDeleteRequest,
    ModelConsulKVPutRequest,
    ModelConsulKVReadRequest,
    ModelConsulKVResult,
    ModelConsulRegisterRequest,
    ModelConsulSession,
    ModelConsulSessionCreateRequest,
    ModelConsulSessionRequest,
    ModelConsulTTLUpdateRequest,
    parse_consul_request,
)
from omnibase_infra.models.effect_input import process_effect_input
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.client import (
    ConsulClient,
    request_correlation,
)
from omnibase_infra.nodes.node_consul_adapter_effect.v1_0_0.transport import TRANSPORT
from omnibase_infra.observability.telemetry import RecordSink
from omnibase_infra.resilience import ModelRetryPolicy
from omnibase_infra.resilience.breaker import BreakerRegistry

__all__ = ["ADDR_ENV", "TOKEN_ENV", "NodeConsulAdapterEffect", "config_from_env"]

ADDR_ENV: Final = "OMNIBASE_INFRA_CONSUL_ADDR"
TOKEN_ENV: Final = "OMNIBASE_INFRA_CONSUL_TOKEN"  # noqa: S105 (a variable name)


def config_from_env(environ: dict[str, str] | None = None) -> ModelConsulConfig:
    """``OMNIBASE_INFRA_CONSUL_ADDR`` (``[http[s]://]host:port``, default
    ``http://127.0.0.1:8500``) and ``OMNIBASE_INFRA_CONSUL_TOKEN``."""
    env = os.environ if environ is None else environ
    addr = env.get(ADDR_ENV, "").strip() or "http://127.0.0.1:8500"
    scheme, _, rest = addr.rpartition("://")
    host, _, port = rest.rpartition(":")
    token = env.get(TOKEN_ENV, "").strip()
    try:
        return ModelConsulConfig(
            scheme=scheme or "http",
            host=host,
            port=int(port),
            token=SecretStr(token) if token else None,
        )
    except ValueError as exc:
        raise InfraConfigurationError(
            f"{ADDR_ENV} must be [http[s]://]host:port",
            transport=TRANSPORT,
            operation="configure",
        ) from exc


class NodeConsulAdapterEffect(NodeEffect):
    """Consul EFFECT node; ``config`` defaults to :func:`config_from_env`."""

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelConsulConfig | None = None,
        retry_policy: ModelRetryPolicy | None = None,
        breakers: BreakerRegistry | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_sink: RecordSink | None = None,
    ) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())
        self.client = ConsulClient(
            config if config is not None else config_from_env(),
            retry_policy=retry_policy,
            breakers=breakers,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            record_sink=record_sink,
        )

    async def close(self) -> None:
        """Close the node's HTTP connections."""
        await self.client.close()

    # -- one entry point for every request -------------------------------------------

    async def _register(self, request: ModelConsulRegisterRequest) -> ModelConsulDone:
        await self.client.register_service(request.registration, **_call(request))
        return ModelConsulDone(operation=request.operation)

    async def _deregister(self, request: ModelConsulDeregisterRequest) -> ModelConsulDone:
        await self.client.deregister_service(request.service_id, **_call(request))
        return ModelConsulDone(operation=request.operation)

    async def _update_ttl(self, request: ModelConsulTTLUpdateRequest) -> ModelConsulDone:
        await self.client.update_ttl(
            request.check_id, request.status, note=request.note, **_call(request)
        )
        return ModelConsulDone(operation=request.operation)

    async def _healthy(
        self, request: ModelConsulHealthyInstancesRequest
    ) -> ModelConsulHealthyInstances:
        instances = await self.client.healthy_instances(
            request.service, tag=request.tag, **_call(request)
        )
        return ModelConsulHealthyInstances(service=request.service, instances=tuple(instances))

    async def _catalog(
        self, request: ModelConsulCatalogRequest
    ) -> ModelConsulCatalogServices | ModelConsulCatalogNodes:
        if request.operation == "catalog_nodes":
            return ModelConsulCatalogNodes(nodes=await self.client.catalog_nodes(**_call(request)))
        return ModelConsulCatalogServices(
            services=await self.client.catalog_services(**_call(request))
        )

    async def _kv_read(self, request: ModelConsulKVReadRequest) -> ModelConsulKVResult:
        key, op = request.key, request.operation
        if op == "kv_get_tree":
            entries = await self.client.kv_get_tree(key, **_call(request))
            return ModelConsulKVResult(operation=op, key=key, entries=tuple(entries))
        if op == "kv_keys":
            keys = await self.client.kv_keys(key, separator=request.separator, **_call(request))
            return ModelConsulKVResult(operation=op, key=key, keys=tuple(keys))
        entry = await self.client.kv_get(key, **_call(request))
        return ModelConsulKVResult(operation=op, key=key, entry=entry)

    async def _kv_put(self, request: ModelConsulKVPutRequest) -> ModelConsulDone:
        await self.client.kv_put(
            request.key, request.value, cas=request.cas, flags=request.flags, **_call(request)
        )
        return ModelConsulDone(operation=request.operation)

    async def _kv_delete(self, request: ModelConsulKVDeleteRequest) -> ModelConsulDone:
        await self.client.kv_delete(
            request.key, recurse=request.recurse, cas=request.cas, **_call(request)
        )
        return ModelConsulDone(operation=request.operation)

    async def _session_create(self, request: ModelConsulSessionCreateRequest) -> ModelConsulSession:
        session_id = await self.client.session_create(
            name=request.name,
            ttl_seconds=request.ttl_seconds,
            lock_delay_seconds=request.lock_delay_seconds,
            behavior=request.behavior,
            **_call(request),
        )
        return ModelConsulSession(session_id=session_id)

    async def _session(self, request: ModelConsulSessionRequest) -> ModelConsulDone:
        if request.operation == "session_destroy":
            await self.client.session_destroy(request.session_id, **_call(request))
        else:
            await self.client.session_renew(request.session_id, **_call(request))
        return ModelConsulDone(operation=request.operation)

    @overload
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
    async def process(self, input_data: ModelConsulKVReadRequest) -> ModelConsulKVResult: ...
    @overload
    async def process(self, input_data: ModelConsulKVPutRequest) -> ModelConsulDone: ...
    @overload
    async def process(self, input_data: ModelConsulKVDeleteRequest) -> ModelConsulDone: ...
    @overload
    async def process(self, input_data: ModelConsulSessionCreateRequest) -> ModelConsulSession: ...
    @overload
    async def process(self, input_data: ModelConsulSessionRequest) -> ModelConsulDone: ...
    @overload
    async def process(self, input_data: ConsulRequest) -> BaseModel: ...
    async def process(self, input_data: ModelEffectInput | ConsulRequest) -> BaseModel:
        """Run a typed request, or core's envelope (``API_CALL``, the request as
        ``operation_data``; the result is the response as JSON, KV values in base64)."""
        if isinstance(input_data, ModelEffectInput):
            return await self._process_effect_input(input_data)
        handlers: dict[type[BaseModel], Callable[[Any], Awaitable[BaseModel]]] = {
            ModelConsulRegisterRequest: self._register,
            ModelConsulDeregisterRequest: self._deregister,
            ModelConsulTTLUpdateRequest: self._update_ttl,
            ModelConsulHealthyInstancesRequest: self._healthy,
            ModelConsulCatalogRequest: self._catalog,
            ModelConsulKVReadRequest: self._kv_read,
            ModelConsulKVPutRequest: self._kv_put,
            ModelConsulKVDeleteRequest: self._kv_delete,
            ModelConsulSessionCreateRequest: self._session_create,
            ModelConsulSessionRequest: self._session,
        }
        handler = handlers.get(type(input_data))
        if handler is None:
            raise InfraValidationError(
                f"unsupported request type {type(input_data).__name__}",
                transport=TRANSPORT,
                operation="process",
                target=self.client.config.target,
            )
        token = request_correlation.set(input_data.correlation)  # spans join its trace
        try:
            return await handler(input_data)
        finally:
            request_correlation.reset(token)

    async def _process_effect_input(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        return await process_effect_input(
            input_data,
            parse=parse_consul_request,
            process=self.process,
            transport=TRANSPORT,
            target=self.client.config.target,
        )


def _call(request: ConsulRequest) -> dict[str, Any]:
    return {
        "correlation_id": request.correlation_id,
        "timeout_seconds": request.timeout_seconds,
    }
