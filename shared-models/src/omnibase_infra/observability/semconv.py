"""One set of OpenTelemetry semantic-convention names for every span and metric we make.

The effect nodes' live spans (:class:`~omnibase_infra.observability.telemetry.OperationTelemetry`)
and the tracing node's spans from operation records use these names, so the same operation
looks the same whichever way it was traced. Names are the current ones of the published
conventions (``db.system.name``, ``db.operation.name``, ``db.query.text``, ``server.address``,
``error.type``, ``http.request.method``, ``url.full``, ...; a test in the tracing package
checks them against ``opentelemetry-semantic-conventions``), written out here because that
package is a beta whose modules move between releases. Our own attributes live under
``omnibase.``.

One helper per kind of client builds what a node passes to ``OperationTelemetry``
(:func:`database_client`, :func:`http_client`, :func:`rpc_client`); Keycloak/OIDC is an HTTP
client, Vault and Consul are reported as RPC systems of their own name. Per-call helpers
(:func:`server_attributes`, :func:`url_attributes`, :func:`db_statement_attributes`) are
cached per distinct input: targets, endpoints and parameterised statements recur.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from omnibase_infra.redaction import redact_url

__all__ = [
    "ATTEMPT",
    "ATTEMPTS",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "DB_CLIENT_OPERATION_DURATION",
    "DB_COLLECTION_NAME",
    "DB_DURATION_BUCKETS",
    "DB_NAMESPACE",
    "DB_OPERATION_NAME",
    "DB_QUERY_TEXT",
    "DB_RESPONSE_STATUS_CODE",
    "DB_SYSTEM_NAME",
    "ERROR_CODE",
    "ERROR_TYPE",
    "HTTP_CLIENT_REQUEST_DURATION",
    "HTTP_DURATION_BUCKETS",
    "HTTP_REQUEST_METHOD",
    "HTTP_RESPONSE_STATUS_CODE",
    "MESSAGING_BATCH_MESSAGE_COUNT",
    "MESSAGING_CLIENT_CONSUMED_MESSAGES",
    "MESSAGING_CLIENT_OPERATION_DURATION",
    "MESSAGING_CONSUMER_GROUP_NAME",
    "MESSAGING_DESTINATION_NAME",
    "MESSAGING_DESTINATION_SUBSCRIPTION_NAME",
    "MESSAGING_MESSAGE_BODY_SIZE",
    "MESSAGING_MESSAGE_CONVERSATION_ID",
    "MESSAGING_MESSAGE_ID",
    "MESSAGING_OPERATION_NAME",
    "MESSAGING_OPERATION_TYPE",
    "MESSAGING_PROCESS_DURATION",
    "MESSAGING_SYSTEM",
    "OPERATION",
    "OPERATION_DURATION_BUCKETS",
    "OUTCOME",
    "RETRY_DELAY",
    "RPC_METHOD",
    "RPC_SYSTEM_NAME",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "SERVICE_NAME",
    "TARGET",
    "TRANSPORT",
    "URL_FULL",
    "URL_TEMPLATE",
    "AttributeValue",
    "ClientConventions",
    "database_client",
    "db_statement_attributes",
    "duration_buckets",
    "http_client",
    "rpc_client",
    "server_attributes",
    "split_target",
    "url_attributes",
]

type AttributeValue = str | bool | int | float

# -- attribute names ---------------------------------------------------------------------

# Database (stable).
DB_SYSTEM_NAME: Final = "db.system.name"
DB_NAMESPACE: Final = "db.namespace"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_QUERY_TEXT: Final = "db.query.text"
DB_RESPONSE_STATUS_CODE: Final = "db.response.status_code"

# HTTP client (stable; ``url.template`` is still in development).
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_FULL: Final = "url.full"
URL_TEMPLATE: Final = "url.template"

# RPC (in development; ``rpc.system.name`` replaced ``rpc.system``).
RPC_SYSTEM_NAME: Final = "rpc.system.name"
RPC_METHOD: Final = "rpc.method"

# Messaging (the event buses; in development). ``messaging.operation.type`` is one of
# create, send (which replaced publish), receive, process, settle.
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_DESTINATION_SUBSCRIPTION_NAME: Final = "messaging.destination.subscription.name"
MESSAGING_CONSUMER_GROUP_NAME: Final = "messaging.consumer.group.name"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_MESSAGE_CONVERSATION_ID: Final = "messaging.message.conversation_id"
MESSAGING_MESSAGE_BODY_SIZE: Final = "messaging.message.body.size"
MESSAGING_BATCH_MESSAGE_COUNT: Final = "messaging.batch.message_count"

# General (stable).
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
SERVICE_NAME: Final = "service.name"

# Ours: the link from a span to the workflow, and what the conventions have no name for.
CORRELATION_ID: Final = "omnibase.correlation_id"
CAUSATION_ID: Final = "omnibase.causation_id"
TRANSPORT: Final = "omnibase.transport"
OPERATION: Final = "omnibase.operation"
OUTCOME: Final = "omnibase.outcome"
ERROR_CODE: Final = "omnibase.error_code"
TARGET: Final = "omnibase.target"
"""A target that is no ``host[:port]`` (a path, a list of hosts)."""
ATTEMPTS: Final = "omnibase.attempts"
ATTEMPT: Final = "omnibase.attempt"
RETRY_DELAY: Final = "omnibase.retry_delay_s"

# -- metrics -----------------------------------------------------------------------------

DB_CLIENT_OPERATION_DURATION: Final = "db.client.operation.duration"
HTTP_CLIENT_REQUEST_DURATION: Final = "http.client.request.duration"
MESSAGING_CLIENT_OPERATION_DURATION: Final = "messaging.client.operation.duration"
MESSAGING_PROCESS_DURATION: Final = "messaging.process.duration"
MESSAGING_CLIENT_CONSUMED_MESSAGES: Final = "messaging.client.consumed.messages"

DB_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""Seconds: the conventions' advice for ``db.client.operation.duration``."""
HTTP_DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""Seconds: the conventions' advice for ``http.client.request.duration``."""
OPERATION_DURATION_BUCKETS: Final = (*HTTP_DURATION_BUCKETS, 30.0, 60.0)
"""Seconds, for our own ``omnibase.*`` duration histograms: the HTTP advice plus 30 s and
60 s, since an operation's duration includes its retries and their backoff."""

