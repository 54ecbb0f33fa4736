"""The OIDC stand-in's Keycloak Admin REST API.

Its fidelity is checked by Keycloak's own published admin client (npm
``@keycloak/keycloak-admin-client``, installed with the server from the committed lockfile):
``keycloak_admin_fidelity.mjs`` drives every admin operation the stand-in serves through it
and asserts results and error statuses; where the two disagree, the stand-in is wrong. The
other tests show what a grant does to tokens (checked against the published JWKS) and what
the harness exposes to tests.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from omnibase_infra_testing.services.oidc import (
    ADMIN_CLIENT_ID_ENV,
    ADMIN_CLIENT_SECRET_ENV,
    ISSUER_ENV,
    REALM_MANAGEMENT,
    SERVICE,
    OidcClient,
    OidcRealmConfig,
    OidcService,
    OidcUser,
    default_realm_config,
    find_node,
    realm_admin_client,
    running_oidc,
)
from omnibase_infra_testing.unavailable import service_unavailable

pytestmark = pytest.mark.real_service

FIDELITY_SCRIPT = Path(__file__).with_name("keycloak_admin_fidelity.mjs")

# What the brief of the stand-in promises; the script must have checked each of them.
REQUIRED_OPERATIONS = {
    "roles.create",
    "roles.findOneByName",
    "roles.find",
    "roles.updateByName",
    "roles.delByName",
    "roles.createComposite",
    "roles.getCompositeRoles",
    "roles.delCompositeRoles",
    "clients.find by clientId",
    "clients.createRole",
    "clients.findRole",
    "clients.listRoles",
    "clients.updateRole",
    "clients.delRole",
    "clients.getServiceAccountUser",
    "users.find by username and by email",
    "users.findOne",
    "users.addRealmRoleMappings",
    "users.listRealmRoleMappings",
    "users.listCompositeRealmRoleMappings",
    "users.delRealmRoleMappings",
    "users.addClientRoleMappings",
    "users.listClientRoleMappings",
    "users.listCompositeClientRoleMappings",
    "users.delClientRoleMappings",
    "service account: realm and client role mappings",
    "groups.create",
    "groups.find",
    "groups.findOne",
    "groups: realm role mappings",
    "groups: client role mappings",
    "users.addToGroup and members",
    "users.delFromGroup",
    "groups.del",
    "403 without the admin role",
    "401 without a valid token",
}


def _secret() -> str:
    return secrets.token_urlsafe(18)


def _realm() -> OidcRealmConfig:
    return OidcRealmConfig(
        realm="admin-fidelity",
        admin_client_id="fidelity-admin",
        clients=(
            realm_admin_client("fidelity-admin", _secret()),
            realm_admin_client("fidelity-viewer", _secret(), roles=("view-users", "view-realm")),
            OidcClient("fidelity-nobody", _secret(), grant_types=("client_credentials",)),
            OidcClient(
                "fidelity-service",
                _secret(),
                grant_types=("client_credentials",),
                client_roles={"fidelity-service": ("publish",)},
            ),
            OidcClient("fidelity-app", _secret(), grant_types=("password", "refresh_token")),
            OidcClient("fidelity-public", None, grant_types=("password",)),
        ),
        users=(
            OidcUser("dana", _secret(), email="dana@example.com"),
            OidcUser("erin", _secret(), email="erin@example.com"),
        ),
    )


@pytest.fixture(scope="module")
def admin_realm() -> Iterator[OidcService]:
    """A private server: these tests change roles, mappings and groups."""
    with running_oidc(_realm()) as service:
        yield service


def test_keycloak_admin_client_agrees_with_the_stand_in(
    admin_realm: OidcService, tmp_path: Path
) -> None:
    service = admin_realm
    assert service.node_modules is not None
    node, _ = find_node()
    viewer, nobody = service.client("fidelity-viewer"), service.client("fidelity-nobody")
    settings = {
        "baseUrl": service.base_url,
        "realm": service.realm,
        "admin": {
            "clientId": service.admin_client.client_id,
            "clientSecret": service.admin_client.secret,
        },
        "viewer": {"clientId": viewer.client_id, "clientSecret": viewer.secret},
        "nobody": {"clientId": nobody.client_id, "clientSecret": nobody.secret},
        "serviceClientId": "fidelity-service",
        "publicClientId": "fidelity-public",
        "user": {"username": "dana", "email": "dana@example.com"},
    }
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    # The script imports the admin client from the server's installed packages.
    script = tmp_path / FIDELITY_SCRIPT.name
    script.write_bytes(FIDELITY_SCRIPT.read_bytes())
    (tmp_path / "node_modules").symlink_to(service.node_modules, target_is_directory=True)

    result = subprocess.run(  # noqa: S603 - node from PATH, our own script
        [node, str(script), str(tmp_path / "settings.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    checked = json.loads(result.stdout.strip().splitlines()[-1])["operations"]
    assert not REQUIRED_OPERATIONS - set(checked), "not checked by the script"


def _claims(service: OidcService, token: str) -> dict[str, Any]:
    """The verified claims of an access token (signature, issuer, expiry)."""
    key = jwt.PyJWKClient(service.jwks_url).get_signing_key_from_jwt(token).key
    claims: dict[str, Any] = jwt.decode(
        token, key=key, algorithms=["RS256"], issuer=service.issuer, options={"verify_aud": False}
    )
    return claims


def _realm_roles(claims: dict[str, Any]) -> set[str]:
    return set(claims["realm_access"]["roles"])


def _client_roles(claims: dict[str, Any], client_id: str) -> set[str]:
    return set(claims.get("resource_access", {}).get(client_id, {}).get("roles", []))


def _created(service: OidcService, token: str, path: str, body: dict[str, Any]) -> Any:
    answer = service.admin("POST", path, token=token, body=body)
    assert answer.status == 201, answer
    assert answer.location is not None
    found = service.admin("GET", f"{path}/{answer.location.rsplit('/', 1)[1]}", token=token)
    assert found.status == 200, found
    return found.body


def _single(service: OidcService, token: str, path: str) -> dict[str, Any]:
    answer = service.admin("GET", path, token=token)
    assert answer.status == 200
    assert len(answer.body) == 1, answer.body
    item: dict[str, Any] = answer.body[0]
    return item


def test_tokens_follow_grants_and_removals(admin_realm: OidcService) -> None:
    service = admin_realm
    admin = service.admin_token()
    app, svc = service.client("fidelity-app"), service.client("fidelity-service")
    dana, erin = service.user("dana"), service.user("erin")

    def user_token(user: OidcUser) -> dict[str, Any]:
        return service.token(
            app, grant_type="password", username=user.username, password=user.password
        )

    def service_claims() -> dict[str, Any]:
        return _claims(service, service.token(svc, grant_type="client_credentials")["access_token"])

    reader = _created(service, admin, "/roles", {"name": "token-reader"})
    deployer = _created(service, admin, "/roles", {"name": "token-deployer"})
    client = _single(service, admin, "/clients?clientId=fidelity-service")
    roles_path = f"/clients/{client['id']}/roles"
    publish = _created(service, admin, roles_path, {"name": "token-publish"})
    answer = service.admin(
        "POST", f"/roles-by-id/{deployer['id']}/composites", token=admin, body=[reader]
    )
    assert answer.status == 204

    before = user_token(dana)
    assert not {"token-deployer", "token-reader"} & _realm_roles(
        _claims(service, before["access_token"])
    )

    # A user: realm role (a composite, expanded in the token).
    dana_id = _single(service, admin, "/users?username=dana&exact=true")["id"]
    mapping = f"/users/{dana_id}/role-mappings/realm"
    assert service.admin("POST", mapping, token=admin, body=[deployer]).status == 204
    granted = user_token(dana)["access_token"]
    assert {"token-deployer", "token-reader"} <= _realm_roles(_claims(service, granted))

    # A service account: client role, and the client in `aud` stays out (its own token).
    account = service.admin("GET", f"/clients/{client['id']}/service-account-user", token=admin)
    assert account.status == 200
    sa_mapping = f"/users/{account.body['id']}/role-mappings/clients/{client['id']}"
    assert service.admin("POST", sa_mapping, token=admin, body=[publish]).status == 204
    assert _client_roles(service_claims(), "fidelity-service") == {"publish", "token-publish"}

    # A group's roles reach its members' tokens, and the role's client joins their `aud`.
    group = _created(service, admin, "/groups", {"name": "token-publishers"})
    group_mapping = f"/groups/{group['id']}/role-mappings/clients/{client['id']}"
    assert service.admin("POST", group_mapping, token=admin, body=[publish]).status == 204
    erin_id = _single(service, admin, "/users?email=erin@example.com&exact=true")["id"]
    membership = f"/users/{erin_id}/groups/{group['id']}"
    assert service.admin("PUT", membership, token=admin).status == 204
    erin_claims = _claims(service, user_token(erin)["access_token"])
    assert _client_roles(erin_claims, "fidelity-service") == {"token-publish"}
    assert "fidelity-service" in erin_claims["aud"]  # a list: account, fidelity-service

    # Removals: new tokens (and refreshed ones) no longer carry the role.
    assert service.admin("DELETE", mapping, token=admin, body=[deployer]).status == 204
    refreshed = service.token(
        app, grant_type="refresh_token", refresh_token=before["refresh_token"]
    )
    for token in (user_token(dana)["access_token"], refreshed["access_token"]):
        assert not {"token-deployer", "token-reader"} & _realm_roles(_claims(service, token))
    # A token issued before the removal keeps its claims until it expires, as in Keycloak.
    assert "token-deployer" in _realm_roles(_claims(service, granted))
    assert service.admin("DELETE", sa_mapping, token=admin, body=[publish]).status == 204
    assert _client_roles(service_claims(), "fidelity-service") == {"publish"}
    assert service.admin("DELETE", membership, token=admin).status == 204
    assert (
        _client_roles(_claims(service, user_token(erin)["access_token"]), "fidelity-service")
        == set()
    )

    # Deleting a role takes it out of every mapping and composite.
    assert service.admin("POST", mapping, token=admin, body=[deployer]).status == 204
    assert service.admin("DELETE", "/roles/token-reader", token=admin).status == 204
    assert "token-reader" not in _realm_roles(_claims(service, user_token(dana)["access_token"]))
    assert service.admin("DELETE", "/roles/token-deployer", token=admin).status == 204
    assert "token-deployer" not in _realm_roles(_claims(service, user_token(dana)["access_token"]))


def test_admin_permissions_come_from_the_token(admin_realm: OidcService) -> None:
    """Keycloak decides from the realm-management roles of the token presented: a grant of an
    admin role reaches the caller with its next token, not the one it holds."""
    service = admin_realm
    admin = service.admin_token()
    viewer_client = service.client("fidelity-viewer")
    viewer = service.token(viewer_client, grant_type="client_credentials")["access_token"]
    assert _client_roles(_claims(service, viewer), REALM_MANAGEMENT) == {
        "view-users",
        "view-realm",
        "query-users",
        "query-groups",
    }
    assert service.admin("POST", "/roles", token=viewer, body={"name": "by-viewer"}).status == 403

    management = _single(service, admin, f"/clients?clientId={REALM_MANAGEMENT}")["id"]
    manage_realm = service.admin("GET", f"/clients/{management}/roles/manage-realm", token=admin)
    viewer_id = _single(service, admin, "/clients?clientId=fidelity-viewer")["id"]
    account = service.admin("GET", f"/clients/{viewer_id}/service-account-user", token=admin)
    grant = f"/users/{account.body['id']}/role-mappings/clients/{management}"
    assert service.admin("POST", grant, token=admin, body=[manage_realm.body]).status == 204
    try:
        assert (
            service.admin("POST", "/roles", token=viewer, body={"name": "by-viewer"}).status == 403
        )
        fresh = service.token(viewer_client, grant_type="client_credentials")["access_token"]
        assert (
            service.admin("POST", "/roles", token=fresh, body={"name": "by-viewer"}).status == 201
        )
        assert service.admin("DELETE", "/roles/by-viewer", token=fresh).status == 204
    finally:
        assert service.admin("DELETE", grant, token=admin, body=[manage_realm.body]).status == 204


def test_the_harness_exposes_the_admin_api_without_secrets(admin_realm: OidcService) -> None:
    service = admin_realm
    assert service.admin_url == f"{service.base_url}/admin/realms/admin-fidelity"
    assert service.admin_client.client_id == "fidelity-admin"
    shown = repr(service) + repr(_realm())
    for client in service.clients:
        assert client.secret is None or client.secret not in shown
    for user in service.users:
        assert user.password not in shown
    assert "secret=" not in shown
    assert "password=" not in shown

    with pytest.raises(ValueError, match="must name a confidential client"):
        OidcRealmConfig(clients=(OidcClient("public", None),), admin_client_id="public")
    with pytest.raises(KeyError, match="has no admin client"):
        _ = OidcService(
            base_url="http://x", realm="r", issuer="http://x/realms/r", clients=(), users=()
        ).admin_client

    session = default_realm_config()
    assert session.admin_client_id == "omnibase-admin"
    assert dict(session.clients[-1].client_roles) == {REALM_MANAGEMENT: ("realm-admin",)}


def test_session_realm_is_administrable(oidc_service: OidcService) -> None:
    """The session server's admin client reads the realm (it holds realm-admin); so does an
    external Keycloak's, named by OMNIBASE_INFRA_TEST_OIDC_ADMIN_CLIENT_ID/_SECRET."""
    service = oidc_service
    if service.admin_client_id is None:
        service_unavailable(
            f"{SERVICE} with an admin client",
            f"the external issuer {service.issuer} has no admin client configured",
            f"set {ADMIN_CLIENT_ID_ENV} and {ADMIN_CLIENT_SECRET_ENV}, or unset {ISSUER_ENV}",
        )
    admin = service.admin_token()
    roles = service.admin("GET", "/roles", token=admin)
    assert roles.status == 200
    names = {role["name"] for role in roles.body}
    assert f"default-roles-{service.realm}" in names
    if not service.external:
        assert {"service", "admin", "user"} <= names
    assert service.admin("GET", "/roles", token="not-a-token").status == 401
