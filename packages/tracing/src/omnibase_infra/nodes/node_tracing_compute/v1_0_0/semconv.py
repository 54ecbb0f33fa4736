"""OpenTelemetry semantic-convention attribute names the tracing node writes.

Written out here rather than imported from ``opentelemetry-semantic-conventions`` (a beta
package whose modules move between releases); a test checks them against it.
"""

from __future__ import annotations

from typing import Final

# Database (stable since semconv 1.26). ``db.system`` is the pre-1.26 name of
# ``db.system.name``; both are written so older backends group the spans too.
DB_SYSTEM_NAME: Final = "db.system.name"
DB_SYSTEM_LEGACY: Final = "db.system"
DB_NAMESPACE: Final = "db.namespace"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_QUERY_TEXT: Final = "db.query.text"

# HTTP client.
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_FULL: Final = "url.full"
URL_TEMPLATE: Final = "url.template"

# RPC (Vault and Consul are reported as RPC systems with their own method names; the
# RPC conventions are still in development: ``rpc.system`` became ``rpc.system.name``, so
# both are written, as for databases).
RPC_SYSTEM_NAME: Final = "rpc.system.name"
RPC_SYSTEM_LEGACY: Final = "rpc.system"
RPC_METHOD: Final = "rpc.method"

# Messaging (the event bus).
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"

# General.
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
SERVICE_NAME: Final = "service.name"

# Our own, under the omnibase namespace: the link from a span to the workflow.
CORRELATION_ID: Final = "omnibase.correlation_id"
CAUSATION_ID: Final = "omnibase.causation_id"
TRANSPORT: Final = "omnibase.transport"
OPERATION: Final = "omnibase.operation"
OUTCOME: Final = "omnibase.outcome"
ERROR_CODE: Final = "omnibase.error_code"
TARGET: Final = "omnibase.target"
