"""Where and how to reach a service, with credentials kept in ``SecretStr``."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

DEFAULT_PORTS: dict[str, int] = {
    "http": 80,
    "https": 443,
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "amqp": 5672,
}
_PASSWORD_KEYS = frozenset({"password", "passwd", "pwd"})
_TOKEN_KEYS = frozenset({"token", "access_token"})
_SECRET_OPTION_KEYS = frozenset(
    {"pass", "secret", "api_key", "apikey", "client_secret", "sslpassword", "auth"}
    | _PASSWORD_KEYS
    | _TOKEN_KEYS
)
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
_HOSTNAME = re.compile(r"[a-z0-9_](?:[a-z0-9_\-.]{0,251}[a-z0-9_])?")


class ModelTlsSettings(BaseModel):
    """TLS verification settings; ``ca_file`` adds a private CA bundle."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    verify: bool = True
    ca_file: Path | None = None


class ModelServiceEndpoint(BaseModel):
    """Service endpoint configuration.

    ``target`` and ``url`` never contain credentials; ``password``/``token`` are
    ``SecretStr`` so ``repr``, ``str`` and ``model_dump(mode="json")`` show ``**********``.
    Validation errors never echo input values (``hide_input_in_errors``).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, defer_build=True
    )

    scheme: str
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    path: str = ""
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    tls: ModelTlsSettings = Field(default_factory=ModelTlsSettings)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=600, allow_inf_nan=False)
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("scheme")
    @classmethod
    def _check_scheme(cls, value: str) -> str:
        value = value.lower()
        if _SCHEME.fullmatch(value) is None:
            raise ValueError("scheme must look like 'https' or 'postgresql'")
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        value = value.strip().lower().removeprefix("[").removesuffix("]")
        if ":" in value:
            try:
                return str(ipaddress.IPv6Address(value))
            except ValueError:
                raise ValueError("host is not a valid hostname or IPv6 address") from None
        if _HOSTNAME.fullmatch(value) is None:
            raise ValueError("host is not a valid hostname or IP address")
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("path must be empty or start with '/'")
        if any(c in value for c in "?#@ "):
            raise ValueError("path must not contain '?', '#', '@' or spaces")
        return value

    @field_validator("options")
    @classmethod
    def _check_options(cls, value: dict[str, str]) -> dict[str, str]:
        secret_keys = sorted(k for k in value if k.lower() in _SECRET_OPTION_KEYS)
        if secret_keys:
            raise ValueError(
                f"options must not carry credentials ({', '.join(secret_keys)}); "
                "use the password/token fields"
            )
        return value

    @property
    def target(self) -> str:
        """``host:port`` (IPv6 hosts in brackets); used for breakers, metrics and errors."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The endpoint as a URL without credentials."""
        query = f"?{urlencode(self.options)}" if self.options else ""
        return f"{self.scheme}://{self.target}{self.path}{query}"

    @property
    def has_credentials(self) -> bool:
        """Whether a password or token is configured."""
        return self.password is not None or self.token is not None

    @classmethod
    def from_url(cls, url: str, /, **overrides: object) -> Self:
        """Parse ``scheme://[user[:password]@]host[:port][/path][?options]``.

        Credentials in the user-info part (or ``password``/``token`` query keys) move into
        ``SecretStr`` fields; the port defaults per scheme (see ``DEFAULT_PORTS``).
        ``overrides`` set any other field. Errors never include the URL.
        """
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise _url_error(f"invalid endpoint URL: {_port_or_syntax(exc)}") from None
        if not parts.scheme or not parts.hostname:
            raise _url_error("invalid endpoint URL: expected scheme://host[:port]")
        if parts.fragment:
            raise _url_error("invalid endpoint URL: fragments are not supported")
        scheme = parts.scheme.lower()
        if port is None:
            port = DEFAULT_PORTS.get(scheme)
            if port is None:
                raise _url_error(f"endpoint URL has no port and scheme {scheme!r} has no default")
        fields: dict[str, object] = {
            "scheme": scheme,
            "host": parts.hostname,
            "port": port,
            "path": parts.path.rstrip("/") if parts.path != "/" else "",
        }
        if parts.username:
            fields["username"] = unquote(parts.username)
        if parts.password:
            fields["password"] = SecretStr(unquote(parts.password))
        fields.update(_split_query(parts.query))
        fields.update(overrides)
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'endpoint'}: {err['msg']}"
                for err in exc.errors()
            )
            raise _url_error(f"invalid endpoint URL: {problems}") from None


def _split_query(query: str) -> dict[str, object]:
    """Query parameters as fields: credentials to ``SecretStr``, the rest to ``options``."""
    fields: dict[str, object] = {}
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() in _PASSWORD_KEYS:
            fields["password"] = SecretStr(value)
        elif key.lower() in _TOKEN_KEYS:
            fields["token"] = SecretStr(value)
        else:
            options[key] = value
    if options:
        fields["options"] = options
    return fields


def _port_or_syntax(exc: ValueError) -> str:
    text = str(exc)
    return "port out of range or not a number" if "port" in text.lower() else "malformed URL"


def _url_error(message: str) -> InfraConfigurationError:
    return InfraConfigurationError(
        message, transport=EnumTransport.INTERNAL, operation="parse_endpoint_url"
    )