_BUCKETS_BY_METRIC: Final[Mapping[str, tuple[float, ...]]] = {
    DB_CLIENT_OPERATION_DURATION: DB_DURATION_BUCKETS,
    HTTP_CLIENT_REQUEST_DURATION: HTTP_DURATION_BUCKETS,
    # The messaging conventions advise the HTTP boundaries for their durations too.
    MESSAGING_CLIENT_OPERATION_DURATION: HTTP_DURATION_BUCKETS,
    MESSAGING_PROCESS_DURATION: HTTP_DURATION_BUCKETS,
}


def duration_buckets(metric: str) -> tuple[float, ...]:
    """The bucket boundaries advised for the duration histogram ``metric`` (seconds)."""
    return _BUCKETS_BY_METRIC.get(metric, OPERATION_DURATION_BUCKETS)


# -- per-call attributes -----------------------------------------------------------------

_HOST: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
"""A host name, an IPv4 address or an IPv6 address (brackets already removed)."""


def split_target(target: str) -> tuple[str, int | None]:
    """``host:port`` → (``host``, port); anything else → (target, None)."""
    host, _, port = target.rpartition(":")
    if not host or "," in target or not port.isdigit():
        return target, None
    return host.strip("[]"), int(port)


@functools.lru_cache(maxsize=1024)
def server_attributes(target: str) -> Mapping[str, AttributeValue]:
    """``server.address`` (and ``server.port``) of a ``host[:port]`` target; a target that
    is neither (a path, several hosts, a port out of range) goes to ``omnibase.target``."""
    host, port = split_target(target)
    if port is not None and port <= 65535 and _HOST.fullmatch(host):
        return MappingProxyType({SERVER_ADDRESS: host, SERVER_PORT: port})
    if port is None and ":" not in target and _HOST.fullmatch(target):
        return MappingProxyType({SERVER_ADDRESS: target})
    return MappingProxyType({TARGET: target})


