"""The shared attribute names (omnibase_infra.observability.semconv) are the published
OpenTelemetry semantic-convention names; the node and the effect nodes use only these."""

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
from opentelemetry.semconv._incubating.metrics import db_metrics
from opentelemetry.semconv.attributes import (
    db_attributes,
    error_attributes,
    http_attributes,
    server_attributes,
    service_attributes,
    url_attributes,
)
from opentelemetry.semconv.metrics import http_metrics

from omnibase_infra.observability import semconv


@pytest.mark.parametrize(
    ("ours", "published"),
    [
        (semconv.DB_SYSTEM_NAME, db_attributes.DB_SYSTEM_NAME),
        (semconv.DB_NAMESPACE, db_attributes.DB_NAMESPACE),
        (semconv.DB_OPERATION_NAME, db_attributes.DB_OPERATION_NAME),
        (semconv.DB_COLLECTION_NAME, db_attributes.DB_COLLECTION_NAME),
        (semconv.DB_QUERY_TEXT, db_attributes.DB_QUERY_TEXT),
        (semconv.DB_RESPONSE_STATUS_CODE, db_attributes.DB_RESPONSE_STATUS_CODE),
        (semconv.HTTP_REQUEST_METHOD, http_attributes.HTTP_REQUEST_METHOD),
        (semconv.HTTP_RESPONSE_STATUS_CODE, http_attributes.HTTP_RESPONSE_STATUS_CODE),
        (semconv.URL_FULL, url_attributes.URL_FULL),
        (semconv.URL_TEMPLATE, incubating_url.URL_TEMPLATE),
        (semconv.RPC_SYSTEM_NAME, rpc_attributes.RPC_SYSTEM_NAME),
        (semconv.RPC_METHOD, rpc_attributes.RPC_METHOD),
        (semconv.MESSAGING_SYSTEM, messaging_attributes.MESSAGING_SYSTEM),
        (semconv.MESSAGING_OPERATION_NAME, messaging_attributes.MESSAGING_OPERATION_NAME),
        (semconv.MESSAGING_DESTINATION_NAME, messaging_attributes.MESSAGING_DESTINATION_NAME),
        (semconv.SERVER_ADDRESS, server_attributes.SERVER_ADDRESS),
        (semconv.SERVER_PORT, server_attributes.SERVER_PORT),
        (semconv.ERROR_TYPE, error_attributes.ERROR_TYPE),
        (semconv.SERVICE_NAME, service_attributes.SERVICE_NAME),
        (semconv.DB_CLIENT_OPERATION_DURATION, db_metrics.DB_CLIENT_OPERATION_DURATION),
        (semconv.HTTP_CLIENT_REQUEST_DURATION, http_metrics.HTTP_CLIENT_REQUEST_DURATION),
    ],
)
def test_names_match_the_conventions(ours: str, published: str) -> None:
    assert ours == published


@pytest.mark.parametrize(
    "deprecated", [incubating_db.DB_SYSTEM, incubating_db.DB_OPERATION, rpc_attributes.RPC_SYSTEM]
)
def test_no_deprecated_name_is_ours(deprecated: str) -> None:
    names = {
        value for key, value in vars(semconv).items() if key.isupper() and isinstance(value, str)
    }
    assert deprecated not in names
