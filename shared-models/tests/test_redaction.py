"""Tests for omnibase_infra.redaction: every secret form, odd input, the filter, the registry."""

from __future__ import annotations

import io
import logging
import threading
from collections import namedtuple
from collections.abc import Iterator
from typing import NoReturn

import pytest
from pydantic import BaseModel, SecretBytes, SecretStr

from omnibase_infra.redaction import (
    MASK,
    MIN_SECRET_LENGTH,
    SENSITIVE_HEADERS,
    RedactingFilter,
    carries_secret,
    clear_registered_secrets,
    credential_from_command_line,
    is_sensitive_key,
    redact_headers,
    redact_mapping,
    redact_text,
    redact_url,
    register_secret,
    registered_secret_count,
    strip_userinfo,
    unregister_secret,
)
from omnibase_infra.redaction.registry import REGISTRY

JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJzZXJ2aWNlLWEiLCJhenAiOiJvbW5pYmFzZSJ9"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmUtX0FBQkI"
)
VAULT_HVS = "hvs.CAESIJlWh4nWzNMz3gP0HjGqAbCdEfGhIjKlMnOpQrStUvWx"


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    clear_registered_secrets()
    yield
    clear_registered_secrets()


# --- redact_text: one case per secret form: (text, the secret, what must remain) ----------

