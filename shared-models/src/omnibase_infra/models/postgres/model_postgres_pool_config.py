"""How the PostgreSQL adapter connects: the DSN (a secret) and the pool's settings."""

from __future__ import annotations

from typing import Self
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["ModelPostgresPoolConfig", "dsn_target"]

_SCHEMES = ("postgresql", "postgres")
_DEFAULT_PORT = "5432"


def _has_port(host: str) -> bool:
    return "]:" in host if host.startswith("[") else ":" in host


def dsn_target(dsn: str) -> tuple[str, str | None]:
    """``(host:port, database)`` of a libpq URI, without credentials.

    Multi-host URIs give ``host1:p1,host2:p2``; a Unix-socket URI gives the socket directory.
    """
    parts = urlsplit(dsn.strip())
    query = dict(parse_qsl(parts.query))
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        host = query.get("host", "localhost")
        hosts = f"{host}:{query.get('port', _DEFAULT_PORT)}"
    elif "," not in hosts and not _has_port(hosts):
        hosts = f"{hosts}:{query.get('port', _DEFAULT_PORT)}"
    user = unquote(parts.username) if parts.username else query.get("user")
    database = unquote(parts.path.lstrip("/")) or query.get("dbname") or user
    return hosts, database


class ModelPostgresPoolConfig(BaseModel):
    """One asyncpg pool: where (``dsn``, a secret) and how (sizes, lifetimes, caches).

    ``password`` overrides the DSN's, so a DSN without credentials plus a password minted at
    run time (e.g. by Vault) works. ``statement_cache_size=0`` is needed behind pgbouncer in
    transaction mode. A connection idle for ``health_check_idle_seconds`` or more (or that
    saw a connection-level error) is pinged when acquired and replaced if dead. Validation
    errors never echo the input (``hide_input_in_errors``).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, defer_build=True
    )

    dsn: SecretStr
    password: SecretStr | None = None
    min_size: int = Field(default=1, ge=0, le=1000)
    max_size: int = Field(default=10, ge=1, le=1000)
    max_queries: int = Field(default=50_000, ge=1, description="Queries before a reconnect")
    max_inactive_connection_lifetime_seconds: float = Field(
        default=300.0, ge=0.0, allow_inf_nan=False, description="Idle connections close; 0 never"
    )
    statement_cache_size: int = Field(default=100, ge=0, description="0 for pgbouncer")
    max_cached_statement_lifetime_seconds: int = Field(default=300, ge=0)
    max_cacheable_statement_size: int = Field(default=15 * 1024, ge=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)
    health_check_idle_seconds: float = Field(default=30.0, ge=0.0, allow_inf_nan=False)
    health_check_timeout_seconds: float = Field(default=5.0, gt=0, le=600, allow_inf_nan=False)
    close_timeout_seconds: float = Field(default=10.0, ge=0.0, le=3600, allow_inf_nan=False)
    application_name: str = Field(default="omnibase_infra", max_length=63)
    server_settings: dict[str, str] = Field(default_factory=dict)

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value().strip()).scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError("dsn must be a postgresql:// (or postgres://) URI")
        return value

    @model_validator(mode="after")
    def _check_sizes(self) -> Self:
        if self.min_size > self.max_size:
            raise ValueError("min_size must be <= max_size")
        return self

    @property
    def target(self) -> str:
        """``host:port`` of the server, never with credentials (breakers, metrics, errors)."""
        return dsn_target(self.dsn.get_secret_value())[0]

    @property
    def database(self) -> str | None:
        """The database name the DSN selects (``db.namespace``), when it names one."""
        return dsn_target(self.dsn.get_secret_value())[1]
