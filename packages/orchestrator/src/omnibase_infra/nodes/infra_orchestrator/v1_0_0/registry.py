"""Find node classes (entry points), build node instances, resolve and call operations.

A node's operation is found, in order, as:

0. an entry of the node class's ``operations`` table (every node built on
   :class:`omnibase_infra.effect.InfraEffectNode`): one lookup by name gives the request
   model and the method; the request is built as in 1., its ``operation`` set to the name.

Nodes not built on that base (custom ``--node`` classes, test doubles) are resolved as:

1. a method ``<operation>(request: SomeRequestModel)``: the request model is built from the
   bound inputs (``model_validate``), with the step's correlation context, timeout and
   metadata (idempotency key, traceparent) filled where the model has such fields;
2. a method ``<operation>(**kwargs)`` taking plain arguments: the inputs are passed as
   keyword arguments (validated against the annotations), plus ``correlation_id``,
   ``timeout_seconds`` and ``idempotency_key`` where the signature has them;
3. a typed ``process`` overload whose request model's ``operation`` is ``<operation>``
   (``typing.get_overloads``);
4. the same on the node's ``client`` attribute (an annotated class attribute, or at run
   time the instance's attribute).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraValidationError,
    summarize_validation_error,
)
from omnibase_infra.models import ModelCorrelationContext
from omnibase_infra.observability import inject
from omnibase_infra.observability.propagation import CAUSATION_ID, CORRELATION_ID, TRACEPARENT

__all__ = [
    "ENTRY_POINT_GROUP",
    "IDEMPOTENCY_KEY",
    "CallContext",
    "NodeFactory",
    "NodeRegistry",
    "OperationSpec",
    "package_for_node",
]

ENTRY_POINT_GROUP: Final = "omnibase_infra.nodes"
IDEMPOTENCY_KEY: Final = "idempotency-key"
"""The metadata key carrying a step's idempotency key (``<run_id>:<step_id>``)."""

type NodeFactory = Callable[[], object | Awaitable[object]]
"""Builds a node instance (sync or async)."""

_OPERATION: Final = "resolve_node"


