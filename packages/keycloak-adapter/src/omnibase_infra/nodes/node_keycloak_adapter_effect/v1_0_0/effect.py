"""``NodeKeycloakAdapterEffect``: Keycloak (or any OpenID Provider) as an EFFECT node on the
effect platform (``omnibase_infra.effect``).

The node writes its operations; the platform runs them (``self.run``): one overall deadline
per operation, retries of transient errors of idempotent operations, the issuer's circuit
breaker per attempt, one span per operation (an HTTP client's, a child of the caller's span),
metrics and the operation record. Policies come from ``contracts/effect_contract.yaml``.
The pieces it stands on, one module each:

* :mod:`.http` — the aiohttp session, client authentication, one request per attempt;
* :mod:`.discovery` — OIDC discovery (cached) and the JWKS document;
  :mod:`.jwks` — the signing keys, cached with a refetch cooldown;
* :mod:`.tokens` — grants and the client-credentials token cache;
* :mod:`.verification` — local JWT verification and introspection answers;
* :mod:`.admin` — the Admin REST API (roles, role mappings, groups, users).

Admin operations authenticate with the node's own client-credentials token (the node's
client needs ``realm-management`` roles), taken from the token cache; when the Admin REST
API answers 401, the cached token is dropped, a new one fetched and the operation run once
more.

Discovery and the JWKS fetch are operations of their own (``discovery``, ``jwks``): they run
before the operation that needs them (or, for the JWKS, inside ``verify``), bounded by the
caller's ``timeout_seconds`` when it set one. The client secret, passwords and tokens stay
``SecretStr``; the client secret and passwords are registered with the redaction registry,
and JWTs are masked by the redaction patterns.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Final
from uuid import UUID

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from opentelemetry import metrics, trace
from pydantic import SecretStr

from omnibase_infra.effect import InfraEffectNode, operation, settings_from_env
from omnibase_infra.effect.runner import Attempt
from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraConflictError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
)
from omnibase_infra.lifetime import LeaseGrant, LifetimeManager
from omnibase_infra.models import ModelCorrelationContext, ModelInfraRequest
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
)
from omnibase_infra.models.keycloak.admin import (
    ModelKeycloakAdminResult,
    ModelKeycloakGroup,
    ModelKeycloakGroupCreateRequest,
    ModelKeycloakGroupDeleteRequest,
    ModelKeycloakGroupGetRequest,
    ModelKeycloakGroupList,
    ModelKeycloakGroupListRequest,
    ModelKeycloakGroupMemberAddRequest,
    ModelKeycloakGroupMemberRemoveRequest,
    ModelKeycloakRole,
    ModelKeycloakRoleCompositesAddRequest,
    ModelKeycloakRoleCompositesListRequest,
    ModelKeycloakRoleCompositesRemoveRequest,
    ModelKeycloakRoleCreateRequest,
    ModelKeycloakRoleDeleteRequest,
    ModelKeycloakRoleEnsureAbsentRequest,
    ModelKeycloakRoleEnsured,
    ModelKeycloakRoleEnsureRequest,
    ModelKeycloakRoleGetRequest,
    ModelKeycloakRoleList,
    ModelKeycloakRoleListRequest,
    ModelKeycloakRoleMappingAssignRequest,
    ModelKeycloakRoleMappingEnsureAbsentRequest,
    ModelKeycloakRoleMappingEnsureRequest,
    ModelKeycloakRoleMappingListRequest,
    ModelKeycloakRoleMappingRemoveRequest,
    ModelKeycloakRoleRef,
    ModelKeycloakRoleUpdateRequest,
    ModelKeycloakUserFindRequest,
    ModelKeycloakUserList,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.admin import AdminApi, AdminCall
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.discovery import (
    RealmEndpoints,
    jwks_document,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    TRANSPORT,
    from_http_status,
    from_transport,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.http import KeycloakHttp
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.jwks import JwksCache
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.tokens import (
    TokenCache,
    grant_form,
    token_from_answer,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.verification import (
    LocalVerifier,
    introspection_from,
)
from omnibase_infra.observability import semconv
from omnibase_infra.observability.telemetry import OperationTelemetry
from omnibase_infra.redaction import register_secret
from omnibase_infra.resilience import ModelRetryPolicy

__all__ = [
    "AUDIENCE_ENV",
    "CLIENT_ID_ENV",
    "CLIENT_SECRET_ENV",
    "ENV_NAME",
    "ISSUER_ENV",
    "NodeKeycloakAdapterEffect",
    "keycloak_telemetry",
]

ENV_NAME: Final = "KEYCLOAK"
ISSUER_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_ISSUER"
CLIENT_ID_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_CLIENT_ID"
CLIENT_SECRET_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_CLIENT_SECRET"  # noqa: S105 - a name
AUDIENCE_ENV: Final = "OMNIBASE_INFRA_KEYCLOAK_AUDIENCE"  # a JSON list, or comma-separated
_DEFAULT_CLIENT_ID: Final = "omnibase"

logger = logging.getLogger("omnibase_infra.nodes.node_keycloak_adapter_effect")


def config_from_env(environ: Mapping[str, str] | None = None) -> ModelKeycloakConfig | None:
    """``ModelKeycloakConfig`` from ``OMNIBASE_INFRA_KEYCLOAK_<FIELD>`` (None when none is
    set). ``..._AUDIENCE`` may also be comma-separated (as before the JSON scheme), and the
    client id defaults to ``omnibase``."""
    env = dict(os.environ if environ is None else environ)
    if not env.get(ISSUER_ENV, "").strip():
        return None
    explicit: dict[str, Any] = {}
    audience = env.get(AUDIENCE_ENV)
    if audience is not None and not audience.lstrip().startswith("["):
        del env[AUDIENCE_ENV]  # not JSON: the comma-separated form
        explicit["audience"] = tuple(a.strip() for a in audience.split(",") if a.strip())
    if not env.get(CLIENT_ID_ENV, "").strip():
        explicit["client_id"] = _DEFAULT_CLIENT_ID
    return settings_from_env(ModelKeycloakConfig, ENV_NAME, explicit=explicit, environ=env)


def keycloak_telemetry(
    config: ModelKeycloakConfig,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OperationTelemetry:
    """Keycloak as an HTTP client: spans ``keycloak.<operation>`` with ``server.*``, the
    realm's issuer and the client id (never a token, a password or a client secret);
    histogram ``omnibase.keycloak.operation.duration``, counters ``omnibase.keycloak.*``."""
    return OperationTelemetry.for_client(
        semconv.http_client(
            "keycloak",
            target=config.target,
            attributes={"oidc.issuer": config.issuer, "oidc.client_id": config.client_id},
        ),
        scope=logger.name,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


class NodeKeycloakAdapterEffect(InfraEffectNode):
    """Keycloak/OIDC EFFECT node: token grants, local verification, introspection,
    userinfo, logout; and the Admin REST API: realm and client roles (with composites), role
    mappings of users, service accounts and groups, groups and members, users by username or
    e-mail, and the idempotent ``role_ensure`` / ``role_mapping_ensure`` /
    ``role_mapping_ensure_absent`` for workflows.

    ``config`` defaults to ``OMNIBASE_INFRA_KEYCLOAK_<FIELD>`` (:func:`config_from_env`).
    ``process(request)`` takes any request of ``omnibase_infra.models.keycloak`` (or core's
    ``ModelEffectInput``); the typed methods are the same operations. ``retry_policy``
    replaces the contract's retry policy of every operation (``policy_overrides`` changes
    single ones). ``clock`` (monotonic seconds) drives the JWKS cooldown, discovery's TTL and
    the token cache. :attr:`network_requests` counts every HTTP request sent, by endpoint.
    :meth:`verify_token` is local verification without a span (the hot path).
    """

    node_name: ClassVar[str] = "node_keycloak_adapter_effect"
    env_name: ClassVar[str] = ENV_NAME
    transport = TRANSPORT
    contract_package: ClassVar[str] = "omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0"

    def __init__(
        self,
        container: ModelONEXContainer | None = None,
        *,
        config: ModelKeycloakConfig | None = None,
        retry_policy: ModelRetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        policy_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        **platform: Any,
    ) -> None:
        resolved = config if config is not None else config_from_env()
        if resolved is None:
            raise InfraConfigurationError(
                f"no Keycloak configuration: pass config= or set {ISSUER_ENV}",
                transport=TRANSPORT,
                operation="configure",
            )
        self._config = resolved
        if resolved.client_secret is not None:
            register_secret(resolved.client_secret.get_secret_value())
        target = resolved.issuer
        self._clock = clock
        self._realm = RealmEndpoints(resolved, target=target, clock=clock)
        self._http = KeycloakHttp(resolved, target=target, endpoint_name=self._realm.name_of)
        self._jwks = JwksCache(
            self._fetch_jwks,
            ttl_seconds=resolved.jwks_ttl_seconds,
            cooldown_seconds=resolved.jwks_refetch_cooldown_seconds,
            clock=clock,
        )
        self._verifier = LocalVerifier(resolved, self._jwks, target=target)
        self._tokens = TokenCache(resolved, clock)
        self._admin = AdminApi(self._http, issuer=resolved.issuer, target=target)
        self._lifetimes: dict[str | None, LifetimeManager] = {}
        if retry_policy is not None:
            every = dict.fromkeys(self._contract_operations(), retry_policy.model_dump())
            policy_overrides = {
                name: {"retry": every[name], **(policy_overrides or {}).get(name, {})}
                for name in every
            }
        super().__init__(
            container,
            target=target,
            telemetry=keycloak_telemetry(
                resolved, tracer_provider=tracer_provider, meter_provider=meter_provider
            ),
            logger=logger,
            map_error=self._map_error,
            policy_overrides=policy_overrides,
            **platform,
        )

    @classmethod
    def _contract_operations(cls) -> list[str]:
        from omnibase_infra.effect import load_effect_policies  # noqa: PLC0415

        return list(load_effect_policies(cls.contract_package).operations)

    def __repr__(self) -> str:
        return (
            f"NodeKeycloakAdapterEffect(issuer={self._config.issuer!r}, "
            f"client_id={self._config.client_id!r})"
        )

    # -- views -------------------------------------------------------------------------

    @property
    def config(self) -> ModelKeycloakConfig:
        """The node's configuration (the client secret stays a ``SecretStr``)."""
        return self._config

    @property
    def jwks(self) -> JwksCache:
        """The realm's cached signing keys."""
        return self._jwks

    @property
    def realm(self) -> RealmEndpoints:
        """The realm's endpoints as discovered (``realm.replace(...)`` points one elsewhere)."""
        return self._realm

    @property
    def network_requests(self) -> Mapping[str, int]:
        """HTTP requests sent, by endpoint (``discovery``, ``token``, ``jwks``, ``admin``...)."""
        return self._http.network_requests

    @property
    def total_network_requests(self) -> int:
        """Every HTTP request this node has sent."""
        return sum(self._http.network_requests.values())

    # -- plumbing shared by the operations ---------------------------------------------------

    def _map_error(self, exc: Exception, attempt: Attempt) -> InfraError:
        return from_transport(
            exc,
            operation=attempt.operation,
            target=self.target,
            correlation_id=attempt.correlation_id,
            timeout_seconds=self._config.request_timeout_seconds,
        )

    def _oidc_error(
        self, status: int, body: Any, headers: Mapping[str, str], attempt: Attempt
    ) -> InfraError:
        return from_http_status(
            status,
            body,
            operation=attempt.operation,
            target=self.target,
            correlation_id=attempt.correlation_id,
            retry_after=headers.get("Retry-After"),
        )

    def _object(self, body: object, attempt: Attempt) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InfraProtocolError(
                f"{attempt.operation}: expected a JSON object from the server",
                transport=TRANSPORT,
                operation=attempt.operation,
                target=self.target,
                correlation_id=attempt.correlation_id,
            )
        return body

    def _internal(self, name: str, caller: ModelInfraRequest | None) -> ModelInfraRequest:
        """The request of an internal operation (discovery, JWKS) on behalf of ``caller``:
        its correlation, and its ``timeout_seconds`` when the caller set one."""
        if caller is None:
            return ModelInfraRequest(operation=name)
        if "timeout_seconds" in caller.model_fields_set:
            return ModelInfraRequest(
                operation=name,
                correlation=caller.correlation,
                timeout_seconds=caller.timeout_seconds,
            )
        return ModelInfraRequest(operation=name, correlation=caller.correlation)

    async def _get_document(self, request: ModelInfraRequest, url: str) -> dict[str, Any]:
        async def call(attempt: Attempt) -> dict[str, Any]:
            answer = await self._http.send(attempt, "GET", url, error_for=self._oidc_error)
            return self._object(answer.body, attempt)

        return (await self.run(request, call)).value

    async def _endpoints(self, caller: ModelInfraRequest | None) -> ModelKeycloakEndpoints:
        self._http.check_open(caller.operation if caller is not None else "discovery")
        fresh = self._realm.fresh()
        if fresh is not None:
            return fresh
        request = self._internal("discovery", caller)
        return await self._realm.get(
            lambda url: self._get_document(request, url), request.correlation_id
        )

    async def endpoints(self, correlation_id: UUID | None = None) -> ModelKeycloakEndpoints:
        """The realm's endpoints (discovered and cached; see :mod:`.discovery`)."""
        caller = None
        if correlation_id is not None:
            caller = ModelInfraRequest(
                operation="discovery", correlation=ModelCorrelationContext.new(correlation_id)
            )
        return await self._endpoints(caller)

    async def _fetch_jwks(self) -> Mapping[str, Any]:
        url = (await self._endpoints(None)).jwks_uri
        request = ModelInfraRequest(operation="jwks")
        document = await self._get_document(request, url)
        jwks_document(document, target=self.target, correlation_id=request.correlation_id)
        return document

    async def _post_form(
        self,
        request: ModelInfraRequest,
        endpoint: str,
        form: dict[str, str],
        *,
        idempotent: bool | None = None,
    ) -> Any:
        """POST ``form`` (client authentication added) to the realm's ``endpoint`` (a field
        of :class:`ModelKeycloakEndpoints`) as ``request``'s operation."""
        url = getattr(await self._endpoints(request), endpoint)
        headers = self._http.client_auth(form)

        async def call(attempt: Attempt) -> Any:
            answer = await self._http.send(
                attempt, "POST", url, form=form, headers=headers, error_for=self._oidc_error
            )
            return answer.body

        return (await self.run(request, call, idempotent=idempotent)).value

    # -- token grants and the client-credentials cache ---------------------------------------

    @operation(ModelKeycloakTokenRequest)
    async def token(self, request: ModelKeycloakTokenRequest) -> ModelKeycloakToken:
        """A token from the token endpoint. Client-credentials tokens are cached per scope
        (see :mod:`.tokens`): a cached one is handed out without a request."""
        if request.grant_type != "client_credentials" or not request.use_cache:
            return await self._grant(request)
        scope = request.scope
        cached = self._tokens.fresh(scope)
        if cached is not None:
            return cached
        async with self._tokens.lock(scope):
            cached = self._tokens.fresh(scope)
            if cached is not None:
                return cached  # another caller replaced it
            try:
                return await self._grant(request)
            except InfraError as exc:
                kept = self._tokens.fallback(scope, exc)
                if kept is None:
                    raise
                logger.warning(
                    "token refresh failed (%s); the cached token is still valid",
                    type(exc).__name__,
                    extra={"correlation_id": str(request.correlation_id)},
                )
                return kept

    async def _grant(self, request: ModelKeycloakTokenRequest) -> ModelKeycloakToken:
        requested_at = self._clock()
        body = await self._post_form(
            request,
            "token_endpoint",
            grant_form(request),
            # A refresh token may be rotated by its first use: never sent twice.
            idempotent=False if request.grant_type == "refresh_token" else None,
        )
        token = token_from_answer(
            body,
            operation=request.operation,
            target=self.target,
            correlation_id=request.correlation_id,
        )
        if request.grant_type == "client_credentials":
            self._tokens.store(request.scope, token, requested_at)
        return token

    async def start_token_lifetime(self, scope: str | None = None) -> LifetimeManager:
        """Keep the client-credentials token (of ``scope``) fresh in the background with
        the lifetime manager: a new one at ~2/3 of each one's lifetime, with backoff on
        transient failures. :meth:`token` then always finds a fresh one. Stopped by
        :meth:`aclose`."""
        if scope in self._lifetimes:
            return self._lifetimes[scope]

        async def fetch() -> LeaseGrant:
            token = await self._grant(ModelKeycloakTokenRequest(scope=scope))
            return LeaseGrant(ttl_seconds=float(token.expires_in), renewable=False)

        grant = await fetch()
        manager = LifetimeManager(
            fetch,
            fetch,
            name=f"keycloak token {self._config.client_id}@{self.target}",
            renew_fraction=self._config.token_refresh_fraction / 1.1,
        )
        manager.start(grant)
        self._lifetimes[scope] = manager
        return manager

    # -- verification ------------------------------------------------------------------------

    async def verify_token(
        self,
        token: str | SecretStr,
        *,
        audience: tuple[str, ...] | None = None,
        correlation_id: UUID | None = None,
    ) -> ModelKeycloakTokenClaims:
        """Verify an access token locally and return its claims (see :meth:`verify`); no
        span, no operation record: the hot path."""
        return await self._verifier.verify(token, audience=audience, correlation_id=correlation_id)

    @operation(ModelKeycloakVerifyRequest)
    async def verify(self, request: ModelKeycloakVerifyRequest) -> ModelKeycloakTokenClaims:
        """Verify an access token locally: signature with the realm's cached key (an unknown
        ``kid`` refetches the JWKS at most once per cooldown), algorithm on the allow-list,
        ``iss``, ``aud`` (the request's or the configured audiences), ``exp``/``nbf``/``iat``
        with the leeway; then the required realm and client roles (a missing one raises
        ``InfraPermissionError``). Each failure has its own error class (:mod:`.errors`)."""
        cid = request.correlation_id

        async def call(_attempt: Attempt) -> ModelKeycloakTokenClaims:
            claims = await self._verifier.verify(
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
                    target=self.target,
                    correlation_id=cid,
                )
            return claims

        return (await self.run(request, call)).value

    # -- introspection, userinfo, logout -----------------------------------------------------

    @operation(ModelKeycloakIntrospectRequest)
    async def introspect(
        self, request: ModelKeycloakIntrospectRequest
    ) -> ModelKeycloakIntrospection:
        """RFC 7662 introspection: whether the server still considers the token active
        (revoked, logged out and expired tokens are not)."""
        form = {"token": request.token.get_secret_value()}
        if request.token_type_hint is not None:
            form["token_type_hint"] = request.token_type_hint
        body = await self._post_form(request, "introspection_endpoint", form)
        if not isinstance(body, dict):
            body = {}
        return introspection_from(body)

    @operation(ModelKeycloakUserinfoRequest)
    async def userinfo(self, request: ModelKeycloakUserinfoRequest) -> ModelKeycloakUserinfo:
        """The claims of the token's subject from the userinfo endpoint."""
        url = (await self._endpoints(request)).userinfo_endpoint
        headers = {"Authorization": f"Bearer {request.access_token.get_secret_value()}"}

        async def call(attempt: Attempt) -> ModelKeycloakUserinfo:
            answer = await self._http.send(
                attempt, "GET", url, headers=headers, error_for=self._oidc_error
            )
            body = self._object(answer.body, attempt)
            subject = body.get("sub")
            if not isinstance(subject, str):
                raise InfraProtocolError(
                    "the userinfo answer has no subject",
                    transport=TRANSPORT,
                    operation=attempt.operation,
                    target=self.target,
                    correlation_id=attempt.correlation_id,
                )
            return ModelKeycloakUserinfo(
                subject=subject,
                preferred_username=_str(body.get("preferred_username")),
                email=_str(body.get("email")),
                name=_str(body.get("name")),
                claims=body,
            )

        return (await self.run(request, call)).value

    @operation(ModelKeycloakLogoutRequest)
    async def logout(self, request: ModelKeycloakLogoutRequest) -> ModelKeycloakLogoutResponse:
        """End the refresh token's session: its refresh and access tokens stop working."""
        form = {"refresh_token": request.refresh_token.get_secret_value()}
        form.setdefault("client_id", self._config.client_id)
        await self._post_form(request, "end_session_endpoint", form)
        return ModelKeycloakLogoutResponse(logged_out=True)

    # -- the Admin REST API ----------------------------------------------------------------

    async def _admin_token(self, request: ModelInfraRequest) -> ModelKeycloakToken:
        fields: dict[str, Any] = {"correlation": request.correlation}
        if "timeout_seconds" in request.model_fields_set:
            fields["timeout_seconds"] = request.timeout_seconds
        return await self.token(ModelKeycloakTokenRequest(**fields))

    async def _run_admin[T](
        self,
        request: ModelInfraRequest,
        work: Callable[[AdminCall], Awaitable[T]],
        *,
        client_role: bool = False,
    ) -> T:
        """``work`` as ``request``'s operation with the admin token; on a 401 the token is
        replaced and the operation run once more."""
        token = await self._admin_token(request)
        for last_try in (False, True):
            bearer = token.access_token.get_secret_value()

            async def call(attempt: Attempt, bearer: str = bearer) -> T:
                return await work(AdminCall(attempt, bearer, client_role))

            try:
                return (await self.run(request, call)).value
            except InfraAuthenticationError:
                if last_try:
                    raise
                logger.info(
                    "the Admin REST API refused the admin token; fetching a new one",
                    extra={"correlation_id": str(request.correlation_id)},
                )
                self._tokens.drop(None, token)
                token = await self._admin_token(request)
            except InfraNotFoundError:
                self._admin.forget_clients()  # a client may have been replaced
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    @operation(ModelKeycloakRoleCreateRequest)
    async def role_create(self, request: ModelKeycloakRoleCreateRequest) -> ModelKeycloakRole:
        """Create a realm or client role; ``InfraConflictError`` when it exists."""
        return await self._run_admin(
            request,
            lambda call: self._admin.create_role(
                call, request.role, description=request.description, attributes=request.attributes
            ),
            client_role=request.role.client_id is not None,
        )

    @operation(ModelKeycloakRoleGetRequest)
    async def role_get(self, request: ModelKeycloakRoleGetRequest) -> ModelKeycloakRole:
        """A role by name; ``InfraNotFoundError`` naming it when it does not exist."""
        return await self._run_admin(
            request,
            lambda call: self._admin.get_role(call, request.role),
            client_role=request.role.client_id is not None,
        )

    @operation(ModelKeycloakRoleListRequest)
    async def role_list(self, request: ModelKeycloakRoleListRequest) -> ModelKeycloakRoleList:
        """The realm's roles or a client's roles (``search``: a substring)."""

        async def work(call: AdminCall) -> ModelKeycloakRoleList:
            roles = await self._admin.list_roles(call, request.client_id, request.search)
            return ModelKeycloakRoleList(roles=roles)

        return await self._run_admin(request, work, client_role=request.client_id is not None)

    @operation(ModelKeycloakRoleUpdateRequest)
    async def role_update(self, request: ModelKeycloakRoleUpdateRequest) -> ModelKeycloakRole:
        """Set a role's description and/or attributes."""
        return await self._run_admin(
            request,
            lambda call: self._admin.update_role(
                call, request.role, description=request.description, attributes=request.attributes
            ),
            client_role=request.role.client_id is not None,
        )

    @operation(ModelKeycloakRoleDeleteRequest)
    async def role_delete(
        self, request: ModelKeycloakRoleDeleteRequest
    ) -> ModelKeycloakAdminResult:
        """Delete a role (it leaves every mapping and composite)."""
        return await self._run_admin(
            request,
            _changed(lambda call: self._admin.delete_role(call, request.role)),
            client_role=request.role.client_id is not None,
        )

    @operation(ModelKeycloakRoleCompositesAddRequest)
    async def role_composites_add(
        self, request: ModelKeycloakRoleCompositesAddRequest
    ) -> ModelKeycloakAdminResult:
        """Make the role a composite that also holds ``composites``."""
        return await self._run_admin(
            request,
            _changed(
                lambda call: self._admin.composites(call, "POST", request.role, request.composites)
            ),
            client_role=request.role.client_id is not None,
        )

    @operation(ModelKeycloakRoleCompositesRemoveRequest)
    async def role_composites_remove(
        self, request: ModelKeycloakRoleCompositesRemoveRequest
    ) -> ModelKeycloakAdminResult:
        """Take ``composites`` out of the role."""
        return await self._run_admin(
            request,
            _changed(
                lambda call: self._admin.composites(
                    call, "DELETE", request.role, request.composites
                )
            ),
            client_role=request.role.client_id is not None,
        )

    @operation(ModelKeycloakRoleCompositesListRequest)
    async def role_composites_list(
        self, request: ModelKeycloakRoleCompositesListRequest
    ) -> ModelKeycloakRoleList:
        """The roles the role holds directly."""

        async def work(call: AdminCall) -> ModelKeycloakRoleList:
            return ModelKeycloakRoleList(
                roles=await self._admin.composites(call, "GET", request.role)
            )

        return await self._run_admin(request, work, client_role=request.role.client_id is not None)

    async def _change_mappings(
        self,
        call: AdminCall,
        request: ModelKeycloakRoleMappingAssignRequest | ModelKeycloakRoleMappingRemoveRequest,
        method: str,
    ) -> ModelKeycloakAdminResult:
        principal_path = await self._admin.principal_path(call, request.principal)
        for client_id, refs in _by_container(request.roles).items():
            representations = [await self._admin.role_representation(call, r) for r in refs]
            await self._admin.change_mappings(
                call,
                method,
                request.principal,
                principal_path=principal_path,
                client_id=client_id,
                representations=representations,
            )
        return ModelKeycloakAdminResult(changed=True)

    @operation(ModelKeycloakRoleMappingAssignRequest)
    async def role_mapping_assign(
        self, request: ModelKeycloakRoleMappingAssignRequest
    ) -> ModelKeycloakAdminResult:
        """Map roles to a user, a client's service account or a group."""
        return await self._run_admin(
            request, lambda call: self._change_mappings(call, request, "POST")
        )

    @operation(ModelKeycloakRoleMappingRemoveRequest)
    async def role_mapping_remove(
        self, request: ModelKeycloakRoleMappingRemoveRequest
    ) -> ModelKeycloakAdminResult:
        """Take roles from the direct mappings of a user, service account or group."""
        return await self._run_admin(
            request, lambda call: self._change_mappings(call, request, "DELETE")
        )

    @operation(ModelKeycloakRoleMappingListRequest)
    async def role_mapping_list(
        self, request: ModelKeycloakRoleMappingListRequest
    ) -> ModelKeycloakRoleList:
        """A principal's realm roles or client roles of one client: direct, or effective."""

        async def work(call: AdminCall) -> ModelKeycloakRoleList:
            roles = await self._admin.list_mappings(
                call, request.principal, request.client_id, effective=request.effective
            )
            return ModelKeycloakRoleList(roles=roles)

        return await self._run_admin(request, work)

    @operation(ModelKeycloakRoleMappingEnsureRequest)
    async def role_mapping_ensure(
        self, request: ModelKeycloakRoleMappingEnsureRequest
    ) -> ModelKeycloakAdminResult:
        """Map the roles the principal lacks among ``roles`` (``changed``: any was missing)."""

        async def work(call: AdminCall) -> ModelKeycloakAdminResult:
            where = await self._admin.principal_path(call, request.principal)
            changed = False
            for client_id, refs in _by_container(request.roles).items():
                held = await self._admin.list_mappings(
                    call, request.principal, client_id, effective=False, principal_path=where
                )
                names = {role.name for role in held}
                missing = [r for r in refs if r.name not in names]
                if missing:
                    representations = [
                        await self._admin.role_representation(call, r) for r in missing
                    ]
                    await self._admin.change_mappings(
                        call,
                        "POST",
                        request.principal,
                        principal_path=where,
                        client_id=client_id,
                        representations=representations,
                    )
                    changed = True
            return ModelKeycloakAdminResult(changed=changed)

        return await self._run_admin(request, work)

    @operation(ModelKeycloakRoleMappingEnsureAbsentRequest)
    async def role_mapping_ensure_absent(
        self, request: ModelKeycloakRoleMappingEnsureAbsentRequest
    ) -> ModelKeycloakAdminResult:
        """Remove whichever of ``roles`` the principal holds directly; a principal, client
        or role that does not exist counts as absent (``changed`` False)."""

        async def work(call: AdminCall) -> ModelKeycloakAdminResult:
            try:
                where = await self._admin.principal_path(call, request.principal)
            except InfraNotFoundError:
                return ModelKeycloakAdminResult(changed=False)
            changed = False
            for client_id, refs in _by_container(request.roles).items():
                try:
                    held = await self._admin.list_mappings(
                        call, request.principal, client_id, effective=False, principal_path=where
                    )
                except InfraNotFoundError:
                    continue  # the client is gone: none of its roles is mapped
                wanted = {r.name for r in refs}
                present = [r for r in held if r.name in wanted]
                if present:
                    representations = [{"id": r.id, "name": r.name} for r in present]
                    await self._admin.change_mappings(
                        call,
                        "DELETE",
                        request.principal,
                        principal_path=where,
                        client_id=client_id,
                        representations=representations,
                    )
                    changed = True
            return ModelKeycloakAdminResult(changed=changed)

        return await self._run_admin(request, work)

    @operation(ModelKeycloakRoleEnsureRequest)
    async def role_ensure(
        self, request: ModelKeycloakRoleEnsureRequest
    ) -> ModelKeycloakRoleEnsured:
        """Make sure the role exists with the description and attributes asked for and
        holds ``composites``; ``changed``/``created`` say what had to be done."""
        ref = request.role

        async def work(call: AdminCall) -> ModelKeycloakRoleEnsured:
            created = False
            try:
                role = await self._admin.get_role(call, ref)
            except InfraNotFoundError:
                try:
                    role = await self._admin.create_role(
                        call, ref, description=request.description, attributes=request.attributes
                    )
                    created = True
                except InfraConflictError:  # created meanwhile by someone else
                    role = await self._admin.get_role(call, ref)
            changed = created
            description = request.description
            attributes = request.attributes
            if (description is not None and role.description != description) or (
                attributes is not None and role.attributes != attributes
            ):
                role = await self._admin.update_role(
                    call, ref, description=description, attributes=attributes
                )
                changed = True
            if request.composites:
                held = {
                    (r.name, r.client_id) for r in await self._admin.composites(call, "GET", ref)
                }
                missing = [r for r in request.composites if (r.name, r.client_id) not in held]
                if missing:
                    await self._admin.composites(call, "POST", ref, missing)
                    role = await self._admin.get_role(call, ref)
                    changed = True
            return ModelKeycloakRoleEnsured(role=role, changed=changed, created=created)

        return await self._run_admin(request, work, client_role=ref.client_id is not None)

    @operation(ModelKeycloakRoleEnsureAbsentRequest)
    async def role_ensure_absent(
        self, request: ModelKeycloakRoleEnsureAbsentRequest
    ) -> ModelKeycloakAdminResult:
        """Delete the role if it exists (``changed``: it did); a missing role or client is
        already absent."""

        async def work(call: AdminCall) -> ModelKeycloakAdminResult:
            try:
                await self._admin.delete_role(call, request.role)
            except InfraNotFoundError:
                return ModelKeycloakAdminResult(changed=False)
            return ModelKeycloakAdminResult(changed=True)

        return await self._run_admin(request, work, client_role=request.role.client_id is not None)

    @operation(ModelKeycloakGroupCreateRequest)
    async def group_create(self, request: ModelKeycloakGroupCreateRequest) -> ModelKeycloakGroup:
        """Create a top-level group; ``InfraConflictError`` when it exists."""
        return await self._run_admin(
            request, lambda call: self._admin.create_group(call, request.group)
        )

    @operation(ModelKeycloakGroupGetRequest)
    async def group_get(self, request: ModelKeycloakGroupGetRequest) -> ModelKeycloakGroup:
        """A top-level group by name; ``InfraNotFoundError`` naming it."""
        return await self._run_admin(
            request, lambda call: self._admin.group_by_name(call, request.group)
        )

    @operation(ModelKeycloakGroupListRequest)
    async def group_list(self, request: ModelKeycloakGroupListRequest) -> ModelKeycloakGroupList:
        """The realm's top-level groups (``search``: a substring of the name)."""

        async def work(call: AdminCall) -> ModelKeycloakGroupList:
            return ModelKeycloakGroupList(
                groups=await self._admin.list_groups(call, request.search)
            )

        return await self._run_admin(request, work)

    @operation(ModelKeycloakGroupDeleteRequest)
    async def group_delete(
        self, request: ModelKeycloakGroupDeleteRequest
    ) -> ModelKeycloakAdminResult:
        """Delete a top-level group."""
        return await self._run_admin(
            request, _changed(lambda call: self._admin.delete_group(call, request.group))
        )

    @operation(ModelKeycloakGroupMemberAddRequest)
    async def group_member_add(
        self, request: ModelKeycloakGroupMemberAddRequest
    ) -> ModelKeycloakAdminResult:
        """Make a user a member of a group."""
        return await self._run_admin(
            request,
            _changed(
                lambda call: self._admin.membership(call, "PUT", request.username, request.group)
            ),
        )

    @operation(ModelKeycloakGroupMemberRemoveRequest)
    async def group_member_remove(
        self, request: ModelKeycloakGroupMemberRemoveRequest
    ) -> ModelKeycloakAdminResult:
        """Take a user out of a group."""
        return await self._run_admin(
            request,
            _changed(
                lambda call: self._admin.membership(call, "DELETE", request.username, request.group)
            ),
        )

    @operation(ModelKeycloakUserFindRequest)
    async def user_find(self, request: ModelKeycloakUserFindRequest) -> ModelKeycloakUserList:
        """Users by exact username or e-mail."""

        async def work(call: AdminCall) -> ModelKeycloakUserList:
            users = await self._admin.find_users(
                call, username=request.username, email=request.email
            )
            return ModelKeycloakUserList(users=users)

        return await self._run_admin(request, work)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _close_resources(self) -> None:
        for manager in self._lifetimes.values():
            await manager.stop()
        self._tokens.clear()
        await self._http.close()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _changed(
    action: Callable[[AdminCall], Awaitable[object]],
) -> Callable[[AdminCall], Awaitable[ModelKeycloakAdminResult]]:
    """``action``, answered with ``changed=True`` (an admin call whose effect is the answer)."""

    async def work(call: AdminCall) -> ModelKeycloakAdminResult:
        await action(call)
        return ModelKeycloakAdminResult(changed=True)

    return work


def _by_container(
    refs: tuple[ModelKeycloakRoleRef, ...],
) -> dict[str | None, list[ModelKeycloakRoleRef]]:
    """Roles grouped by their client (``None``: realm roles): one mapping path each."""
    grouped: dict[str | None, list[ModelKeycloakRoleRef]] = {}
    for ref in refs:
        grouped.setdefault(ref.client_id, []).append(ref)
    return grouped
