"""Configuration and results of the tracing node."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Final, Self
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omnibase_infra.enums import EnumTransport
from omnibase_infra.errors import InfraConfigurationError

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "EnumSpanExporter",
    "ModelSpanInfo",
    "ModelTracingConfig",
    "SpanAttributeValue",
]

DEFAULT_SERVICE_NAME: Final = "omnibase-infra"

type SpanAttributeValue = str | bool | int | float

_RATIO_SAMPLERS: Final = frozenset({"traceidratio", "parentbased_traceidratio"})
_ON_SAMPLERS: Final = frozenset({"always_on", "parentbased_always_on"})
_OFF_SAMPLERS: Final = frozenset({"always_off", "parentbased_always_off"})


class EnumSpanExporter(StrEnum):
    """Where finished spans go."""

    CONSOLE = "console"
    OTLP = "otlp"
    IN_MEMORY = "in_memory"
    NONE = "none"


def _config_error(message: str) -> InfraConfigurationError:
    return InfraConfigurationError(
        message, transport=EnumTransport.INTERNAL, operation="tracing_config"
    )


class ModelTracingConfig(BaseModel):
    """How the tracing node samples and exports.

    ``exporter=None`` chooses OTLP when ``otlp_endpoint`` is set and the console otherwise.
    ``otlp_endpoint`` is the full OTLP/HTTP traces URL (``http://collector:4318/v1/traces``)
    and must not carry credentials: put them in ``otlp_headers`` (secret values).
    ``batch_export=None`` batches for OTLP and exports synchronously otherwise.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    service_name: str = Field(default=DEFAULT_SERVICE_NAME, min_length=1, max_length=255)
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    exporter: EnumSpanExporter | None = None
    otlp_endpoint: str | None = None
    otlp_headers: dict[str, SecretStr] = Field(default_factory=dict)
    otlp_timeout_seconds: float = Field(default=10.0, gt=0, le=300, allow_inf_nan=False)
    batch_export: bool | None = None
    resource_attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("otlp_endpoint must be an http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("otlp_endpoint must not carry credentials; use otlp_headers")
        return value

    @property
    def resolved_exporter(self) -> EnumSpanExporter:
        """The exporter in effect (``exporter`` or the choice ``None`` stands for)."""
        if self.exporter is not None:
            return self.exporter
        return EnumSpanExporter.OTLP if self.otlp_endpoint else EnumSpanExporter.CONSOLE

    @property
    def batched(self) -> bool:
        """Whether spans go through a background batch processor."""
        if self.batch_export is not None:
            return self.batch_export
        return self.resolved_exporter is EnumSpanExporter.OTLP

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the standard OpenTelemetry variables.

        ``OTEL_SERVICE_NAME``; ``OTEL_TRACES_SAMPLER`` (``always_on``, ``always_off``,
        ``traceidratio`` or their ``parentbased_`` forms: the node always honours the
        parent's decision) with ``OTEL_TRACES_SAMPLER_ARG``; ``OTEL_TRACES_EXPORTER``
        (``console``, ``otlp``, ``none``); ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
        ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended);
        ``OTEL_EXPORTER_OTLP_TRACES_HEADERS`` or ``OTEL_EXPORTER_OTLP_HEADERS``
        (``k=v,k2=v2``, URL-encoded). Invalid values raise ``InfraConfigurationError``.
        """
        env = os.environ if environ is None else environ
        data: dict[str, object] = {}
        if env.get("OTEL_SERVICE_NAME"):
            data["service_name"] = env["OTEL_SERVICE_NAME"]
        sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
        if sampler:
            data["sample_ratio"] = _sampler_ratio(sampler, env.get("OTEL_TRACES_SAMPLER_ARG"))
        exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
        if exporter:
            try:
                data["exporter"] = EnumSpanExporter(exporter)
            except ValueError:
                raise _config_error(f"unsupported OTEL_TRACES_EXPORTER {exporter!r}") from None
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if not endpoint and env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
        if endpoint:
            data["otlp_endpoint"] = endpoint
        headers = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get(
            "OTEL_EXPORTER_OTLP_HEADERS"
        )
        if headers:
            data["otlp_headers"] = _parse_headers(headers)
        try:
            return cls.model_validate(data)
        except ValueError as exc:  # pydantic's ValidationError; input values are hidden
            raise _config_error(f"invalid OpenTelemetry environment: {exc}") from None


def _sampler_ratio(sampler: str, arg: str | None) -> float:
    if sampler in _ON_SAMPLERS:
        return 1.0
    if sampler in _OFF_SAMPLERS:
        return 0.0
    if sampler not in _RATIO_SAMPLERS:
        raise _config_error(f"unsupported OTEL_TRACES_SAMPLER {sampler!r}")
    if arg is None or not arg.strip():
        return 1.0
    try:
        ratio = float(arg)
    except ValueError:
        raise _config_error("OTEL_TRACES_SAMPLER_ARG must be a number") from None
    if not 0.0 <= ratio <= 1.0:
        raise _config_error("OTEL_TRACES_SAMPLER_ARG must be between 0 and 1")
    return ratio


def _parse_headers(raw: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _config_error("OTLP headers must be comma-separated key=value pairs")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


class ModelSpanInfo(BaseModel):
    """The span built from one record (``attributes`` empty when it was not sampled)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    sampled: bool
    start_time_unix_nano: int
    end_time_unix_nano: int
    status: str
    status_description: str | None = None
    attributes: dict[str, SpanAttributeValue] = Field(default_factory=dict)