SECRET_FORMS = [
    pytest.param(
        "connect postgresql://app:s3cr3t-pw@db.internal:5432/app failed",
        "s3cr3t-pw",
        f"postgresql://app:{MASK}@db.internal:5432/app",
        id="postgresql-dsn",
    ),
    pytest.param(
        "dsn=postgres://app:Pa55word@db/app",
        "Pa55word",
        f"postgres://app:{MASK}@db/app",
        id="postgres-dsn",
    ),
    pytest.param(
        "postgres://app:p@ss@word@db:5432/app",
        "ss@word",
        f"postgres://app:{MASK}@db:5432/app",
        id="dsn-password-with-at",
    ),
    pytest.param(
        "GET https://user:hunter22@api.example.com/v1",
        "hunter22",
        f"https://user:{MASK}@api.example.com/v1",
        id="https-userinfo",
    ),
    pytest.param(
        "http://admin:adminpw@127.0.0.1:8080/x",
        "adminpw",
        f"http://admin:{MASK}@127.0.0.1:8080/x",
        id="http-userinfo",
    ),
    pytest.param(
        "redis://:r3d1spass@cache:6379/0",
        "r3d1spass",
        f"redis://:{MASK}@cache:6379/0",
        id="redis-password-only",
    ),
    pytest.param(
        "amqp://guest:rabbitpw@mq:5672//",
        "rabbitpw",
        f"amqp://guest:{MASK}@mq:5672//",
        id="amqp",
    ),
    pytest.param(
        "host=db port=5432 user=app password=libpqSecret dbname=app",
        "libpqSecret",
        f"host=db port=5432 user=app password={MASK} dbname=app",
        id="libpq-keyword-dsn",
    ),
    pytest.param(
        "host=db password='with spaces inside' user=app",
        "with spaces inside",
        f"host=db password='{MASK}' user=app",
        id="libpq-quoted",
    ),
    pytest.param(
        '{"user": "bob", "password": "json\\"pw", "port": 5432}',
        'json\\"pw',
        f'{{"user": "bob", "password": "{MASK}", "port": 5432}}',
        id="json-pair",
    ),
    pytest.param(
        "{'api_key': 'k-123456', 'secret_id': 123456}",
        "123456",
        f"{{'api_key': '{MASK}', 'secret_id': {MASK}}}",
        id="python-repr",
    ),
    pytest.param("PASSWD=abc12345 next", "abc12345", f"PASSWD={MASK} next", id="passwd-upper"),
    pytest.param("pwd: pw-value-1", "pw-value-1", f"pwd: {MASK}", id="pwd-colon"),
    pytest.param("db_pass=zz-top-1 x", "zz-top-1", f"db_pass={MASK} x", id="pass-component"),
    pytest.param("Secret = shh-1234", "shh-1234", f"Secret = {MASK}", id="secret-spaces"),
    pytest.param("token=tok-abcdef", "tok-abcdef", f"token={MASK}", id="token"),
    pytest.param("apikey=ak-998877", "ak-998877", f"apikey={MASK}", id="apikey"),
    pytest.param("API-KEY: ak-445566", "ak-445566", f"API-KEY: {MASK}", id="api-key-header"),
    pytest.param(
        "?access_token=at-111&refresh_token=rt-222&x=1",
        "at-111",
        f"?access_token={MASK}&refresh_token={MASK}&x=1",
        id="query-tokens",
    ),
    pytest.param(
        "client_secret=cs-777; next",
        "cs-777",
        f"client_secret={MASK}; next",
        id="client-secret",
    ),
    pytest.param("secret_id: sid-42424242", "sid-42424242", f"secret_id: {MASK}", id="secret-id"),
    pytest.param(
        "private_key=pk-abcdefgh end",
        "pk-abcdefgh",
        f"private_key={MASK} end",
        id="private-key",
    ),
    pytest.param(
        "credentials: cred-value-9",
        "cred-value-9",
        f"credentials: {MASK}",
        id="credentials",
    ),
    pytest.param("credential=cred-1-x", "cred-1-x", f"credential={MASK}", id="credential"),
    pytest.param(
        "clientSecret=camelCaseSecret",
        "camelCaseSecret",
        f"clientSecret={MASK}",
        id="camel-case-key",
    ),
    pytest.param(
        "Authorization: Bearer abc.def-ghi_jkl",
        "abc.def-ghi_jkl",
        f"Authorization: Bearer {MASK}",
        id="authorization-bearer",
    ),
    pytest.param(
        "authorization=Basic dXNlcjpwYXNzd29yZA==",
        "dXNlcjpwYXNzd29yZA==",
        f"authorization=Basic {MASK}",
        id="authorization-basic",
    ),
    pytest.param(
        "Proxy-Authorization: opaque-credential",
        "opaque-credential",
        f"Proxy-Authorization: {MASK}",
        id="proxy-authorization-no-scheme",
    ),
    pytest.param(
        "sent header Bearer ya29.a0AfH6SMBx3 to idp",
        "ya29.a0AfH6SMBx3",
        f"Bearer {MASK} to idp",
        id="standalone-bearer",
    ),
    pytest.param(
        "using Basic dXNlcjpwYXNzd29yZA== now",
        "dXNlcjpwYXNzd29yZA==",
        f"Basic {MASK} now",
        id="standalone-basic",
    ),
    pytest.param(
        f"X-Vault-Token: {VAULT_HVS}",
        VAULT_HVS,
        f"X-Vault-Token: {MASK}",
        id="x-vault-token-header",
    ),
    pytest.param(
        "X-Consul-Token: 3f1c9a7e-consul-acl",
        "3f1c9a7e-consul-acl",
        f"X-Consul-Token: {MASK}",
        id="x-consul-token-header",
    ),
    pytest.param(
        f"renewed {VAULT_HVS} ok",
        VAULT_HVS,
        f"renewed {MASK} ok",
        id="vault-hvs-token",
    ),
    pytest.param(
        "legacy s.Ab3dEfGhIjKlMnOpQrStUvWx used",
        "s.Ab3dEfGhIjKlMnOpQrStUvWx",
        f"legacy {MASK} used",
        id="vault-legacy-s-token",
    ),
    pytest.param(
        "batch b.AAAAAQJ1c2VyLXRva2VuLWJhdGNoLTEyMw here",
        "b.AAAAAQJ1c2VyLXRva2VuLWJhdGNoLTEyMw",
        f"batch {MASK} here",
        id="vault-batch-token",
    ),
    pytest.param(f"access token {JWT} issued", JWT, f"access token {MASK} issued", id="jwt"),
    pytest.param(
        "signing with whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw done",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        f"signing with {MASK} done",
        id="whsec",
    ),
    pytest.param(
        "Cookie: theme=dark; session=s3ss10n\nnext line",
        "s3ss10n",
        f"Cookie: {MASK}\nnext line",
        id="cookie-header",
    ),
    pytest.param(
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA",
        f"key:\n{MASK}",
        id="pem-private-key",
    ),
]


@pytest.mark.parametrize(("text", "secret", "expected"), SECRET_FORMS)
def test_redact_text_masks_each_secret_form(text: str, secret: str, expected: str) -> None:
    result = redact_text(text)
    assert secret not in result
    assert expected in result


