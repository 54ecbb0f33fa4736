"""``NodeKeycloakAdapterEffect``: Keycloak (or any OpenID Provider) as an EFFECT node.

Async end to end on aiohttp; tokens verified locally with PyJWT against a cached JWKS
(:mod:`.jwks`), so a verification makes no network call once the realm's keys are held.
Every network operation runs under an enforced deadline (``timeout_seconds``, retries
included), through the issuer's circuit breaker (one per issuer), is retried only when the
error is transient, and raises the taxonomy's error with the caller's correlation id. The
client secret, passwords and tokens stay ``SecretStr``; the client secret and passwords are
registered with the redaction registry, and JWTs are masked by the redaction patterns.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import ssl
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Final, overload
from uuid import UUID

import aiohttp
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes import ModelEffectInput, ModelEffectOutput, NodeEffect
from opentelemetry import metrics, trace
from pydantic import BaseModel, SecretStr

from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraError,
    InfraPermissionError,
    InfraProtocolError,
    InfraTimeoutError,
    InfraUnavailableError,
    InfraValidationError,
)
from omnibase_infra.lifetime import LeaseGrant, LifetimeManager
from omnibase_infra.models import ModelCorrelationContext, ModelInfraRequest
from omnibase_infra.models.effect_input import process_effect_input
from omnibase_infra.models.keycloak import (
    ModelKeycloakConfig,
    ModelKeycloakEndpoints,
    ModelKeycloakIntrospection,
    ModelKeycloakIntrospectRequest,
    ModelKeycloakLogoutRequest,
    ModelKeycloakLogoutResponse,
    ModelKeycloakToken,
    ModelKeycloakTokenClaims,
    ModelKeycloakTokenRequest,
    ModelKeycloakUserinfo,
    ModelKeycloakUserinfoRequest,
    ModelKeycloakVerifyRequest,
    parse_keycloak_request,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    TRANSPORT,
    KeycloakTokenError,
    TokenAlgorithmError,
    TokenMalformedError,
    TokenSignatureError,
    TokenUnknownKeyError,
    from_http_status,
    from_transport,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwks import JwksCache
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwt_check import (
    ALGORITHMS,
    b64url,
    check_claims,
    header_of,
    json_object,
)
from omnibase_infra.observability.telemetry import (
    AttributeValue,
    OperationTelemetry,
    split_target,
)
from omnibase_infra.redaction import register_secret
from omnibase_infra.resilience import ModelRetryPolicy, is_transient, run_with_retry
from omnibase_infra.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    ModelCircuitBreakerConfig,
)

__all__ = [
    "AUDIENCE_ENV",
    "CLIENT_ID_ENV",
    "CLIENT_SECRET_ENV",
    "ISSUER_ENV",
    "NodeKeycloakAdapterEffect",
]

ISSUER_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_ISSUER"
CLIENT_ID_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_CLIENT_ID"
CLIENT_SECRET_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_CLIENT_SECRET"  # noqa: S105 - a name
AUDIENCE_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_AUDIENCE"  # comma-separated

logger = logging.getLogger("omnibase_infra.nodes.node_keycloak_adapter_effect")


def _env_config() -> ModelKeycloakConfig | None:
    issuer = os.environ.get(ISSUER_ENV, "").strip()
    if not issuer:
        return None
    secret = os.environ.get(CLIENT_SECRET_ENV, "")
    return ModelKeycloakConfig(
        issuer=issuer,
        client_id=os.environ.get(CLIENT_ID_ENV, "").strip() or "omnibase",
        client_secret=SecretStr(secret) if secret else None,
        audience=tuple(a.strip() for a in os.environ.get(AUDIENCE_ENV, "").split(",") if a.strip()),
    )


def _utc(seconds: object) -> datetime | None:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return datetime.fromtimestamp(seconds, UTC)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _roles(claims: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Keycloak's ``realm_access.roles`` and ``resource_access.{client}.roles``."""
    realm_access = claims.get("realm_access")
    realm_roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    realm = (
        tuple(r for r in realm_roles if isinstance(r, str)) if isinstance(realm_roles, list) else ()
    )
    client: dict[str, tuple[str, ...]] = {}
    resource_access = claims.get("resource_access")
    if isinstance(resource_access, dict):
        for client_id, access in resource_access.items():
            roles = access.get("roles") if isinstance(access, dict) else None
            if isinstance(roles, list):
                client[str(client_id)] = tuple(r for r in roles if isinstance(r, str))
    return realm, client


