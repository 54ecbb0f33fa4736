"""Turn any exception into a redacted, JSON-safe dict for logs and events."""

from __future__ import annotations

from omnibase_core.models.errors.model_onex_error import ModelOnexError
from pydantic import ValidationError

from omnibase_infra.errors.infra_errors import InfraError, JsonValue
from omnibase_infra.redaction import redact_text

__all__ = ["error_to_safe_dict"]


def _code(error: ModelOnexError) -> str | None:
    code = error.error_code
    if code is None:
        return None
    return str(getattr(code, "value", code))


def _summary(exc: BaseException) -> dict[str, JsonValue]:
    if isinstance(exc, InfraError):
        return exc.to_safe_dict()
    data: dict[str, JsonValue] = {"error_type": type(exc).__name__}
    if isinstance(exc, ModelOnexError):
        data["code"] = _code(exc)
        data["correlation_id"] = str(exc.correlation_id)
        data["message"] = redact_text(exc.message)
    else:
        data["message"] = redact_text(exc)
    return data


def error_to_safe_dict(exc: BaseException, *, include_cause: bool = True) -> dict[str, JsonValue]:
    """Code, transport, operation, target, correlation_id, retryable, message and the
    subclass extras of an :class:`InfraError`; type, code, correlation id and message of any
    other error. With ``include_cause`` the direct ``__cause__`` is summarised under "cause"
    (in full when it is an InfraError: core's node wrappers re-raise ours as OPERATION_FAILED
    with the original on ``__cause__``).
    """
    data = _summary(exc)
    if include_cause and exc.__cause__ is not None:
        data["cause"] = _summary(exc.__cause__)
    return data


def summarize_validation_error(exc: ValidationError, *, root: str = "<root>") -> str:
    """Field paths and messages of a pydantic validation error, never the input values.

    ``root`` names the whole object when an error has no field path (e.g. ``"request"``).
    """
    return "; ".join(
        f"{'.'.join(map(str, err['loc'])) or root}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    )