@pytest.mark.parametrize(
    "text",
    [
        "connection refused to db.internal:5432 after 3 attempts",
        "token_url=https://kc/realms/r/protocol/openid-connect/token token_type=bearer",
        "secret_path=secret/data/app",
        "wrong password for user bob",
        "Basic authentication failed",
        "missing Bearer token",
        "items.abcdefghijklmnopqrstuvwxyz r.get_secret_value_from_somewhere()",
        "http://example.com/a:b@c and time 10:30",
        "correlation_id=9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
        "100% done, passenger=42, bypass=1",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text) == text


def test_redact_text_is_idempotent() -> None:
    once = redact_text(f"postgres://a:b-pass@h/d password=x token={JWT}")
    assert redact_text(once) == once


def test_known_secrets_longest_first_and_short_ignored() -> None:
    text = "outer=topsecretvalue-extended inner=topsecretvalue tiny=abc"
    result = redact_text(text, known_secrets=["topsecretvalue", "topsecretvalue-extended", "abc"])
    assert result == f"outer={MASK} inner={MASK} tiny=abc"


def test_known_secrets_accepts_single_values_and_secret_types() -> None:
    assert redact_text("a runtimeval b", known_secrets="runtimeval") == f"a {MASK} b"
    assert redact_text("a runtimeval b", known_secrets=SecretStr("runtimeval")) == f"a {MASK} b"
    assert redact_text("a bytesval1 b", known_secrets=[b"bytesval1"]) == f"a {MASK} b"
    assert redact_text("a sb-value b", known_secrets=[SecretBytes(b"sb-value")]) == f"a {MASK} b"
    assert redact_text("x", known_secrets=42) == "x"  # type: ignore[arg-type]


def test_known_secret_percent_encoded_form_is_masked() -> None:
    result = redact_text("dsn u:p%40ss%20w0rd%21@h raw p@ss w0rd!", known_secrets=["p@ss w0rd!"])
    assert result == f"dsn u:{MASK}@h raw {MASK}"


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "None"),
        (12345, "12345"),
        (b"password=bytes-pw", f"password={MASK}"),
        (bytearray(b"\xff token=t0k3n"), f"\\xff token={MASK}"),
        (_Unprintable(), "<unprintable _Unprintable>"),
        ("", ""),
    ],
)
def test_redact_text_odd_input(value: object, expected: str) -> None:
    assert redact_text(value) == expected


# --- registry ----------------------------------------------------------------------------


def test_registered_secret_is_masked_everywhere() -> None:
    assert register_secret("runtime-vault-token-1") is True
    assert redact_text("tok runtime-vault-token-1 end") == f"tok {MASK} end"
    assert redact_mapping({"note": "got runtime-vault-token-1"}) == {"note": f"got {MASK}"}
    unregister_secret("runtime-vault-token-1")
    assert redact_text("tok runtime-vault-token-1 end") == "tok runtime-vault-token-1 end"


def test_register_rejects_short_values_and_counts_variants() -> None:
    assert register_secret("x" * (MIN_SECRET_LENGTH - 1)) is False
    assert register_secret("") is False
    assert registered_secret_count() == 0
    assert register_secret(SecretStr("needs encoding!")) is True
    assert registered_secret_count() == 2  # plain and percent-encoded
    assert register_secret(b"plainbytes") is True
    assert registered_secret_count() == 3


def test_registry_repr_does_not_reveal_values() -> None:
    register_secret("never-print-me")
    assert "never-print-me" not in repr(REGISTRY)
    assert "1 value" in repr(REGISTRY)


def test_registry_is_thread_safe() -> None:
    def worker(index: int) -> None:
        for item in range(50):
            register_secret(f"secret-{index}-{item:03d}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registered_secret_count() == 8 * 50
    assert redact_text("secret-7-049") == MASK


# --- is_sensitive_key / strip_userinfo -----------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWORD",
        "passwd",
        "pwd",
        "db-pass",
        "secret",
        "token",
        "api_key",
        "apikey",
        "x-api-key",
        "access_token",
        "refresh_token",
        "client_secret",
        "secret_id",
        "Authorization",
        "private_key",
        "credentials",
        "X-Vault-Token",
        "Set-Cookie",
        "webhook-signature",
        b"password",
    ],
)
def test_sensitive_keys(key: object) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key",
    ["username", "host", "token_url", "token_type", "secret_path", "passenger", 7, None, ("a",)],
)
def test_not_sensitive_keys(key: object) -> None:
    assert not is_sensitive_key(key)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("postgresql://app:pw-1234@db:5432/app", "postgresql://db:5432/app"),
        ("app:p@ss@db:5432", "db:5432"),
        ("vault:8200", "vault:8200"),
        ("secret/data/app", "secret/data/app"),
        (
            "https://kc:8443/realms/x?client_secret=abc",
            f"https://kc:8443/realms/x?client_secret={MASK}",
        ),
        ("host=db password=kw-secret", f"host=db password={MASK}"),
    ],
)
def test_strip_userinfo(target: str, expected: str) -> None:
    assert strip_userinfo(target) == expected


