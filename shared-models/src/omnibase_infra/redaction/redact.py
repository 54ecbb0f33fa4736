"""Masking of secrets in text, URLs, headers and nested data. Pure functions, never raise."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple, overload
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from pydantic import BaseModel, SecretBytes, SecretStr

from omnibase_infra.redaction.registry import (
    REGISTRY,
    SecretLike,
    compile_secrets,
    normalize_secrets,
)

__all__ = [
    "MASK",
    "SENSITIVE_HEADERS",
    "carries_secret",
    "is_sensitive_key",
    "redact_headers",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "strip_userinfo",
]

MASK: Final = "***"
"""The one replacement for every masked value."""

type KnownSecrets = Iterable[SecretLike] | SecretLike

_MAX_DEPTH: Final = 32

# Words that make a key/parameter/header name sensitive (matched case-insensitively anywhere
# in the name, so db_password, X-Vault-Token and clientSecret all count). Short words that
# occur inside ordinary words (pass, pwd) only count as a separate name component.
_SENSITIVE_WORDS: Final = (
    r"pass(?:wd|word|phrase)|(?<![a-z])pass(?![a-z])|(?<![a-z])pwd(?![a-z])|secret|token"
    r"|api[_\-]?key|private[_\-]?key|credential|authorization|cookie|signature"
    r"|session[_\-]?id"
)
# ...unless the name says it holds something else about the secret (token_url, secret_path).
_EXEMPT_SUFFIXES: Final = (
    "url",
    "uri",
    "endpoint",
    "path",
    "type",
    "ttl",
    "expiry",
    "expires",
    "expires_in",
    "expires_at",
    "file",
    "length",
    "policy",
    "policies",
    "count",
    "name",
)


def _lazy(source: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """The pattern, compiled on its first use: compiling these at import was a
    measurable part of importing a node (issue 17), and most processes never mask."""
    return functools.cache(lambda: re.compile(source, flags))


_WORD_RE: Final = _lazy(_SENSITIVE_WORDS, re.IGNORECASE)
_EXEMPT_LOOKBEHIND: Final = "".join(f"(?<!{s})" for s in _EXEMPT_SUFFIXES)

SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-vault-token",
        "x-consul-token",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-amz-security-token",
        "webhook-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "stripe-signature",
        "x-webhook-signature",
    }
)
_AUTH_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})
_AUTH_SCHEMES: Final = r"Bearer|Basic|Digest|Token|Negotiate|Bot|OAuth|ApiKey|SSWS"

_PEM_RE: Final = _lazy(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# user:password@ after any scheme. The password runs to the LAST '@' before the host, as libpq
# and browsers parse it, so an unencoded '@' in a password does not leak its tail.
_URL_USERINFO_RE: Final = _lazy(
    r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/?#@]*:)(?P<password>[^\s/?#]*)@"
)
_COOKIE_RE: Final = _lazy(
    r"(?P<prefix>(?<![\w\-])(?:set-)?cookie[ \t]*:[ \t]*)(?P<value>[^\r\n]+)", re.IGNORECASE
)
_KV_RE: Final = _lazy(
    r"(?<![\w.\-])(?P<kq>[\"']?)"
    rf"(?P<key>[\w.\-]{{0,40}}?(?:{_SENSITIVE_WORDS})[\w.\-]{{0,40}}){_EXEMPT_LOOKBEHIND}"
    r"(?P=kq)(?P<sep>[ \t]*[:=][ \t]*)"
    r"(?P<value>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'"
    # Unquoted: up to whitespace, '&' or a quote; a closing bracket or ',' ';' is part of the
    # value only when more value follows ("p,ss" yes, the '}' of "{'secret_id': 12}" no).
    rf"|(?:(?:{_AUTH_SCHEMES})[ \t]+)?(?:[^\s&\"',;)\]}}]|[,;)\]}}](?![\s&\"',;)\]}}]|$))+)",
    re.IGNORECASE,
)
_KV_HINTS: Final = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "authorization",
    "cookie",
    "signature",
    "session",
)
_SCHEME_PREFIX_RE: Final = _lazy(rf"(?:{_AUTH_SCHEMES})[ \t]+", re.IGNORECASE)
_BEARER_RE: Final = _lazy(r"\b(?P<prefix>Bearer[ \t]+)(?P<token>[A-Za-z0-9\-._~+/]{8,}=*)")
_BASIC_RE: Final = _lazy(r"\b(?P<prefix>Basic[ \t]+)(?P<token>[A-Za-z0-9+/]{4,}={0,2})")
_JWT_RE: Final = _lazy(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
# Vault/OpenBao service, batch and recovery tokens: hvs./hvb./hvr. and the legacy s./b./r.
_VAULT_TOKEN_RE: Final = _lazy(
    r"(?<![\w.\-])(?:hv[sbr]\.[A-Za-z0-9_\-]{20,}|[sbr]\.(?=[A-Za-z_\-]*[0-9])[A-Za-z0-9_\-]{24,})"
)
_WHSEC_RE: Final = _lazy(r"\bwhsec_[A-Za-z0-9+/=_\-]+")
_LEADING_USERINFO_RE: Final = _lazy(
    r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)?(?P<userinfo>[^\s/?#@]*(?:@[^\s/?#@]*)*@)"
)


def _as_str(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    try:
        return str(value)
    except Exception:  # a broken __str__ must not break redaction
        return f"<unprintable {type(value).__name__}>"


def is_sensitive_key(name: object) -> bool:
    """True if a key/parameter/header called ``name`` holds a secret (case-insensitive)."""
    if isinstance(name, bytes | bytearray):
        name = bytes(name).decode("latin-1")
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return _WORD_RE().search(lowered) is not None and not lowered.endswith(_EXEMPT_SUFFIXES)


def _secret_pattern(known_secrets: KnownSecrets) -> re.Pattern[str] | None:
    registered = REGISTRY.snapshot()
    extra = normalize_secrets(known_secrets) if known_secrets else frozenset()
    return compile_secrets(registered | extra if extra else registered)


def _mask_kv(match: re.Match[str]) -> str:
    value = match["value"]
    if value[:1] in {'"', "'"}:
        masked = f"{value[0]}{MASK}{value[0]}"
    else:
        scheme = _SCHEME_PREFIX_RE().match(value)
        masked = f"{scheme.group(0)}{MASK}" if scheme and scheme.end() < len(value) else MASK
    return f"{match['kq']}{match['key']}{match['kq']}{match['sep']}{masked}"


def _mask_basic(match: re.Match[str]) -> str:
    try:
        decoded = base64.b64decode(match["token"], validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return f"{match['prefix']}{MASK}" if b":" in decoded else match.group(0)


def _redact(text: str, secrets: re.Pattern[str] | None) -> str:
    if "PRIVATE KEY-----" in text:
        text = _PEM_RE().sub(MASK, text)
    if secrets is not None:
        text = secrets.sub(MASK, text)
    if "://" in text:
        text = _URL_USERINFO_RE().sub(rf"\g<prefix>{MASK}@", text)
    lowered = text.lower()
    if "cookie" in lowered:
        text = _COOKIE_RE().sub(rf"\g<prefix>{MASK}", text)
    if any(word in lowered for word in _KV_HINTS):
        text = _KV_RE().sub(_mask_kv, text)
    if "Bearer" in text:
        text = _BEARER_RE().sub(rf"\g<prefix>{MASK}", text)
    if "Basic" in text:
        text = _BASIC_RE().sub(_mask_basic, text)
    if "eyJ" in text:
        text = _JWT_RE().sub(MASK, text)
    if "." in text:
        text = _VAULT_TOKEN_RE().sub(MASK, text)
    if "whsec_" in text:
        text = _WHSEC_RE().sub(MASK, text)
    return text


def redact_text(text: object, known_secrets: KnownSecrets = ()) -> str:
    """Mask every secret form found in ``text``; non-str input is converted with ``str()``.

    Masks: the password of ``user:password@`` in any URL/DSN (the user name is kept),
    ``key=value`` / ``key: value`` / ``"key": "value"`` pairs with a sensitive key (libpq
    keyword DSNs included), ``Authorization: Bearer/Basic ...`` (the scheme is kept), cookies,
    Vault tokens, JWTs, ``whsec_`` secrets, PEM private keys, and every registered or given
    known secret value (and its percent-encoded form).
    """
    try:
        return _redact(_as_str(text), _secret_pattern(known_secrets))
    except Exception:  # pragma: no cover - regexes over str cannot fail; never leak on a bug
        return MASK


def strip_userinfo(text: object) -> str:
    """Drop a leading ``user[:password]@`` entirely, then redact the rest.

    For error targets: ``postgresql://app:pw@db:5432/app`` -> ``postgresql://db:5432/app``,
    ``app:pw@db:5432`` -> ``db:5432``.
    """
    value = _as_str(text)
    value = _LEADING_USERINFO_RE().sub(lambda m: m["scheme"] or "", value, count=1)
    return redact_text(value)


def _redact_params(query: str) -> str:
    parts = []
    for part in query.split("&"):
        key, sep, _value = part.partition("=")
        parts.append(f"{key}={MASK}" if sep and is_sensitive_key(unquote(key)) else part)
    return "&".join(parts)


def redact_url(url: object) -> str:
    """Mask the password and sensitive query/fragment parameters of a URL.

    Scheme, user name, host, port and path are kept: the user name tells an operator which
    role failed to authenticate and is not a secret by itself; only the password is masked.
    Anything that does not parse as a URL is passed through :func:`redact_text`.
    """
    text = _as_str(url)
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return redact_text(text)
    if not parts.scheme or not parts.netloc:
        return redact_text(text)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{user}@{hostport}"
    rebuilt = SplitResult(
        parts.scheme,
        netloc,
        parts.path,
        _redact_params(parts.query) if parts.query else "",
        _redact_params(parts.fragment) if parts.fragment else "",
    )
    return redact_text(urlunsplit(rebuilt))


def carries_secret(text: object) -> bool:
    """Whether masking would change ``text`` (:func:`redact_url`, which falls back to
    :func:`redact_text`): a URL or DSN with a password or a sensitive query parameter, a
    token, a ``password=...`` pair. For refusing a secret where it would be exposed (a
    command line, visible to other users) instead of masking it afterwards."""
    value = _as_str(text)
    return redact_url(value).count(MASK) > value.count(MASK)


def _header_value(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered in _AUTH_HEADERS:
        scheme = _SCHEME_PREFIX_RE().match(value)
        return f"{scheme.group(0)}{MASK}" if scheme else MASK
    if lowered in SENSITIVE_HEADERS or is_sensitive_key(lowered):
        return MASK
    return redact_text(value)


def _header_str(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return _as_str(value)


@overload
def redact_headers(headers: Mapping[Any, object]) -> dict[str, str]: ...
@overload
def redact_headers(headers: Iterable[tuple[object, object]]) -> list[tuple[str, str]]: ...
def redact_headers(
    headers: Mapping[Any, object] | Iterable[tuple[object, object]],
) -> dict[str, str] | list[tuple[str, str]]:
    """Mask sensitive HTTP headers (case-insensitive); other values go through redact_text.

    A Mapping gives a dict (duplicate keys of a multidict collapse: pass
    ``list(headers.items())`` to keep them); an iterable of pairs gives a list of pairs.
    Authorization headers keep their scheme: ``Bearer ***``. bytes are decoded as latin-1.
    """
    if isinstance(headers, Mapping):
        result: dict[str, str] = {}
        for key, value in headers.items():
            name = _header_str(key)
            result[name] = _header_value(name, _header_str(value))
        return result
    pairs: list[tuple[str, str]] = []
    try:
        for item in headers:
            key, value = item
            name = _header_str(key)
            pairs.append((name, _header_value(name, _header_str(value))))
    except (TypeError, ValueError):
        return [("headers", MASK)]
    return pairs


class _Walk(NamedTuple):
    secrets: re.Pattern[str] | None
    seen: frozenset[int]


@overload
def redact_mapping[KeyT](
    obj: Mapping[KeyT, object], known_secrets: KnownSecrets = ()
) -> dict[KeyT, object]: ...
@overload
def redact_mapping(obj: object, known_secrets: KnownSecrets = ()) -> object: ...
def redact_mapping(obj: object, known_secrets: KnownSecrets = ()) -> object:
    """Recursively redact dicts/lists/tuples/sets: values under sensitive keys become MASK
    (None stays None), strings go through redact_text, ``SecretStr``/``SecretBytes`` become
    MASK, pydantic models are dumped first. Other objects are returned as they are; cycles
    and nesting deeper than 32 levels become MASK.
    """
    return _walk(obj, _Walk(_secret_pattern(known_secrets), frozenset()), 0)


def _walk(obj: object, ctx: _Walk, depth: int) -> object:
    if isinstance(obj, BaseModel):
        try:
            obj = obj.model_dump()
        except Exception:
            return MASK
    if isinstance(obj, str | bytes | bytearray | SecretStr | SecretBytes):
        return _walk_scalar(obj, ctx)
    if not isinstance(obj, Mapping | list | tuple | set | frozenset):
        return obj
    if depth >= _MAX_DEPTH or id(obj) in ctx.seen:
        return MASK
    return _walk_container(obj, _Walk(ctx.secrets, ctx.seen | {id(obj)}), depth + 1)


def _walk_scalar(obj: str | bytes | bytearray | SecretStr | SecretBytes, ctx: _Walk) -> object:
    if isinstance(obj, str):
        return _redact(obj, ctx.secrets)
    if isinstance(obj, SecretStr | SecretBytes):
        return MASK
    text = bytes(obj).decode("utf-8", errors="backslashreplace")
    redacted = _redact(text, ctx.secrets)
    return obj if redacted == text else redacted.encode("utf-8")


type _Container = (
    Mapping[object, object] | list[object] | tuple[object, ...] | set[object] | frozenset[object]
)


def _walk_container(obj: _Container, ctx: _Walk, depth: int) -> object:
    if isinstance(obj, Mapping):
        return {
            key: MASK if value is not None and is_sensitive_key(key) else _walk(value, ctx, depth)
            for key, value in obj.items()
        }
    items = [_walk(item, ctx, depth) for item in obj]
    if isinstance(obj, list):
        return items
    if isinstance(obj, set | frozenset):
        try:
            return frozenset(items) if isinstance(obj, frozenset) else set(items)
        except TypeError:  # a redacted item became unhashable (a dict)
            return items
    make = getattr(type(obj), "_make", None)  # namedtuple
    if callable(make):
        try:
            return make(items)
        except TypeError:
            pass
    return tuple(items)
