"""A Keycloak-compatible OpenID Provider: the Keycloak test target, or an external issuer.

No Keycloak server can be installed on the test machines. The real server in tests is
``oidc/server.mjs``, built on the npm package ``oidc-provider`` (a certified OpenID Provider),
mounted at ``/realms/{realm}`` with Keycloak's endpoint paths so that a Keycloak client works
against it unchanged: discovery, ``protocol/openid-connect/{token,certs,token/introspect,
userinfo,logout,revoke}``; client_credentials, password and refresh_token grants; RS256 JWT
access tokens with Keycloak's claims (``azp``, ``preferred_username``, ``realm_access.roles``,
``resource_access.{client}.roles``, ``scope``, ``typ: Bearer``, ``sid``); a logout (POST
client credentials + ``refresh_token``) that ends the session, so that its refresh token and
access tokens stop working. A loopback-only hook, ``POST /_harness/rotate-keys``, swaps in a
new signing key (:meth:`OidcService.rotate_keys`).

Keycloak's role model and the part of its Admin REST API that manages it are served under
``/admin/realms/{realm}`` (:attr:`OidcService.admin_url`): realm and client roles with
composites, clients (found by ``clientId``) and their service-account users, users (found by
``username``/``email``), groups, members, and role mappings of users, service accounts and
groups (direct, available, effective). Callers authenticate with a bearer access token of the
realm, and what they may do follows the ``realm-management`` client roles it carries
(``manage-realm``, ``view-users``, ``manage-clients``, ...), as in Keycloak: the realm's admin
client (:attr:`OidcRealmConfig.admin_client_id`, see :func:`realm_admin_client`) gets such a
token with client credentials. Tokens issued after a grant carry the role (composites and
group roles expanded), tokens issued after its removal do not. The fidelity of these paths,
shapes and status codes is checked by Keycloak's own admin client
(``@keycloak/keycloak-admin-client``, installed with the server; tests/test_oidc_admin.py).

Where the server comes from:

1. ``OMNIBASE_INFRA_TEST_OIDC_ISSUER`` set → that issuer (e.g. a real Keycloak realm,
   ``https://kc.example/realms/omnibase``), used as-is; ``OMNIBASE_INFRA_TEST_OIDC_CLIENT_ID``
   and ``..._CLIENT_SECRET`` name its confidential client, ``..._USERNAME`` and
   ``..._PASSWORD`` optionally a user. Roles and key rotation are then unknown/unavailable.
2. Otherwise ``node server.mjs`` on 127.0.0.1. The first time, ``npm ci`` installs the
   committed lockfile into ``~/.cache/omnibase-infra-testing/oidc-<hash>/`` (``$XDG_CACHE_HOME``
   is honoured; the hash covers package.json and package-lock.json; concurrent first runs are
   serialised with a file lock). Nothing is written into site-packages or the source tree.
   Node.js >= 20 and npm are needed.

The server's configuration is a JSON file (see :meth:`OidcRealmConfig.to_json`)::

    {"realm": "omnibase", "port": 0, "port_file": "...",
     "access_token_lifespan": 300, "refresh_token_lifespan": 1800,
     "sso_session_max_lifespan": 36000, "revoke_refresh_token": false,
     "signing_key": null,                       # or a private RSA JWK
     "clients": [{"client_id": "...", "secret": "..." | null (public client),
                  "grant_types": ["client_credentials", "password", "refresh_token"],
                  "service_account_id": "...", "realm_roles": [...],
                  "client_roles": {"client-id": [...]},   # roles of the service account
                  "audience": [...], "access_token_lifespan": null}],
     "users": [{"username": "...", "password": "...", "id": "...",
                "email": ..., "first_name": ..., "last_name": ...,
                "realm_roles": [...], "client_roles": {"client-id": [...]}}]}

Every principal is also mapped to Keycloak's default role, ``default-roles-{realm}``, a
composite over ``offline_access``, ``uma_authorization`` and ``account``'s ``view-profile`` and
``manage-account`` (over ``manage-account-links``), so ``aud`` is ``"account"`` plus the other
clients the principal holds roles of plus the client's ``audience``, as Keycloak's audience
resolution gives it. Roles named in the config are created in the realm (and a bare client for
a ``client_roles`` key that names no configured client); ``realm-management`` holds Keycloak's
admin roles (``realm-admin`` is composite over all of them). Usernames are lower-cased, as
Keycloak keeps them.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from omnibase_infra_testing.process import LOOPBACK, ManagedProcess, ServiceStartError
from omnibase_infra_testing.unavailable import service_unavailable

# Straight to loopback, whatever http_proxy/HTTP_PROXY say.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SERVICE = "OIDC server (Keycloak-compatible, oidc-provider)"
INSTALL_HINT = "install Node.js 20 and npm"
ISSUER_ENV = "OMNIBASE_INFRA_TEST_OIDC_ISSUER"
ADMIN_CLIENT_ID_ENV = "OMNIBASE_INFRA_TEST_OIDC_ADMIN_CLIENT_ID"
ADMIN_CLIENT_SECRET_ENV = "OMNIBASE_INFRA_TEST_OIDC_ADMIN_CLIENT_SECRET"  # noqa: S105 - a name
CLIENT_ID_ENV = "OMNIBASE_INFRA_TEST_OIDC_CLIENT_ID"
CLIENT_SECRET_ENV = "OMNIBASE_INFRA_TEST_OIDC_CLIENT_SECRET"  # noqa: S105 - a variable name
USERNAME_ENV = "OMNIBASE_INFRA_TEST_OIDC_USERNAME"
PASSWORD_ENV = "OMNIBASE_INFRA_TEST_OIDC_PASSWORD"  # noqa: S105 - a variable name
NODE_MAJOR_MIN = 20
_OIDC = "/protocol/openid-connect"
_ID_NAMESPACE = uuid.UUID("0f6f3a52-6c1e-4f43-9d7e-5b0c1d0e4a11")
REALM_MANAGEMENT = "realm-management"  # the client holding Keycloak's admin roles of a realm


class OidcUnavailableError(ServiceStartError):
    """Node.js/npm is missing or ``npm ci`` failed: the server cannot be had at all."""

    def __init__(self, reason: str, how_to_get_it: str = INSTALL_HINT) -> None:
        super().__init__(f"{reason}\nTo get it: {how_to_get_it}")
        self.reason = reason
        self.how_to_get_it = how_to_get_it


# --- configuration ---------------------------------------------------------------------------


def _stable_id(realm: str, name: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{realm}/{name}"))


@dataclass(frozen=True)
class OidcClient:
    """A client of the realm. ``secret=None`` makes it public (no client authentication)."""

    client_id: str
    secret: str | None = field(repr=False)
    grant_types: tuple[str, ...] = ("client_credentials", "password", "refresh_token")
    realm_roles: tuple[str, ...] = ()  # roles of the client's service account
    client_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    audience: tuple[str, ...] = ()  # extra `aud` values (Keycloak's hardcoded audience mapper)
    access_token_lifespan: int | None = None  # None: the realm's
    service_account_id: str = ""  # `sub` of its client-credentials tokens; "" → derived

    @property
    def service_account_username(self) -> str:
        return f"service-account-{self.client_id}".lower()


def realm_admin_client(
    client_id: str, secret: str, roles: tuple[str, ...] = ("realm-admin",)
) -> OidcClient:
    """A confidential client whose service account holds ``realm-management`` ``roles``
    (Keycloak's admin roles: ``realm-admin`` is all of them; ``manage-realm``,
    ``view-users``, ``manage-users``, ``view-clients``, ``query-users``, ...)."""
    return OidcClient(
        client_id,
        secret,
        grant_types=("client_credentials",),
        client_roles={REALM_MANAGEMENT: roles},
    )


@dataclass(frozen=True)
class OidcUser:
    """A user of the realm, for the password grant."""

    username: str
    password: str = field(repr=False)
    realm_roles: tuple[str, ...] = ()
    client_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    user_id: str = ""  # `sub` of the user's tokens; "" → derived from realm and username


@dataclass(frozen=True)
class OidcRealmConfig:
    """What the server serves. Lifespans are in seconds (Keycloak's defaults)."""

    realm: str = "omnibase"
    clients: tuple[OidcClient, ...] = ()
    users: tuple[OidcUser, ...] = ()
    access_token_lifespan: int = 300
    refresh_token_lifespan: int = 1800
    sso_session_max_lifespan: int = 36000
    revoke_refresh_token: bool = False  # True: a refresh rotates the refresh token
    signing_key: Mapping[str, str] | None = field(default=None, repr=False)  # private RSA JWK
    admin_client_id: str | None = None  # the client whose service account administers the realm

    def __post_init__(self) -> None:
        if self.admin_client_id is None:
            return
        admin = next((c for c in self.clients if c.client_id == self.admin_client_id), None)
        if admin is None or admin.secret is None or "client_credentials" not in admin.grant_types:
            msg = (
                f"admin_client_id={self.admin_client_id!r} must name a confidential client "
                "of the realm with the client_credentials grant"
            )
            raise ValueError(msg)

    def resolved(self) -> OidcRealmConfig:
        """The same config with every ``user_id``/``service_account_id`` filled in."""
        clients = tuple(
            c
            if c.service_account_id
            else replace(c, service_account_id=_stable_id(self.realm, c.service_account_username))
            for c in self.clients
        )
        users = tuple(
            u if u.user_id else replace(u, user_id=_stable_id(self.realm, u.username))
            for u in self.users
        )
        return replace(self, clients=clients, users=users)

    def to_json(self) -> dict[str, Any]:
        """The server's JSON config (without ``port``/``port_file``)."""
        config = self.resolved()
        return {
            "realm": config.realm,
            "access_token_lifespan": config.access_token_lifespan,
            "refresh_token_lifespan": config.refresh_token_lifespan,
            "sso_session_max_lifespan": config.sso_session_max_lifespan,
            "revoke_refresh_token": config.revoke_refresh_token,
            "signing_key": dict(config.signing_key) if config.signing_key else None,
            "clients": [
                {
                    "client_id": c.client_id,
                    "secret": c.secret,
                    "public": c.secret is None,
                    "grant_types": list(c.grant_types),
                    "service_account_id": c.service_account_id,
                    "realm_roles": list(c.realm_roles),
                    "client_roles": {k: list(v) for k, v in c.client_roles.items()},
                    "audience": list(c.audience),
                    "access_token_lifespan": c.access_token_lifespan,
                }
                for c in config.clients
            ],
            "users": [
                {
                    "username": u.username,
                    "password": u.password,
                    "id": u.user_id,
                    "email": u.email,
                    "first_name": u.first_name,
                    "last_name": u.last_name,
                    "realm_roles": list(u.realm_roles),
                    "client_roles": {k: list(v) for k, v in u.client_roles.items()},
                }
                for u in config.users
            ],
        }


def default_realm_config() -> OidcRealmConfig:
    """The session server's realm: a service client, an app client, the admin client
    (``omnibase-admin``, ``realm-admin``), two users; random secrets."""
    return OidcRealmConfig(
        realm="omnibase",
        admin_client_id="omnibase-admin",
        clients=(
            OidcClient(
                "omnibase-service",
                secrets.token_urlsafe(24),
                grant_types=("client_credentials",),
                realm_roles=("service",),
                client_roles={"omnibase-service": ("publish", "consume")},
            ),
            OidcClient(
                "omnibase-app",
                secrets.token_urlsafe(24),
                grant_types=("password", "refresh_token", "client_credentials"),
            ),
            realm_admin_client("omnibase-admin", secrets.token_urlsafe(24)),
        ),
        users=(
            OidcUser(
                "alice",
                secrets.token_urlsafe(16),
                realm_roles=("admin", "user"),
                client_roles={"omnibase-app": ("editor",), "omnibase-service": ("consume",)},
                email="alice@example.com",
                first_name="Alice",
                last_name="Liddell",
            ),
            OidcUser("bob", secrets.token_urlsafe(16), realm_roles=("user",)),
        ),
    )


WORKFLOW_CLIENT = "omnibase-service"
WORKFLOW_ADMIN_ROLES = (
    "view-clients",
    "query-clients",
    "manage-clients",
    "view-users",
    "query-users",
    "manage-users",
)
"""What the Keycloak node needs for the deployment workflow's role steps (a client role of
its own client, mapped to that client's service account): find the client, create and delete
its roles, find its service-account user and change that user's role mappings."""


def workflow_realm_config() -> OidcRealmConfig:
    """The realm of the embedded services (demo, ``onex-infra --embedded``, the deployment
    tests): :func:`default_realm_config` with the service client ``omnibase-service`` also
    holding :data:`WORKFLOW_ADMIN_ROLES` of ``realm-management``, since the Keycloak node
    runs as that client and the deployment workflow creates and grants its roles. (The
    session server of other tests keeps the default realm, where that client is no admin.)"""
    base = default_realm_config()
    clients = tuple(
        replace(c, client_roles={**c.client_roles, REALM_MANAGEMENT: WORKFLOW_ADMIN_ROLES})
        if c.client_id == WORKFLOW_CLIENT
        else c
        for c in base.clients
    )
    return replace(base, clients=clients)


# --- the running service ---------------------------------------------------------------------


@dataclass(frozen=True)
class OidcService:
    """A running OpenID Provider with Keycloak's endpoint layout under ``issuer``."""

    base_url: str  # http://127.0.0.1:PORT (the issuer is base_url + /realms/{realm})
    realm: str
    issuer: str
    clients: tuple[OidcClient, ...]
    users: tuple[OidcUser, ...]
    external: bool = False
    pid: int | None = None
    log_path: Path | None = None
    admin_client_id: str | None = None
    node_modules: Path | None = None  # the server's npm packages (incl. the admin client)
    _process: ManagedProcess | None = field(default=None, repr=False, compare=False)
    _workdir: Path | None = field(default=None, repr=False, compare=False)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}{_OIDC}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}{_OIDC}/certs"

    @property
    def introspection_url(self) -> str:
        return f"{self.issuer}{_OIDC}/token/introspect"

    @property
    def userinfo_url(self) -> str:
        return f"{self.issuer}{_OIDC}/userinfo"

    @property
    def logout_url(self) -> str:
        return f"{self.issuer}{_OIDC}/logout"

    @property
    def revocation_url(self) -> str:
        return f"{self.issuer}{_OIDC}/revoke"

    @property
    def admin_url(self) -> str:
        """The realm's Admin REST API: ``{base_url}/admin/realms/{realm}``."""
        return f"{self.base_url}/admin/realms/{urllib.parse.quote(self.realm, safe='')}"

    @property
    def admin_client(self) -> OidcClient:
        """The confidential client whose service account administers the realm (its client
        credentials give a token for :attr:`admin_url`)."""
        if self.admin_client_id is None:
            where = f"set {ADMIN_CLIENT_ID_ENV}" if self.external else "set admin_client_id"
            msg = f"realm {self.realm!r} has no admin client ({where})"
            raise KeyError(msg)
        return self.client(self.admin_client_id)

    def client(self, client_id: str | None = None) -> OidcClient:
        """The client named ``client_id`` (the first one when None)."""
        for candidate in self.clients:
            if client_id is None or candidate.client_id == client_id:
                return candidate
        msg = f"no client {client_id!r} in realm {self.realm!r}"
        raise KeyError(msg)

    def user(self, username: str | None = None) -> OidcUser:
        """The user named ``username`` (the first one when None)."""
        for candidate in self.users:
            if username is None or candidate.username == username:
                return candidate
        msg = f"no user {username!r} in realm {self.realm!r}"
        raise KeyError(msg)

    def rotate_keys(
        self, *, keep_previous: bool = True, signing_key: Mapping[str, str] | None = None
    ) -> str:
        """Sign from now on with a new RSA key (``signing_key`` or a generated one); return
        its ``kid``. ``keep_previous=False`` also drops the old keys from the JWKS, so tokens
        signed with them carry a kid that is no longer published."""
        if self.external:
            msg = f"key rotation needs the harness-managed server, not {ISSUER_ENV}={self.issuer}"
            raise ServiceStartError(msg)
        answer = _exchange(
            "POST",
            f"{self.base_url}/_harness/rotate-keys",
            body={"keep_previous": keep_previous, "signing_key": dict(signing_key or {}) or None},
        )
        if answer.status != 200:
            msg = f"key rotation answered {answer.status}: {answer.body}"
            raise OidcRequestError(msg, answer.status)
        kid: str = answer.body["kid"]
        return kid

    def token(self, client: OidcClient, **form: str) -> dict[str, Any]:
        """The token endpoint's answer for ``client`` (HTTP Basic client authentication) to
        ``form``, e.g. ``grant_type="client_credentials"``; :class:`OidcRequestError` (with
        the OAuth error, never a credential) unless it is 200."""
        answer = _exchange(
            "POST", self.token_url, form=form, headers={"Authorization": basic_auth(client)}
        )
        if answer.status != 200:
            msg = f"token request of {client.client_id} answered {answer.status}: {answer.body}"
            raise OidcRequestError(msg, answer.status)
        response: dict[str, Any] = answer.body
        return response

    def admin_token(self) -> str:
        """An access token of the admin client's service account, for :meth:`admin`."""
        token: str = self.token(self.admin_client, grant_type="client_credentials")["access_token"]
        return token

    def admin(self, method: str, path: str, *, token: str, body: Any = None) -> OidcResponse:
        """One Admin REST API call: ``method`` on ``admin_url + path`` (e.g. ``"/roles"``)
        with a bearer ``token`` and an optional JSON ``body``; any status is returned."""
        return _exchange(
            method, self.admin_url + path, body=body, headers={"Authorization": f"Bearer {token}"}
        )

    def stop(self) -> None:
        """Stop the server by PID and remove its config; a no-op for an external issuer."""
        if self._process is not None:
            self._process.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


