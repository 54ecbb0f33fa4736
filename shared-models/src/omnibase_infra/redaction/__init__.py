"""Secret masking for logs, errors and events, used by every omnibase_infra package.

Everything masked is replaced by the one constant :data:`MASK` (``"***"``). Known secret
values can be passed per call or registered process-wide with :func:`register_secret`.
"""

from omnibase_infra.redaction.command_line import credential_from_command_line
from omnibase_infra.redaction.logging_filter import RedactingFilter
from omnibase_infra.redaction.redact import (
    MASK,
    SENSITIVE_HEADERS,
    carries_secret,
    is_sensitive_key,
    redact_headers,
    redact_mapping,
    redact_text,
    redact_url,
    strip_userinfo,
)
from omnibase_infra.redaction.registry import (
    MIN_SECRET_LENGTH,
    clear_registered_secrets,
    register_secret,
    registered_secret_count,
    unregister_secret,
)

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SENSITIVE_HEADERS",
    "RedactingFilter",
    "carries_secret",
    "clear_registered_secrets",
    "credential_from_command_line",
    "is_sensitive_key",
    "redact_headers",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "register_secret",
    "registered_secret_count",
    "strip_userinfo",
    "unregister_secret",
]