def _audience(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(a for a in value if isinstance(a, str))
    return ()


@dataclass(slots=True)
class _CachedToken:
    token: ModelKeycloakToken
    refresh_at: float  # monotonic: replace it from here on
    usable_until: float  # monotonic: never hand it out from here on


class NodeKeycloakAdapterEffect(NodeEffect):
    """Keycloak/OIDC EFFECT node: token grants, local verification, introspection,
    userinfo, roles and logout.

    ``config`` defaults to ``OMNIBASE_INFRA_KEYCLOAK_ISSUER`` / ``..._CLIENT_ID`` /
    ``..._CLIENT_SECRET``. ``process(request)`` takes any request of
    ``omnibase_infra.models.keycloak`` and returns its response; :meth:`token`,
    :meth:`verify`, :meth:`verify_token`, :meth:`introspect`, :meth:`userinfo` and
    :meth:`logout` are the same operations, typed. ``clock`` (monotonic seconds) drives the
    JWKS cooldown and the token cache; ``wall_clock`` (epoch seconds) the ``exp``/``nbf``
    checks. :attr:`network_requests` counts every HTTP request sent, by endpoint.
    """

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelKeycloakConfig | None = None,
        retry_policy: ModelRetryPolicy | None = None,
        breakers: BreakerRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        super().__init__(container if container is not None else ModelONEXContainer())
        resolved = config if config is not None else _env_config()
        if resolved is None:
            raise InfraConfigurationError(
                f"no Keycloak configuration: pass config= or set {ISSUER_ENV}",
                transport=TRANSPORT,
                operation="configure",
            )
        self._config = resolved
        self._target = resolved.issuer
        if resolved.client_secret is not None:
            register_secret(resolved.client_secret.get_secret_value())
        self._retry_policy = retry_policy if retry_policy is not None else ModelRetryPolicy()
        self._breakers = (
            breakers if breakers is not None else BreakerRegistry(ModelCircuitBreakerConfig())
        )
        self._breaker: CircuitBreaker = self._breakers.get(TRANSPORT, self._target)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._endpoints: ModelKeycloakEndpoints | None = None
        self._endpoints_at = 0.0
        self._discovery_lock = asyncio.Lock()
        self._jwks = JwksCache(
            self._fetch_jwks,
            ttl_seconds=resolved.jwks_ttl_seconds,
            cooldown_seconds=resolved.jwks_refetch_cooldown_seconds,
            clock=clock,
        )
        self._algorithms = frozenset(resolved.algorithms)
        self._tokens: dict[tuple[str | None], _CachedToken] = {}
        self._token_locks: dict[tuple[str | None], asyncio.Lock] = {}
        self._lifetimes: dict[str | None, LifetimeManager] = {}
        self.network_requests: Counter[str] = Counter()
        self._telemetry = keycloak_telemetry(
            resolved, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"NodeKeycloakAdapterEffect(issuer={self._target!r}, "
            f"client_id={self._config.client_id!r})"
        )

    @property
    def config(self) -> ModelKeycloakConfig:
        """The node's configuration (the client secret stays a ``SecretStr``)."""
        return self._config

    @property
    def breaker(self) -> CircuitBreaker:
        """The issuer's circuit breaker."""
        return self._breaker

    @property
    def jwks(self) -> JwksCache:
        """The realm's cached signing keys."""
        return self._jwks

    async def close(self) -> None:
        """Stop the token lifetimes and close the HTTP session; idempotent."""
        if self._closed:
            return
        self._closed = True
        for manager in self._lifetimes.values():
            await manager.stop()
        self._tokens.clear()
        if self._session is not None:
            await self._session.close()

    # -- HTTP: the machinery every network operation goes through -----------------------

    def _http_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise InfraConfigurationError(
                "the node is closed", transport=TRANSPORT, operation="http", target=self._target
            )
        if self._session is None:
            ssl_setting: ssl.SSLContext | bool = self._config.verify_tls
            if self._config.ca_cert_path:
                ssl_setting = ssl.create_default_context(cafile=self._config.ca_cert_path)
            trace = aiohttp.TraceConfig()
            trace.on_request_start.append(self._count_request)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_setting),
                timeout=aiohttp.ClientTimeout(total=self._config.request_timeout_seconds),
                trace_configs=[trace],
                trust_env=False,
            )
        return self._session

    async def _count_request(
        self,
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        self.network_requests[self._endpoint_name(str(params.url))] += 1

    def _endpoint_name(self, url: str) -> str:
        path = url.split("?", 1)[0]
        if path.endswith("/.well-known/openid-configuration"):
            return "discovery"
        endpoints = self._endpoints or ModelKeycloakEndpoints.keycloak_defaults(self._target)
        for name in ("token_endpoint", "jwks_uri", "introspection_endpoint"):
            if path == getattr(endpoints, name):
                return name.removesuffix("_endpoint").removesuffix("_uri")
        for name in ("userinfo_endpoint", "end_session_endpoint"):
            if path == getattr(endpoints, name):
                return name.removesuffix("_endpoint")
        return "other"

    @property
    def total_network_requests(self) -> int:
        """Every HTTP request this node has sent."""
        return sum(self.network_requests.values())

    async def _run[T](
        self,
        operation: str,
        correlation: ModelCorrelationContext,
        timeout_seconds: float,
        work: Callable[[list[int]], Awaitable[T]],
    ) -> T:
        """``work(attempts)`` under the deadline, in a span with its metrics; failures
        logged (by type only) and re-raised. ``work`` counts its attempts in ``attempts[0]``."""
        correlation_id = correlation.correlation_id
        attempts = [0]
        started = time.perf_counter()
        span = self._telemetry.start(operation, correlation)
        error: InfraError | None = None
        try:
            async with asyncio.timeout(timeout_seconds):
                return await work(attempts)
        except TimeoutError as exc:
            error = InfraTimeoutError(
                f"{operation} did not finish within {timeout_seconds}s",
                transport=TRANSPORT,
                operation=operation,
                target=self._target,
                correlation_id=correlation_id,
                timeout_seconds=timeout_seconds,
            )
            raise error from exc
        except InfraError as exc:
            error = exc
            raise
        finally:
            duration = time.perf_counter() - started
            self._telemetry.finish(
                span, operation, duration, attempts=max(attempts[0], 1), error=error
            )
            if error is not None:
                logger.warning(
                    "keycloak %s failed: %s",
                    operation,
                    type(error).__name__,
                    extra={"correlation_id": str(correlation_id), "keycloak_operation": operation},
                )

    async def _send(
        self,
        operation: str,
        correlation_id: UUID,
        method: str,
        url: str,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One HTTP request through the breaker; the status and the JSON body (None if
        empty). A non-2xx answer raises the taxonomy's error."""
        session = self._http_session()
        async with self._breaker.guard(operation=operation, correlation_id=correlation_id):
            try:
                async with session.request(
                    method, url, data=form, headers=dict(headers or {})
                ) as response:
                    raw = await response.read()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except Exception as exc:
                raise from_transport(
                    exc,
                    operation=operation,
                    target=self._target,
                    correlation_id=correlation_id,
                    timeout_seconds=self._config.request_timeout_seconds,
                ) from exc
            try:
                body = json.loads(raw) if raw.strip() else None
            except (ValueError, RecursionError):  # RecursionError: nested too deeply
                body = None
                if 200 <= status < 300:
                    raise InfraProtocolError(
                        f"{operation}: the server answered HTTP {status} with a body that is "
                        "not JSON",
                        transport=TRANSPORT,
                        operation=operation,
                        target=self._target,
                        correlation_id=correlation_id,
                    ) from None
            if not 200 <= status < 300:
                raise from_http_status(
                    status,
                    body,
                    operation=operation,
                    target=self._target,
                    correlation_id=correlation_id,
                    retry_after=retry_after,
                )
            return status, body

    async def _call(
        self,
        request: ModelInfraRequest,
        method: str,
        endpoint: str,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """``method`` on the realm's ``endpoint`` (a field of :class:`ModelKeycloakEndpoints`,
        or a full URL), discovery included, all within the request's deadline."""
        operation, cid = request.operation, request.correlation_id

        async def run(attempts: list[int]) -> Any:
            url = endpoint
            if not endpoint.startswith(("http://", "https://")):
                url = getattr(await self.endpoints(cid), endpoint)

            async def attempt() -> Any:
                attempts[0] += 1
                sent = await self._send(operation, cid, method, url, form=form, headers=headers)
                return sent[1]

            return await run_with_retry(
                self._retry_policy, attempt, classifier=_retryable, operation=operation
            )

        return await self._run(operation, request.correlation, request.timeout_seconds, run)

    def _object(self, body: object, operation: str, correlation_id: UUID) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InfraProtocolError(
                f"{operation}: expected a JSON object from the server",
                transport=TRANSPORT,
                operation=operation,
                target=self._target,
                correlation_id=correlation_id,
            )
        return body

    def _client_auth(self, form: dict[str, str]) -> dict[str, str]:
        """Client authentication: HTTP Basic (RFC 6749 §2.3.1) or form fields; a public
        client (no secret) sends only its ``client_id``."""
        client_id, secret = self._config.client_id, self._config.client_secret
        if secret is None:
            form["client_id"] = client_id
            return {}
        if self._config.client_auth_method == "client_secret_post":
            form["client_id"] = client_id
            form["client_secret"] = secret.get_secret_value()
            return {}
        quote = urllib.parse.quote_plus
        pair = f"{quote(client_id)}:{quote(secret.get_secret_value())}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}

    # -- discovery --------------------------------------------------------------------

    async def endpoints(self, correlation_id: UUID | None = None) -> ModelKeycloakEndpoints:
        """The realm's endpoints: from ``/.well-known/openid-configuration`` (cached for
        ``discovery_ttl_seconds``; its ``issuer`` must be the configured one), any endpoint
        it does not name taking Keycloak's default path; or the defaults alone when
        discovery is off."""
        current = self._endpoints
        if current is not None and (
            not self._config.use_discovery
            or self._clock() - self._endpoints_at < self._config.discovery_ttl_seconds
        ):
            return current
        defaults = ModelKeycloakEndpoints.keycloak_defaults(self._target)
        if not self._config.use_discovery:
            self._endpoints = defaults
            return defaults
        async with self._discovery_lock:
            if self._endpoints is not current:
                return self._endpoints  # type: ignore[return-value]  # set by another caller
            request = _request(
                "discovery", self._config.request_timeout_seconds * 2, correlation_id
            )
            url = f"{self._target}/.well-known/openid-configuration"
            document = self._object(
                await self._call(request, "GET", url), "discovery", request.correlation_id
            )
            if document.get("issuer") != self._target:
                raise InfraProtocolError(
                    f"discovery names issuer {document.get('issuer')!r}, not the configured one",
                    transport=TRANSPORT,
                    operation="discovery",
                    target=self._target,
                    correlation_id=request.correlation_id,
                )
            fields = {
                name: value
                for name in ModelKeycloakEndpoints.model_fields
                if isinstance(value := document.get(name), str) and value
            }
            self._endpoints = defaults.model_copy(update=fields)
            self._endpoints_at = self._clock()
            return self._endpoints

    # -- token grants and the client-credentials cache --------------------------------

    async def token(self, request: ModelKeycloakTokenRequest) -> ModelKeycloakToken:
        """A token from the token endpoint. Client-credentials tokens are cached per scope
        and replaced once ``token_refresh_fraction`` of their lifetime has passed; a cached
        token is never handed out with less than ``token_min_remaining_seconds`` left (when
        a replacement cannot be had then, the error is raised)."""
        if request.grant_type != "client_credentials" or not request.use_cache:
            return await self._grant(request)
        key = (request.scope,)
        cached = self._tokens.get(key)
        now = self._clock()
        if cached is not None and now < cached.refresh_at:
            return cached.token
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            now = self._clock()
            if cached is not None and now < cached.refresh_at:
                return cached.token  # another caller refreshed it
            try:
                return await self._grant(request)
            except InfraError as exc:
                if cached is not None and exc.retryable and self._clock() < cached.usable_until:
                    logger.warning(
                        "token refresh failed (%s); the cached token is still valid",
                        type(exc).__name__,
                        extra={"correlation_id": str(request.correlation_id)},
                    )
                    return cached.token
                self._tokens.pop(key, None)
                raise

    async def _grant(self, request: ModelKeycloakTokenRequest) -> ModelKeycloakToken:
        form: dict[str, str] = {"grant_type": request.grant_type}
        if request.username is not None:
            form["username"] = request.username
        if request.password is not None:
            register_secret(request.password.get_secret_value())
            form["password"] = request.password.get_secret_value()
        if request.refresh_token is not None:
            form["refresh_token"] = request.refresh_token.get_secret_value()
        if request.scope:
            form["scope"] = request.scope
        headers = self._client_auth(form)
        started = self._clock()
        body = self._object(
            await self._call(request, "POST", "token_endpoint", form=form, headers=headers),
            request.operation,
            request.correlation_id,
        )
        access = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(access, str) or not isinstance(expires_in, int) or expires_in < 0:
            raise InfraProtocolError(
                "the token response lacks access_token or expires_in",
                transport=TRANSPORT,
                operation=request.operation,
                target=self._target,
                correlation_id=request.correlation_id,
            )
        refresh_expires = body.get("refresh_expires_in")

        def secret(name: str) -> SecretStr | None:
            value = body.get(name)
            return SecretStr(value) if isinstance(value, str) and value else None

        token = ModelKeycloakToken(
            access_token=SecretStr(access),
            token_type=_str(body.get("token_type")) or "Bearer",
            expires_in=expires_in,
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            refresh_token=secret("refresh_token"),
            refresh_expires_in=refresh_expires if isinstance(refresh_expires, int) else None,
            id_token=secret("id_token"),
            scope=_str(body.get("scope")),
            session_state=_str(body.get("session_state")),
        )
        if request.grant_type == "client_credentials":
            lifetime = float(expires_in)
            usable_until = started + lifetime - self._config.token_min_remaining_seconds
            self._tokens[(request.scope,)] = _CachedToken(
                token=token.model_copy(update={"from_cache": True}),
                # A short-lived token is replaced before it gets too close to its end.
                refresh_at=min(
                    started + lifetime * self._config.token_refresh_fraction, usable_until
                ),
                usable_until=usable_until,
            )
        return token

    async def start_token_lifetime(self, scope: str | None = None) -> LifetimeManager:
        """Keep the client-credentials token (of ``scope``) fresh in the background with
        the lifetime manager: a new one at ~2/3 of each one's lifetime, with backoff on
        transient failures. :meth:`token` then always finds a fresh one. Stopped by
        :meth:`close`."""
        if scope in self._lifetimes:
            return self._lifetimes[scope]

        async def fetch() -> LeaseGrant:
            token = await self._grant(ModelKeycloakTokenRequest(scope=scope))
            return LeaseGrant(ttl_seconds=float(token.expires_in), renewable=False)

        grant = await fetch()
        manager = LifetimeManager(
            fetch,
            fetch,
            name=f"keycloak token {self._config.client_id}@{self._target}",
            renew_fraction=self._config.token_refresh_fraction / 1.1,
        )
        manager.start(grant)
        self._lifetimes[scope] = manager
        return manager

    # -- local verification ------------------------------------------------------------

    async def _fetch_jwks(self) -> Mapping[str, Any]:
        request = _request("jwks", self._config.request_timeout_seconds * 2, None)
        document = self._object(
            await self._call(request, "GET", "jwks_uri"), "jwks", request.correlation_id
        )
        if not isinstance(document.get("keys"), list):
            raise InfraProtocolError(
                "the JWKS document has no 'keys' list",
                transport=TRANSPORT,
                operation="jwks",
                target=self._target,
                correlation_id=request.correlation_id,
            )
        return document

    def _token_error(
        self,
        cls: type[KeycloakTokenError],
        message: str,
        correlation_id: UUID | None,
        **context: Any,
    ) -> KeycloakTokenError:
        return cls(
            message,
            transport=TRANSPORT,
            operation="verify",
            target=self._target,
            correlation_id=correlation_id,
            check=cls.check,
            **context,
        )

    async def verify_token(
        self,
        token: str | SecretStr,
        *,
        audience: tuple[str, ...] | None = None,
        correlation_id: UUID | None = None,
    ) -> ModelKeycloakTokenClaims:
        """Verify an access token locally and return its claims (see :meth:`verify`)."""
        value = token.get_secret_value() if isinstance(token, SecretStr) else token
        expected = audience or self._config.audience
        if not expected:
            raise InfraConfigurationError(
                "no expected audience: set ModelKeycloakConfig.audience or pass audience=",
                transport=TRANSPORT,
                operation="verify",
                target=self._target,
                correlation_id=correlation_id,
            )
        parts = value.split(".")
        parsed = header_of(parts[0]) if len(parts) == 3 else None
        if parsed is None:
            raise self._token_error(
                TokenMalformedError, "token is not a well-formed JWT", correlation_id
            )
        algorithm, kid = parsed
        if algorithm not in self._algorithms:
            raise self._token_error(
                TokenAlgorithmError,
                f"token algorithm {algorithm[:20]!r} is not allowed",
                correlation_id,
            )
        if kid is None:
            raise self._token_error(TokenMalformedError, "token header has no kid", correlation_id)
        key = self._jwks.cached(kid)
        if key is None:
            key = await self._jwks.get(kid)
            if key is None:
                raise self._token_error(
                    TokenUnknownKeyError,
                    "token is signed with a key the realm does not publish",
                    correlation_id,
                    kid=kid[:100],
                )
        if not key.fits(algorithm):
            raise self._token_error(
                TokenAlgorithmError, "token algorithm does not fit its key", correlation_id
            )
        try:
            signature = b64url(parts[2])
            payload = b64url(parts[1])
        except ValueError:
            raise self._token_error(
                TokenMalformedError, "token is not a well-formed JWT", correlation_id
            ) from None
        try:
            signed = ALGORITHMS[algorithm].verify(
                f"{parts[0]}.{parts[1]}".encode(), key.key, signature
            )
        except Exception:
            signed = False
        if not signed:
            raise self._token_error(
                TokenSignatureError, "token signature does not verify", correlation_id
            )
        claims = json_object(payload)
        if claims is None:
            raise self._token_error(
                TokenMalformedError, "token payload is not a JSON object", correlation_id
            )
        problem = check_claims(
            claims,
            issuer=self._target,
            audience=expected,
            leeway=self._config.leeway_seconds,
            now=time.time(),
        )
        if problem is not None:
            raise self._token_error(problem[0], problem[1], correlation_id)
        realm, client = _roles(claims)
        return _claims_model(
            subject=_str(claims.get("sub")),
            issuer=self._target,
            audience=_audience(claims.get("aud")),
            authorized_party=_str(claims.get("azp")),
            expires_at=_utc(claims["exp"]),
            issued_at=_utc(claims.get("iat")),
            not_before=_utc(claims.get("nbf")),
            scope=_str(claims.get("scope")),
            preferred_username=_str(claims.get("preferred_username")),
            session_id=_str(claims.get("sid")),
            token_id=_str(claims.get("jti")),
            key_id=kid,
            algorithm=algorithm,
            claims=claims,
            realm_roles=realm,
            client_roles=client,
        )

    async def verify(self, request: ModelKeycloakVerifyRequest) -> ModelKeycloakTokenClaims:
        """Verify an access token locally: signature with the realm's cached key (an unknown
        ``kid`` refetches the JWKS at most once per cooldown), algorithm on the allow-list,
        ``iss``, ``aud`` (the request's or the configured audiences), ``exp``/``nbf``/``iat``
        with the leeway; then the required realm and client roles (a missing one raises
        ``InfraPermissionError``). Each failure has its own error class
        (:mod:`.errors`)."""
        cid = request.correlation_id

        async def work(attempts: list[int]) -> ModelKeycloakTokenClaims:
            attempts[0] = 1
            claims = await self.verify_token(
                request.token, audience=request.audience, correlation_id=cid
            )
            missing = claims.missing_roles(
                request.required_realm_roles, request.required_client_roles
            )
            if missing:
                raise InfraPermissionError(
                    f"token lacks the required roles {missing}",
                    transport=TRANSPORT,
                    operation="verify",
                    target=self._target,
                    correlation_id=cid,
                )
            return claims

        return await self._run("verify", request.correlation, request.timeout_seconds, work)

    # -- introspection, userinfo, logout ------------------------------------------------

    async def introspect(
        self, request: ModelKeycloakIntrospectRequest
    ) -> ModelKeycloakIntrospection:
        """RFC 7662 introspection: whether the server still considers the token active
        (revoked, logged out and expired tokens are not)."""
        form = {"token": request.token.get_secret_value()}
        if request.token_type_hint is not None:
            form["token_type_hint"] = request.token_type_hint
        headers = self._client_auth(form)
        body = self._object(
            await self._call(request, "POST", "introspection_endpoint", form=form, headers=headers),
            request.operation,
            request.correlation_id,
        )
        if body.get("active") is not True:
            return ModelKeycloakIntrospection(active=False)
        realm, client = _roles(body)
        return ModelKeycloakIntrospection(
            active=True,
            subject=_str(body.get("sub")),
            client_id=_str(body.get("client_id")) or _str(body.get("azp")),
            username=_str(body.get("username")) or _str(body.get("preferred_username")),
            scope=_str(body.get("scope")),
            token_type=_str(body.get("token_type")) or _str(body.get("typ")),
            expires_at=_utc(body.get("exp")),
            session_id=_str(body.get("sid")),
            realm_roles=realm,
            client_roles=client,
        )

    async def userinfo(self, request: ModelKeycloakUserinfoRequest) -> ModelKeycloakUserinfo:
        """The claims of the token's subject from the userinfo endpoint."""
        headers = {"Authorization": f"Bearer {request.access_token.get_secret_value()}"}
        body = self._object(
            await self._call(request, "GET", "userinfo_endpoint", headers=headers),
            request.operation,
            request.correlation_id,
        )
        subject = body.get("sub")
        if not isinstance(subject, str):
            raise InfraProtocolError(
                "the userinfo answer has no subject",
                transport=TRANSPORT,
                operation=request.operation,
                target=self._target,
                correlation_id=request.correlation_id,
            )
        return ModelKeycloakUserinfo(
            subject=subject,
            preferred_username=_str(body.get("preferred_username")),
            email=_str(body.get("email")),
            name=_str(body.get("name")),
            claims=body,
        )

    async def logout(self, request: ModelKeycloakLogoutRequest) -> ModelKeycloakLogoutResponse:
        """End the refresh token's session: its refresh and access tokens stop working."""
        form = {"refresh_token": request.refresh_token.get_secret_value()}
        headers = self._client_auth(form)
        form.setdefault("client_id", self._config.client_id)
        await self._call(request, "POST", "end_session_endpoint", form=form, headers=headers)
        return ModelKeycloakLogoutResponse(logged_out=True)

    # -- one entry point for every request ---------------------------------------------

    @overload
    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput: ...
    @overload
    async def process(self, input_data: ModelKeycloakTokenRequest) -> ModelKeycloakToken: ...
    @overload
    async def process(self, input_data: ModelKeycloakVerifyRequest) -> ModelKeycloakTokenClaims: ...
    @overload
    async def process(
        self, input_data: ModelKeycloakIntrospectRequest
    ) -> ModelKeycloakIntrospection: ...
    @overload
    async def process(self, input_data: ModelKeycloakUserinfoRequest) -> ModelKeycloakUserinfo: ...
    @overload
    async def process(
        self, input_data: ModelKeycloakLogoutRequest
    ) -> ModelKeycloakLogoutResponse: ...
    async def process(self, input_data: Any) -> BaseModel:
        """Run a typed request, or core's envelope (``API_CALL``, the request as
        ``operation_data``; the result is the response as JSON, secrets masked)."""
        if isinstance(input_data, ModelEffectInput):
            return await self._process_effect_input(input_data)
        handlers: dict[type[ModelInfraRequest], Callable[[Any], Awaitable[BaseModel]]] = {
            ModelKeycloakTokenRequest: self.token,
            ModelKeycloakVerifyRequest: self.verify,
            ModelKeycloakIntrospectRequest: self.introspect,
            ModelKeycloakUserinfoRequest: self.userinfo,
            ModelKeycloakLogoutRequest: self.logout,
        }
        handler = handlers.get(type(input_data))
        if handler is None:
            raise InfraValidationError(
                f"unsupported request type {type(input_data).__name__}",
                transport=TRANSPORT,
                operation="process",
                target=self._target,
            )
        return await handler(input_data)

    async def _process_effect_input(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        return await process_effect_input(
            input_data,
            parse=parse_keycloak_request,
            process=self.process,
            transport=TRANSPORT,
            target=self._target,
        )


_CLAIMS_FIELDS = frozenset(ModelKeycloakTokenClaims.model_fields)


def _claims_model(**values: Any) -> ModelKeycloakTokenClaims:
    """``ModelKeycloakTokenClaims.model_construct(**values)`` for values that name every
    field, without its per-field default handling (a quarter of its cost: this is the
    verification hot path). The values come from a token PyJWT has just verified."""
    claims = ModelKeycloakTokenClaims.__new__(ModelKeycloakTokenClaims)
    object.__setattr__(claims, "__dict__", values)
    object.__setattr__(claims, "__pydantic_fields_set__", _CLAIMS_FIELDS)
    object.__setattr__(claims, "__pydantic_extra__", None)
    object.__setattr__(claims, "__pydantic_private__", None)
    return claims


def keycloak_telemetry(
    config: ModelKeycloakConfig,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """Spans ``keycloak.<operation>`` and metrics ``omnibase.keycloak.*`` of one issuer.

    Attributes name the operation, the server and the realm's issuer, never a token, a
    password or a client secret.
    """
    address, port = split_target(config.target)
    base: dict[str, AttributeValue] = {
        "rpc.system": "oidc",
        "server.address": address,
        "oidc.issuer": config.issuer,
        "oidc.client_id": config.client_id,
    }
    if port is not None:
        base["server.port"] = port
    return OperationTelemetry(
        scope=logger.name,
        span_prefix="keycloak",
        duration_metric="omnibase.keycloak.operation.duration",
        counter_prefix="omnibase.keycloak",
        operation_attributes=("keycloak.operation",),
        span_attributes=base,
        metric_attributes={"rpc.system": "oidc"},
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


def _retryable(exc: BaseException) -> bool:
    """Transient errors are retried, except a refusal by the breaker (it stays open)."""
    if isinstance(exc, InfraUnavailableError) and exc.reason == "circuit_open":
        return False
    return is_transient(exc)


def _request(
    operation: str, timeout_seconds: float, correlation_id: UUID | None
) -> ModelInfraRequest:
    """An internal request (discovery, JWKS) carrying the caller's correlation id."""
    if correlation_id is None:
        return ModelInfraRequest(operation=operation, timeout_seconds=timeout_seconds)
    return ModelInfraRequest(
        operation=operation,
        timeout_seconds=timeout_seconds,
        correlation=ModelCorrelationContext.new(correlation_id),
    )