class OidcRequestError(RuntimeError):
    """The server refused a request the harness made for a test."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OidcResponse:
    """An answer of the server: status, JSON body (None when empty), ``Location`` header."""

    status: int
    body: Any
    location: str | None = None


def _exchange(
    method: str,
    url: str,
    *,
    body: Any = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> OidcResponse:
    """One HTTP exchange with a JSON ``body`` or a ``form``, whatever the status."""
    sent = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)  # noqa: S310
    try:
        with _DIRECT.open(request, timeout=10) as response:
            status, raw, location = response.status, response.read(), response.headers["Location"]
    except urllib.error.HTTPError as error:
        with error:
            status, raw, location = error.code, error.read(), error.headers["Location"]
    return OidcResponse(int(status), json.loads(raw) if raw.strip() else None, location)


# --- installing the server (npm ci into the cache) --------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omnibase-infra-testing"


def _server_sources() -> dict[str, bytes]:
    """package.json, package-lock.json and the .mjs files shipped in the package."""
    package = resources.files("omnibase_infra_testing").joinpath("oidc")
    return {
        entry.name: entry.read_bytes()
        for entry in package.iterdir()
        if entry.name in {"package.json", "package-lock.json"} or entry.name.endswith(".mjs")
    }


def _digest(sources: Mapping[str, bytes], names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_node() -> tuple[str, str]:
    """The ``node`` and ``npm`` executables; :class:`OidcUnavailableError` if unusable."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        msg = f"{missing} not found on PATH"
        raise OidcUnavailableError(msg)
    version = subprocess.run(  # noqa: S603 - a resolved node executable
        [node, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < NODE_MAJOR_MIN:
        msg = f"Node.js {version or '(unknown version)'} at {node} is too old"
        raise OidcUnavailableError(msg)
    return node, npm


def install_server(npm: str) -> Path:
    """Install the server into the cache (``npm ci`` the first time); return its server.mjs."""
    sources = _server_sources()
    home = cache_root() / f"oidc-{_digest(sources, ['package.json', 'package-lock.json'])}"
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / ".lock"):
        if not (home / ".complete").is_file():
            shutil.rmtree(home / "node_modules", ignore_errors=True)
            for name in ("package.json", "package-lock.json"):
                (home / name).write_bytes(sources[name])
            env = {**os.environ, "npm_config_update_notifier": "false"}
            args = ["ci", "--ignore-scripts", "--omit=dev", "--no-audit", "--no-fund"]
            result = subprocess.run(  # noqa: S603 - a resolved npm executable
                [npm, *args, "--prefer-offline"],
                cwd=home,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            if result.returncode != 0:
                msg = f"`npm ci` in {home} failed:\n{(result.stdout + result.stderr)[-3000:]}"
                raise OidcUnavailableError(
                    msg, "allow access to the npm registry (npm ci installs oidc-provider)"
                )
            (home / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z\n"))
        scripts = [name for name in sources if name.endswith(".mjs")]
        app = home / f"app-{_digest(sources, scripts)}"  # node_modules resolves from ../
        if not (app / "server.mjs").is_file():
            staging = Path(tempfile.mkdtemp(prefix=".app-", dir=home))
            staging.chmod(0o755)
            for name in scripts:
                (staging / name).write_bytes(sources[name])
            shutil.rmtree(app, ignore_errors=True)
            staging.rename(app)
    return app / "server.mjs"


# --- starting it ----------------------------------------------------------------------------


def _discovery_ok(issuer: str) -> bool:
    url = f"{issuer}/.well-known/openid-configuration"
    with _DIRECT.open(url, timeout=5) as response:
        document = json.load(response)
    return int(response.status) == 200 and document.get("issuer") == issuer


def start_oidc(config: OidcRealmConfig | None = None, *, timeout: float = 60.0) -> OidcService:
    """Start the Keycloak-compatible server on 127.0.0.1 (usable outside pytest); call
    :meth:`OidcService.stop` when done. Raises :class:`OidcUnavailableError` when Node.js/npm
    cannot be had and :class:`ServiceStartError` when the server does not come up."""
    realm = (config or default_realm_config()).resolved()
    node, npm = find_node()
    server = install_server(npm)
    workdir = Path(tempfile.mkdtemp(prefix="omnibase-infra-oidc-"))
    port_file = workdir / "port"
    config_file = workdir / "config.json"
    config_file.write_text(
        json.dumps({**realm.to_json(), "host": LOOPBACK, "port": 0, "port_file": str(port_file)})
    )
    prefix = f"/realms/{urllib.parse.quote(realm.realm, safe='')}"

    def ready() -> bool:
        if not port_file.is_file():
            return False
        return _discovery_ok(f"http://{LOOPBACK}:{port_file.read_text().strip()}{prefix}")

    process = ManagedProcess("oidc", [node, str(server), str(config_file)], cwd=server.parent)
    try:
        process.start(ready, timeout=timeout)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    base_url = f"http://{LOOPBACK}:{port_file.read_text().strip()}"
    service = OidcService(
        base_url=base_url,
        realm=realm.realm,
        issuer=f"{base_url}{prefix}",
        clients=realm.clients,
        users=realm.users,
        pid=process.pid,
        log_path=process.log_path,
        admin_client_id=realm.admin_client_id,
        node_modules=server.parent.parent / "node_modules",
        _process=process,
        _workdir=workdir,
    )
    atexit.register(service.stop)
    return service


def start_workflow_oidc() -> OidcService:
    """:func:`start_oidc` with :func:`workflow_realm_config` (the embedded services' realm)."""
    return start_oidc(workflow_realm_config())


def oidc_from_env() -> OidcService | None:
    """The external issuer named by ``OMNIBASE_INFRA_TEST_OIDC_ISSUER``, if set."""
    issuer = os.environ.get(ISSUER_ENV, "").strip().rstrip("/")
    if not issuer:
        return None
    match = re.match(r"^(?P<base>.*)/realms/(?P<realm>[^/]+)$", issuer)
    base_url, realm = (match["base"], match["realm"]) if match else (issuer, "")
    clients: tuple[OidcClient, ...] = ()
    if client_id := os.environ.get(CLIENT_ID_ENV, "").strip():
        clients = (OidcClient(client_id, os.environ.get(CLIENT_SECRET_ENV) or None),)
    admin_client_id = os.environ.get(ADMIN_CLIENT_ID_ENV, "").strip() or None
    if admin_client_id is not None:
        admin = OidcClient(admin_client_id, os.environ.get(ADMIN_CLIENT_SECRET_ENV) or None)
        clients = (*clients, admin)
    users: tuple[OidcUser, ...] = ()
    if username := os.environ.get(USERNAME_ENV, "").strip():
        users = (OidcUser(username, os.environ.get(PASSWORD_ENV, "")),)
    return OidcService(
        base_url=base_url,
        realm=urllib.parse.unquote(realm),
        issuer=issuer,
        clients=clients,
        users=users,
        external=True,
        admin_client_id=admin_client_id,
    )


def basic_auth(client: OidcClient) -> str:
    """An ``Authorization: Basic`` value for a confidential client (RFC 6749 §2.3.1)."""
    quote = urllib.parse.quote_plus
    pair = f"{quote(client.client_id)}:{quote(client.secret or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


@contextlib.contextmanager
def running_oidc(config: OidcRealmConfig | None = None) -> Iterator[OidcService]:
    """A private server for one test (e.g. short token lifespans, key rotation), stopped on
    exit; inside pytest a missing Node.js fails the test with what to install."""
    unavailable: OidcUnavailableError | None = None
    try:
        service = start_oidc(config)
    except OidcUnavailableError as exc:
        unavailable = exc
    if unavailable is not None:  # outside the except block: no chained traceback in the report
        service_unavailable(SERVICE, unavailable.reason, unavailable.how_to_get_it)
    try:
        yield service
    finally:
        service.stop()


def _session_oidc(config: OidcRealmConfig | None) -> Iterator[OidcService]:
    external = oidc_from_env()
    if external is not None:
        try:
            problem = (
                None if _discovery_ok(external.issuer) else "its discovery names another issuer"
            )
        except (OSError, ValueError) as exc:
            problem = f"its discovery document cannot be fetched: {exc}"
        if problem is not None:
            service_unavailable(
                SERVICE,
                f"{ISSUER_ENV}={external.issuer}: {problem}",
                f"start it or unset {ISSUER_ENV}",
            )
        yield external
        return
    with running_oidc(config) as service:
        yield service


@pytest.fixture(scope="session")
def oidc_service() -> Iterator[OidcService]:
    """A Keycloak-compatible OpenID Provider for the whole session (see the module doc)."""
    yield from _session_oidc(None)


@pytest.fixture(scope="session")
def workflow_oidc_service() -> Iterator[OidcService]:
    """A second server for the whole session with :func:`workflow_realm_config` (the
    service client may manage clients' roles and users' role mappings), for workflow runs
    whose Keycloak node creates and grants roles. With an external issuer: that issuer (its
    ``..._CLIENT_ID`` client then needs the same realm-management roles)."""
    yield from _session_oidc(workflow_realm_config())