# --- redact_url ----------------------------------------------------------------------------


def test_redact_url_keeps_user_host_path_and_masks_password_and_params() -> None:
    url = "postgresql://app:dbpw1234@db:5432/app?sslmode=require&password=q1w2e3&x=%20#access_token=frag-tok"
    result = redact_url(url)
    assert result == (
        f"postgresql://app:{MASK}@db:5432/app?sslmode=require&password={MASK}&x=%20"
        f"#access_token={MASK}"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ghp_user@github.com/org", "https://ghp_user@github.com/org"),
        ("https://h/p?api%5Fkey=zzz&flag", f"https://h/p?api%5Fkey={MASK}&flag"),
        ("not a url password=pw-5678", f"not a url password={MASK}"),
        ("http://[::1", "http://[::1"),
        ("http://u:pw-99@host:notaport/x", f"http://u:{MASK}@host:notaport/x"),
        (b"redis://:bpw-1234@r:6379", f"redis://:{MASK}@r:6379"),
        ("https://h/?t=" + JWT, f"https://h/?t={MASK}"),
    ],
)
def test_redact_url_edge_cases(url: object, expected: str) -> None:
    assert redact_url(url) == expected


# --- redact_headers ------------------------------------------------------------------------


def test_redact_headers_mapping() -> None:
    headers = {
        "Authorization": "Bearer eyJ.abc.def",
        "proxy-authorization": "Basic dXNlcjpwYXNz",
        "X-Vault-Token": VAULT_HVS,
        "x-consul-token": "consul-acl-token",
        "X-Api-Key": "key-123",
        "Cookie": "sid=1",
        "Set-Cookie": "sid=2; HttpOnly",
        "webhook-signature": "v1,abc",
        "X-Custom-Secret": "custom",
        "Accept": "application/json",
        "Location": "https://u:locpw-1@h/next",
    }
    result = redact_headers(headers)
    assert result == {
        "Authorization": f"Bearer {MASK}",
        "proxy-authorization": f"Basic {MASK}",
        "X-Vault-Token": MASK,
        "x-consul-token": MASK,
        "X-Api-Key": MASK,
        "Cookie": MASK,
        "Set-Cookie": MASK,
        "webhook-signature": MASK,
        "X-Custom-Secret": MASK,
        "Accept": "application/json",
        "Location": f"https://u:{MASK}@h/next",
    }


