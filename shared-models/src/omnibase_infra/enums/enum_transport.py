"""The transport (kind of remote system) an infrastructure operation talks to."""

from enum import StrEnum


class EnumTransport(StrEnum):
    """Which kind of remote system an operation addresses.

    Carried by every infra error and used to key breakers and metrics, so that a
    failure can be attributed to the system that produced it.
    """

    POSTGRES = "postgres"
    VAULT = "vault"
    CONSUL = "consul"
    KEYCLOAK = "keycloak"
    HTTP = "http"
    REDIS = "redis"
    EVENT_BUS = "event_bus"
    INTERNAL = "internal"
