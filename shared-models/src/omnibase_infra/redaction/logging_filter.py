"""A logging filter that masks secrets in records before any handler formats them."""

from __future__ import annotations

import logging

from omnibase_infra.redaction.redact import KnownSecrets, redact_mapping, redact_text
from omnibase_infra.redaction.registry import normalize_secrets

__all__ = ["RedactingFilter"]

_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Redact ``record.msg``/``args``, the exception text and the stack info of every record.

    The message is formatted (``msg % args``) and then redacted, so a secret inside an
    argument's ``str()`` is masked too; ``args`` is emptied afterwards. Attached to a logger it
    sees only records logged through that logger; attach it to a handler to cover every
    logger that propagates there. It never drops a record.
    """

    def __init__(self, known_secrets: KnownSecrets = ()) -> None:
        super().__init__()
        self._known_secrets = normalize_secrets(known_secrets)

    def __repr__(self) -> str:
        return f"<RedactingFilter: {len(self._known_secrets)} known secret(s)>"

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place and keep it."""
        secrets = self._known_secrets
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave the formatting error to the handler
            record.msg = redact_text(record.msg, secrets)
            if isinstance(record.args, tuple):
                record.args = tuple(redact_mapping(arg, secrets) for arg in record.args)
            elif record.args is not None:
                record.args = {
                    key: redact_mapping(value, secrets) for key, value in record.args.items()
                }
        else:
            record.msg = redact_text(message, secrets)
            record.args = ()
        if record.exc_info and not record.exc_text:
            try:
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            except Exception:
                record.exc_text = "<unformattable exception>"
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        return True