def test_redact_headers_pairs_keep_duplicates_and_decode_bytes() -> None:
    pairs = [(b"authorization", b"opaque"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2"), (b"a", 1)]
    assert redact_headers(pairs) == [
        ("authorization", MASK),
        ("Set-Cookie", MASK),
        ("set-cookie", MASK),
        ("a", "1"),
    ]


def test_redact_headers_malformed_input_does_not_raise() -> None:
    assert redact_headers([("only-one",)]) == [("headers", MASK)]  # type: ignore[list-item]
    assert redact_headers(42) == [("headers", MASK)]  # type: ignore[call-overload]


def test_sensitive_header_names_are_all_detected() -> None:
    for name in SENSITIVE_HEADERS:
        assert redact_headers({name.upper(): "v4lue"})[name.upper()] != "v4lue"


# --- redact_mapping ------------------------------------------------------------------------


class _Creds(BaseModel):
    username: str
    password: SecretStr
    note: str


Pair = namedtuple("Pair", ["name", "value"])


def test_redact_mapping_nested_structures() -> None:
    data = {
        "db": {
            "password": "pw-nested",
            "dsn": "postgres://app:dsnpw-1@db/app",
            "hosts": ["a:5432", "token=list-tok"],
            "opts": ("x", {"Client_Secret": "cs"}),
            "tags": {"plain", "password=inset"},
            "frozen": frozenset({"api_key=fz"}),
        },
        "credentials": {"user": "u", "password": "p"},
        "none_password": None,
        "model": _Creds(username="u", password=SecretStr("model-pw"), note="token=nt"),
        "secret_str": SecretStr("ss-value"),
        "items": [SecretStr("in-list-1"), SecretBytes(b"in-list-2")],
        "secret_bytes": SecretBytes(b"sb-value"),
        "raw": b"password=bytes-pw",
        "clean_bytes": b"hello",
        "pair": Pair("n", "password=np"),
        7: "non-str key",
        b"password": "bytes key",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "obj": threading,
    }
    result = redact_mapping(data)
    db = result["db"]
    assert isinstance(db, dict)
    assert db["password"] == MASK
    assert db["dsn"] == f"postgres://app:{MASK}@db/app"
    assert db["hosts"] == ["a:5432", f"token={MASK}"]
    assert db["opts"] == ("x", {"Client_Secret": MASK})
    assert db["tags"] == {"plain", f"password={MASK}"}
    assert db["frozen"] == frozenset({f"api_key={MASK}"})
    assert result["credentials"] == MASK
    assert result["none_password"] is None
    assert result["model"] == {"username": "u", "password": MASK, "note": f"token={MASK}"}
    assert result["secret_str"] == MASK
    assert result["secret_bytes"] == MASK
    assert result["items"] == [MASK, MASK]
    assert result["raw"] == f"password={MASK}".encode()
    assert result["clean_bytes"] is data["clean_bytes"]
    assert result["pair"] == Pair("n", f"password={MASK}")
    assert isinstance(result["pair"], Pair)
    assert result[7] == "non-str key"
    assert result[b"password"] == MASK
    assert (result["count"], result["ratio"], result["flag"], result["obj"]) == (
        3,
        0.5,
        True,
        threading,
    )
    assert "pw-nested" not in repr(result)
    assert data["db"]["password"] == "pw-nested"  # type: ignore[index]  # input untouched


def test_redact_mapping_known_secrets_and_scalars() -> None:
    assert redact_mapping(["x my-known-1"], known_secrets=["my-known-1"]) == [f"x {MASK}"]
    assert redact_mapping("password=top") == f"password={MASK}"
    assert redact_mapping(None) is None


def test_redact_mapping_cycles_and_depth() -> None:
    cyclic: dict[str, object] = {"name": "a"}
    cyclic["self"] = cyclic
    assert redact_mapping(cyclic) == {"name": "a", "self": MASK}
    deep: object = "leaf"
    for _ in range(40):
        deep = [deep]
    result = redact_mapping(deep)
    for _ in range(32):
        assert isinstance(result, list)
        result = result[0]
    assert result == MASK


class _BrokenModel(BaseModel):
    value: int

    def model_dump(self, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("cannot dump")


class _BadTuple(tuple[object, ...]):
    _make = None


class _StrictPair(namedtuple("_StrictPair", ["a", "b"])):
    @classmethod
    def _make(cls, iterable: object) -> _StrictPair:  # type: ignore[override]
        raise TypeError("no")


def test_redact_mapping_fallbacks_never_raise() -> None:
    assert redact_mapping(_BrokenModel(value=1)) == MASK
    assert redact_mapping({frozenset({"token=x"})}) == {frozenset({f"token={MASK}"})}
    unhashable = redact_mapping({_Hashable()})
    assert unhashable == [{"password": MASK}]
    assert redact_mapping(_BadTuple(("token=t",))) == (f"token={MASK}",)
    assert redact_mapping(_StrictPair("token=a", "b")) == (f"token={MASK}", "b")


class _Hashable(BaseModel):
    """Hashable pydantic model that dumps to an (unhashable) dict."""

    model_config = {"frozen": True}
    password: str = "hash-pw"


# --- RedactingFilter -----------------------------------------------------------------------


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(known_secrets=["filter-known-1"]))
    logger = logging.getLogger("omnibase_infra.tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_filter_redacts_message_args_and_known_secrets(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.info("connecting to %s attempt %d", "postgres://app:argpw-1@db/app", 2)
    logger.info("%(dsn)s", {"dsn": "password=dictpw-1"})
    logger.info("header Authorization: Bearer %s", JWT)
    logger.info("known filter-known-1 and 100%")
    out = stream.getvalue()
    assert f"connecting to postgres://app:{MASK}@db/app attempt 2" in out
    assert f"password={MASK}" in out
    assert f"Authorization: Bearer {MASK}" in out
    assert f"known {MASK} and 100%" in out
    for secret in ("argpw-1", "dictpw-1", JWT, "filter-known-1"):
        assert secret not in out


def test_filter_redacts_exception_and_stack(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise ValueError("bad dsn postgres://app:excpw-1@db/app")
    except ValueError:
        logger.exception("failed")
    logger.info("here %s", "token=stk-1", stack_info=True)
    out = stream.getvalue()
    assert "ValueError: bad dsn postgres://app:***@db/app" in out
    assert "Stack (most recent call last)" in out
    assert "excpw-1" not in out
    assert "stk-1" not in out


def test_filter_on_record_with_bad_format_and_precomputed_exc_text() -> None:
    filt = RedactingFilter()
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "%d token=%s", ("notanint", "tok-abc"), None
    )
    assert filt.filter(record) is True
    assert record.msg == f"%d token={MASK}"
    assert record.args == ("notanint", "tok-abc")  # args alone carry no key: kept
    mapping_record = logging.LogRecord("x", logging.INFO, __file__, 1, "%(a)d", None, None)
    mapping_record.args = {"a": "password=mp"}
    assert filt.filter(mapping_record) is True
    assert mapping_record.args == {"a": f"password={MASK}"}
    broken_record = logging.LogRecord("x", logging.INFO, __file__, 1, _Unprintable(), None, None)
    assert filt.filter(broken_record) is True
    assert broken_record.msg == "<unprintable _Unprintable>"
    exc_record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", (), None)
    exc_record.exc_text = "Traceback: password=pre-1"
    filt.filter(exc_record)
    assert exc_record.exc_text == f"Traceback: password={MASK}"
    assert "known" in repr(filt)


def test_filter_survives_unformattable_exc_info() -> None:
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "m",
        (),
        ("not", "an", "exc_info"),  # type: ignore[arg-type]
    )
    assert RedactingFilter().filter(record) is True
    assert record.exc_text == "<unformattable exception>"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://app:pw@db:5432/app", True),
        ("postgresql://db/app?password=x", True),
        ("redis://:pw@127.0.0.1:6379/0", True),
        ("host=db password=secret", True),
        ("https://hooks.example/in?token=abc", True),
        ("whsec_abcdefghijklmnop", True),
        ("postgresql://app@db:5432/app", False),
        ("redis://127.0.0.1:6379/0", False),
        ("https://hooks.example/in", False),
        ("billing", False),
        ("already masked: ***", False),
    ],
)
def test_carries_secret_is_whether_masking_changes_the_text(text: str, secret: bool) -> None:
    assert carries_secret(text) is secret


