"""Our attribute names are the published OpenTelemetry semantic-convention names."""

from __future__ import annotations

import pytest
from opentelemetry.semconv._incubating.attributes import (
    db_attributes as incubating_db,
)
from opentelemetry.semconv._incubating.attributes import (
    messaging_attributes,
    rpc_attributes,
)
from opentelemetry.semconv._incubating.attributes import (
    url_attributes as incubating_url,
)
from opentelemetry.semconv.attributes import (
    db_attributes,
    error_attributes,
    http_attributes,
    server_attributes,
    service_attributes,
    url_attributes,
)

from omnibase_infra.nodes.node_tracing_compute.v1_0_0 import semconv


@pytest.mark.parametrize(
    ("ours", "published"),
    [
        (semconv.DB_SYSTEM_NAME, db_attributes.DB_SYSTEM_NAME),
        (semconv.DB_SYSTEM_LEGACY, incubating_db.DB_SYSTEM),
        (semconv.DB_NAMESPACE, db_attributes.DB_NAMESPACE),
        (semconv.DB_OPERATION_NAME, db_attributes.DB_OPERATION_NAME),
        (semconv.DB_COLLECTION_NAME, db_attributes.DB_COLLECTION_NAME),
        (semconv.DB_QUERY_TEXT, db_attributes.DB_QUERY_TEXT),
        (semconv.HTTP_REQUEST_METHOD, http_attributes.HTTP_REQUEST_METHOD),
        (semconv.HTTP_RESPONSE_STATUS_CODE, http_attributes.HTTP_RESPONSE_STATUS_CODE),
        (semconv.URL_FULL, url_attributes.URL_FULL),
        (semconv.URL_TEMPLATE, incubating_url.URL_TEMPLATE),
        (semconv.RPC_SYSTEM_NAME, rpc_attributes.RPC_SYSTEM_NAME),
        (semconv.RPC_SYSTEM_LEGACY, rpc_attributes.RPC_SYSTEM),
        (semconv.RPC_METHOD, rpc_attributes.RPC_METHOD),
        (semconv.MESSAGING_SYSTEM, messaging_attributes.MESSAGING_SYSTEM),
        (semconv.MESSAGING_OPERATION_NAME, messaging_attributes.MESSAGING_OPERATION_NAME),
        (semconv.MESSAGING_DESTINATION_NAME, messaging_attributes.MESSAGING_DESTINATION_NAME),
        (semconv.SERVER_ADDRESS, server_attributes.SERVER_ADDRESS),
        (semconv.SERVER_PORT, server_attributes.SERVER_PORT),
        (semconv.ERROR_TYPE, error_attributes.ERROR_TYPE),
        (semconv.SERVICE_NAME, service_attributes.SERVICE_NAME),
    ],
)
def test_attribute_names_match_the_conventions(ours: str, published: str) -> None:
    assert ours == published