def package_for_node(node: str) -> str:
    """The distribution that ships ``node`` under the naming rule
    (``node_postgres_adapter_effect`` -> ``omnibase-infra-postgres-adapter``)."""
    core = node.removeprefix("node_").removeprefix("infra_")
    for suffix in ("_effect", "_compute"):
        core = core.removesuffix(suffix)
    return "omnibase-infra-" + core.replace("_", "-")


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the runtime passes with every node call."""

    correlation: ModelCorrelationContext
    idempotency_key: str
    timeout_seconds: float

    @property
    def metadata(self) -> dict[str, str]:
        """Propagation metadata: correlation id, traceparent and the idempotency key."""
        return {**propagation_headers(self.correlation), IDEMPOTENCY_KEY: self.idempotency_key}


def propagation_headers(correlation: ModelCorrelationContext) -> dict[str, str]:
    """What :func:`omnibase_infra.observability.inject` writes for ``correlation`` (no
    metadata, no baggage). A step's context has a trace and no ``tracestate`` unless the
    caller gave one: that case is written here directly (the same headers, in the same
    order, as OpenTelemetry's W3C propagator writes them: ``00-<trace>-<span>-<flags>``),
    without building OpenTelemetry contexts per call; any other goes through ``inject``."""
    traceparent = correlation.traceparent
    if traceparent is None or correlation.tracestate:
        return inject(correlation)
    headers = {CORRELATION_ID: str(correlation.correlation_id)}
    if correlation.causation_id is not None:
        headers[CAUSATION_ID] = str(correlation.causation_id)
    headers[TRACEPARENT] = traceparent
    return headers


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """How to call one operation of one node class."""

    node: str
    operation: str
    kind: Literal["table", "request", "kwargs", "process"]
    attribute: str
    """The method's name on the target (``operation`` or ``process``)."""
    via_client: bool
    request_model: type[BaseModel] | None = None
    kwargs_model: type[BaseModel] | None = None
    context_params: frozenset[str] = frozenset()

    async def call(self, instance: object, inputs: Mapping[str, Any], context: CallContext) -> Any:
        """Build the arguments from ``inputs`` and ``context`` and await the call."""
        target = getattr(instance, "client") if self.via_client else instance  # noqa: B009
        method = getattr(target, self.attribute)
        where = f"{self.node}.{self.operation}"
        if self.request_model is not None:
            request = self._request(self.request_model, inputs, context, where)
            return await method(request)
        assert self.kwargs_model is not None  # noqa: S101 - set for kind "kwargs"
        args = _validate(self.kwargs_model, dict(inputs), where)
        kwargs = {name: getattr(args, name) for name in type(args).model_fields}
        extra = {
            "correlation_id": context.correlation.correlation_id,
            "timeout_seconds": context.timeout_seconds,
            "idempotency_key": context.idempotency_key,
            "correlation": context.correlation,
        }
        kwargs.update({k: v for k, v in extra.items() if k in self.context_params})
        return await method(**kwargs)

    def _request(
        self,
        model: type[BaseModel],
        inputs: Mapping[str, Any],
        context: CallContext,
        where: str,
    ) -> BaseModel:
        data = dict(inputs)
        fields = model.model_fields
        if "correlation" in fields:
            data.setdefault("correlation", context.correlation)
        if "correlation_id" in fields:
            data.setdefault("correlation_id", context.correlation.correlation_id)
        if "idempotency_key" in fields:
            data.setdefault("idempotency_key", context.idempotency_key)
        if "timeout_seconds" in fields:
            data.setdefault("timeout_seconds", context.timeout_seconds)
        if "metadata" in fields:
            given = data.get("metadata") or {}
            data["metadata"] = {**dict(given), **context.metadata}
        if self.kind in ("table", "process") and "operation" in fields:
            data.setdefault("operation", self.operation)
        return _validate(model, data, where)


def _validate[M: BaseModel](model: type[M], data: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InfraValidationError(
            f"{where}: inputs do not fit {model.__name__}: {summarize_validation_error(exc)}",
            transport=EnumTransport.INTERNAL,
            operation="build_request",
            target=where,
        ) from exc


_CONTEXT_PARAMS: Final = frozenset(
    {"correlation_id", "timeout_seconds", "idempotency_key", "correlation"}
)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:
        return {}


def _model_param(function: Callable[..., Any]) -> type[BaseModel] | None:
    params = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in params if p.default is inspect.Parameter.empty]
    if len(params) < 1 or len(required) != 1:
        return None
    annotation = _hints(function).get(params[0].name)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _kwargs_model(
    function: Callable[..., Any], name: str
) -> tuple[type[BaseModel], frozenset[str]]:
    hints = _hints(function)
    fields: dict[str, Any] = {}
    context: set[str] = set()
    for param in inspect.signature(function).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in _CONTEXT_PARAMS:
            context.add(param.name)
            continue
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model = create_model(
        f"{name}_arguments",
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )
    return typing.cast(type[BaseModel], model), frozenset(context)


def _operation_names(model: type[BaseModel]) -> set[str]:
    field = model.model_fields.get("operation")
    if field is None:
        return set()
    names: set[str] = set()
    if get_origin(field.annotation) is Literal:
        names.update(str(a) for a in get_args(field.annotation))
    if isinstance(field.default, str):
        names.add(field.default)
    return names


def _from_table(cls: type, node: str, operation: str) -> OperationSpec | None:
    """The operation from an effect node's ``operations`` table (name -> request model and
    method), or None when the class has no such table."""
    table = getattr(cls, "operations", None)
    if not isinstance(table, Mapping):
        return None
    entry = table.get(operation)
    request = getattr(entry, "request", None)
    method = getattr(entry, "method", None)
    if not (
        isinstance(request, type) and issubclass(request, BaseModel) and isinstance(method, str)
    ):
        return None
    return OperationSpec(node, operation, "table", method, False, request)


def _from_target(
    target: type, node: str, operation: str, *, via_client: bool
) -> OperationSpec | None:
    method = getattr(target, operation, None)
    if callable(method) and not operation.startswith("_"):
        model = _model_param(method)
        if model is not None:
            return OperationSpec(node, operation, "request", operation, via_client, model)
        kwargs_model, context = _kwargs_model(method, f"{node}.{operation}")
        return OperationSpec(
            node,
            operation,
            "kwargs",
            operation,
            via_client,
            kwargs_model=kwargs_model,
            context_params=context,
        )
    process = getattr(target, "process", None)
    if process is not None:
        for overload in typing.get_overloads(process):
            model = _model_param(overload)
            if model is not None and operation in _operation_names(model):
                return OperationSpec(node, operation, "process", "process", via_client, model)
    return None


def _client_type(cls: type) -> type | None:
    client = _hints(cls).get("client")
    return client if isinstance(client, type) else None


class NodeRegistry:
    """Node classes and instances by node name.

    ``nodes`` maps a node name to an instance or a factory (a callable returning an
    instance, sync or async); names not given are loaded from the ``omnibase_infra.nodes``
    entry points (when ``entry_points``) and built with no arguments (each node reads its
    own configuration from the environment). Instances are built once and closed by
    :meth:`close`.
    """

    def __init__(
        self,
        nodes: Mapping[str, object] | None = None,
        *,
        entry_points: bool = True,
    ) -> None:
        self._given: dict[str, object] = dict(nodes or {})
        self._instances: dict[str, object] = {}
        self._use_entry_points = entry_points
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._specs: dict[tuple[str, str, type], OperationSpec] = {}

    def register(self, name: str, node: object) -> None:
        """Register an instance or a factory for ``name`` (replaces an earlier one)."""
        self._given[name] = node
        self._instances.pop(name, None)

    def _eps(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            found = metadata.entry_points(group=ENTRY_POINT_GROUP) if self._use_entry_points else ()
            self._entry_points = {ep.name: ep for ep in found}
        return self._entry_points

    def known_nodes(self) -> set[str]:
        """Every node name this registry can provide."""
        return set(self._given) | set(self._eps())

    def _missing(self, name: str) -> InfraConfigurationError:
        return InfraConfigurationError(
            f"node {name!r} is not installed: pip install {package_for_node(name)}",
            transport=EnumTransport.INTERNAL,
            operation=_OPERATION,
            target=name,
            package=package_for_node(name),
        )

    def node_class(self, name: str) -> type:
        """The node's class (given instance's type, or the entry point's class)."""
        given = self._given.get(name)
        if given is not None:
            return given if isinstance(given, type) else type(given)
        ep = self._eps().get(name)
        if ep is None:
            raise self._missing(name)
        try:
            loaded = ep.load()
        except ImportError as exc:
            raise InfraConfigurationError(
                f"node {name!r} cannot be imported ({exc}); reinstall {package_for_node(name)}",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                target=name,
            ) from exc
        return typing.cast(type, loaded)

    def _is_factory(self, given: object) -> bool:
        return callable(given) and not isinstance(given, type) and not hasattr(given, "process")

    def check_node(self, name: str) -> str | None:
        """A problem text when ``name`` cannot be provided, else None."""
        if name in self.known_nodes():
            return None
        return f"unknown node {name!r} (pip install {package_for_node(name)})"

    def check_operation(self, name: str, operation: str) -> str | None:
        """A problem text when ``name`` has no ``operation``, else None."""
        problem = self.check_node(name)
        if problem is not None:
            return problem
        given = self._given.get(name)
        if given is not None and self._is_factory(given):
            return None  # built lazily: checked when the step runs
        try:
            self.spec(name, operation, self.node_class(name))
        except InfraConfigurationError as exc:
            return exc.message
        return None

    def spec(self, name: str, operation: str, cls: type | None = None) -> OperationSpec:
        """How to call ``operation`` on a node of class ``cls`` (default: the node's class)."""
        cls = cls if cls is not None else self.node_class(name)
        key = (name, operation, cls)
        found = self._specs.get(key)
        if found is not None:
            return found
        spec = _from_table(cls, name, operation) or _from_target(
            cls, name, operation, via_client=False
        )
        if spec is None:
            client = _client_type(cls)
            if client is not None:
                spec = _from_target(client, name, operation, via_client=True)
        if spec is None:
            raise InfraConfigurationError(
                f"node {name!r} ({cls.__name__}) has no operation {operation!r}",
                transport=EnumTransport.INTERNAL,
                operation=_OPERATION,
                target=f"{name}.{operation}",
            )
        self._specs[key] = spec
        return spec

    async def instance(self, name: str) -> object:
        """The node instance for ``name`` (built on first use)."""
        found = self._instances.get(name)
        if found is not None:
            return found
        given = self._given.get(name)
        if given is None:
            built: object = self.node_class(name)()
        elif isinstance(given, type):
            built = given()
        elif self._is_factory(given):
            built = typing.cast(NodeFactory, given)()
            if inspect.isawaitable(built):
                built = await built
        else:
            built = given
        self._instances[name] = built
        return built

    async def operation(self, name: str, operation: str) -> tuple[object, OperationSpec]:
        """The instance and the call spec for ``name.operation``; the instance's own
        ``client`` attribute is tried when the class does not declare the operation."""
        found = self._instances.get(name)
        if found is not None:  # every step after the first: two dict lookups
            known = self._specs.get((name, operation, type(found)))
            if known is not None:
                return found, known
        instance = await self.instance(name)
        cls = type(instance)
        try:
            return instance, self.spec(name, operation, cls)
        except InfraConfigurationError:
            client = getattr(instance, "client", None)
            if client is None:
                raise
            spec = _from_target(type(client), name, operation, via_client=True)
            if spec is None:
                raise
            self._specs[(name, operation, cls)] = spec
            return instance, spec

    async def close(self) -> None:
        """Close every instance this registry built (``close()``/``aclose()``)."""
        built = [
            (name, node)
            for name, node in self._instances.items()
            if self._given.get(name) is not node
        ]
        self._instances.clear()
        for _name, node in built:
            closer = getattr(node, "close", None) or getattr(node, "aclose", None)
            if closer is None:
                continue
            result = closer()
            if inspect.isawaitable(result):
                await result