class _UsageExit(Exception):
    pass


def _error(message: str) -> NoReturn:
    raise _UsageExit(message)


def _credential(
    value: str | None, *, from_stdin: bool = False, env: str = "", stdin: str = ""
) -> str:
    return credential_from_command_line(
        _error,
        what="DSN",
        option="--dsn",
        value=value,
        from_stdin=from_stdin,
        env="APP_DSN",
        environ={"APP_DSN": env} if env else {},
        stdin=io.StringIO(stdin),
    )


def test_a_credential_comes_from_stdin_the_option_without_secret_or_the_environment() -> None:
    assert _credential(None, from_stdin=True, stdin="postgresql://a:pw@db/x\nignored") == (
        "postgresql://a:pw@db/x"
    )
    assert _credential("postgresql://a@db/x", env="postgresql://b:pw@db/y") == (
        "postgresql://a@db/x"
    )
    assert _credential(None, env=" postgresql://b:pw@db/y ") == "postgresql://b:pw@db/y"


@pytest.mark.parametrize(
    ("value", "from_stdin", "message"),
    [
        ("postgresql://a:cli-Pw-9@db/x", False, "--dsn holds a password or token"),
        ("host=db password=cli-Pw-9", False, "set APP_DSN, or pass --dsn-stdin"),
        ("postgresql://a@db/x", True, "give --dsn or --dsn-stdin, not both"),
        (None, False, "no DSN: set APP_DSN"),
        (None, True, "no DSN"),
    ],
)
def test_a_credential_on_the_command_line_is_refused_without_repeating_it(
    value: str | None, from_stdin: bool, message: str
) -> None:
    with pytest.raises(_UsageExit, match=message) as refused:
        _credential(value, from_stdin=from_stdin)
    assert "cli-Pw-9" not in str(refused.value)