@functools.lru_cache(maxsize=1024)
def url_attributes(url: str) -> Mapping[str, AttributeValue]:
    """``url.full`` without user info and with sensitive query values masked, and the
    URL's ``server.address``/``server.port`` when it has them."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # e.g. a port that is no number
        return MappingProxyType({URL_FULL: redact_url(url)})
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    attributes: dict[str, AttributeValue] = {URL_FULL: redact_url(url)}
    if host:
        attributes[SERVER_ADDRESS] = host
        if port is not None:
            attributes[SERVER_PORT] = port
    return MappingProxyType(attributes)


@functools.lru_cache(maxsize=1024)
def db_statement_attributes(statement: str) -> Mapping[str, AttributeValue]:
    """``db.query.text`` (``statement`` as given: pass it sanitized), and the
    ``db.operation.name`` and single ``db.collection.name`` that the statement names."""
    from omnibase_infra.sql import analyze_sql  # noqa: PLC0415 - import cost (SQL lexer)

    analysis = analyze_sql(statement)
    attributes: dict[str, AttributeValue] = {DB_QUERY_TEXT: statement}
    if analysis.operation:
        attributes[DB_OPERATION_NAME] = analysis.operation
    if len(analysis.tables) == 1:
        attributes[DB_COLLECTION_NAME] = analysis.tables[0]
    return MappingProxyType(attributes)


# -- what a node passes to OperationTelemetry --------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientConventions:
    """The spans and metrics of one node against one target, for
    ``OperationTelemetry.for_client`` (:mod:`omnibase_infra.observability.telemetry`).

    Spans are named ``<span_prefix>.<operation>`` and carry ``span_attributes`` and, set to
    the operation's name, every attribute in ``operation_attributes``; metrics are
    ``duration_metric`` (a histogram advised ``duration_buckets``) and
    ``<counter_prefix>.operations`` / ``.retries``, with ``metric_attributes``, the
    operation (under ``operation_attributes[0]``), ``omnibase.outcome`` and ``error.type``.
    """

    span_prefix: str
    counter_prefix: str
    duration_metric: str
    duration_buckets: tuple[float, ...]
    operation_attributes: tuple[str, ...]
    span_attributes: Mapping[str, AttributeValue]
    metric_attributes: Mapping[str, AttributeValue]


def _server(target: str) -> dict[str, AttributeValue]:
    return dict(server_attributes(target))


def database_client(
    system: str,
    *,
    target: str,
    namespace: str | None = None,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> ClientConventions:
    """A database client (``system``: the conventions' ``db.system.name`` value, e.g.
    ``postgresql``): spans ``<system>.<operation>`` with ``db.system.name``, ``server.*``
    and ``db.namespace``; the conventions' ``db.client.operation.duration`` histogram;
    counters ``omnibase.<name or system>.*``. Per statement, a node adds
    :func:`db_statement_attributes` to the current span."""
    base = {DB_SYSTEM_NAME: system, **_server(target)}
    if namespace:
        base[DB_NAMESPACE] = namespace
    return ClientConventions(
        span_prefix=system,
        counter_prefix=f"omnibase.{name or system}",
        duration_metric=DB_CLIENT_OPERATION_DURATION,
        duration_buckets=DB_DURATION_BUCKETS,
        operation_attributes=(OPERATION,),
        span_attributes=MappingProxyType({**base, **(attributes or {})}),
        metric_attributes=MappingProxyType(base),
    )


def http_client(
    name: str,
    *,
    target: str | None = None,
    method: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> ClientConventions:
    """An HTTP client (Keycloak/OIDC, webhooks) named ``name``: spans ``<name>.<operation>``
    with ``server.*`` of ``target`` (none for a client of many servers, such as webhook
    delivery: it adds :func:`url_attributes` per request) and ``http.request.method`` when
    every request uses ``method``;
    histogram ``omnibase.<name>.operation.duration`` and counters ``omnibase.<name>.*``
    (an operation may span several requests and retries, so the conventions'
    per-request ``http.client.request.duration`` would misname it). Per request, a node
    adds ``http.request.method``, ``http.response.status_code`` and :func:`url_attributes`
    to the current span."""
    base = _server(target) if target is not None else {}
    metric: dict[str, AttributeValue] = {}
    if method is not None:
        base[HTTP_REQUEST_METHOD] = metric[HTTP_REQUEST_METHOD] = method.upper()
    return ClientConventions(
        span_prefix=name,
        counter_prefix=f"omnibase.{name}",
        duration_metric=f"omnibase.{name}.operation.duration",
        duration_buckets=OPERATION_DURATION_BUCKETS,
        operation_attributes=(OPERATION,),
        span_attributes=MappingProxyType({**base, **(attributes or {})}),
        metric_attributes=MappingProxyType(metric),
    )


def rpc_client(
    system: str, *, target: str, attributes: Mapping[str, AttributeValue] | None = None
) -> ClientConventions:
    """A service reported as an RPC system of its own (``vault``, ``consul``): spans
    ``<system>.<operation>`` with ``rpc.system.name``, ``rpc.method`` (the operation) and
    ``server.*``; histogram ``omnibase.<system>.operation.duration``, counters
    ``omnibase.<system>.*``."""
    return ClientConventions(
        span_prefix=system,
        counter_prefix=f"omnibase.{system}",
        duration_metric=f"omnibase.{system}.operation.duration",
        duration_buckets=OPERATION_DURATION_BUCKETS,
        operation_attributes=(OPERATION, RPC_METHOD),
        span_attributes=MappingProxyType(
            {RPC_SYSTEM_NAME: system, **_server(target), **(attributes or {})}
        ),
        metric_attributes=MappingProxyType({RPC_SYSTEM_NAME: system}),
    )
