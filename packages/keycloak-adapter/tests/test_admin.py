"""The Admin REST API through the node, against the harness's Keycloak stand-in (a private
realm: these tests change roles, mappings and groups): every operation, its errors (404 naming
the resource, 409, 403 naming the admin role, 401 refreshed once), the ensure operations
repeated, and what grants and removals do to the tokens the node then verifies."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from omnibase_core.enums.enum_effect_types import EnumEffectType
from omnibase_core.nodes import ModelEffectInput
from pydantic import SecretStr, ValidationError

from omnibase_infra.errors import (
    InfraAuthenticationError,
    InfraConfigurationError,
    InfraConflictError,
    InfraNotFoundError,
    InfraPermissionError,
)
from omnibase_infra.models.keycloak import (
    ModelKeycloakToken,
    ModelKeycloakTokenClaims,
    ModelKeycloakTokenRequest,
)
from omnibase_infra.models.keycloak.admin import (
    EnumKeycloakPrincipalKind,
    ModelKeycloakGroupCreateRequest,
    ModelKeycloakGroupDeleteRequest,
    ModelKeycloakGroupGetRequest,
    ModelKeycloakGroupListRequest,
    ModelKeycloakGroupMemberAddRequest,
    ModelKeycloakGroupMemberRemoveRequest,
    ModelKeycloakPrincipal,
    ModelKeycloakRoleCompositesAddRequest,
    ModelKeycloakRoleCompositesListRequest,
    ModelKeycloakRoleCompositesRemoveRequest,
    ModelKeycloakRoleCreateRequest,
    ModelKeycloakRoleDeleteRequest,
    ModelKeycloakRoleEnsureAbsentRequest,
    ModelKeycloakRoleEnsureRequest,
    ModelKeycloakRoleGetRequest,
    ModelKeycloakRoleListRequest,
    ModelKeycloakRoleMappingAssignRequest,
    ModelKeycloakRoleMappingEnsureAbsentRequest,
    ModelKeycloakRoleMappingEnsureRequest,
    ModelKeycloakRoleMappingListRequest,
    ModelKeycloakRoleMappingRemoveRequest,
    ModelKeycloakRoleRef,
    ModelKeycloakRoleUpdateRequest,
    ModelKeycloakUserFindRequest,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect import NodeKeycloakAdapterEffect
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.admin import admin_base_url
from omnibase_infra_testing.services.oidc import (
    OidcClient,
    OidcRealmConfig,
    OidcService,
    OidcUser,
    realm_admin_client,
    running_oidc,
)

from .conftest import NodeFactory, note

pytestmark = pytest.mark.real_service

SERVICE = "adm-service"  # a confidential client with a service account
USER = ModelKeycloakPrincipal(kind=EnumKeycloakPrincipalKind.USER, name="dana")
ACCOUNT = ModelKeycloakPrincipal(kind=EnumKeycloakPrincipalKind.SERVICE_ACCOUNT, name=SERVICE)


def _secret() -> str:
    return secrets.token_urlsafe(18)


def realm(name: str) -> ModelKeycloakRoleRef:
    return ModelKeycloakRoleRef(name=name)


def client_role(name: str) -> ModelKeycloakRoleRef:
    return ModelKeycloakRoleRef(name=name, client_id=SERVICE)


@pytest.fixture(scope="module")
def admin_realm() -> Iterator[OidcService]:
    config = OidcRealmConfig(
        realm="adapter-admin",
        admin_client_id="adm-admin",
        clients=(
            realm_admin_client("adm-admin", _secret()),
            realm_admin_client("adm-viewer", _secret(), roles=("view-users", "view-realm")),
            OidcClient(SERVICE, _secret(), grant_types=("client_credentials",)),
            OidcClient("adm-app", _secret(), grant_types=("password", "refresh_token")),
        ),
        users=(
            OidcUser("dana", _secret(), email="dana@example.com"),
            OidcUser("erin", _secret(), email="erin@example.com"),
        ),
    )
    with running_oidc(config) as service:
        yield service


@pytest.fixture
def admin(admin_realm: OidcService, make_node: NodeFactory) -> NodeKeycloakAdapterEffect:
    return make_node(admin_realm, "adm-admin")


async def _user_claims(
    node: NodeKeycloakAdapterEffect, service: OidcService, username: str
) -> ModelKeycloakTokenClaims:
    user = service.user(username)
    token = await node.token(
        ModelKeycloakTokenRequest(
            grant_type="password", username=username, password=SecretStr(user.password)
        )
    )
    note(token.access_token, token.refresh_token)
    return await node.verify_token(token.access_token)


async def _service_claims(node: NodeKeycloakAdapterEffect) -> ModelKeycloakTokenClaims:
    token = await node.token(ModelKeycloakTokenRequest(use_cache=False))
    note(token.access_token)
    return await node.verify_token(token.access_token)


async def test_realm_and_client_roles(admin: NodeKeycloakAdapterEffect) -> None:
    created = await admin.role_create(
        ModelKeycloakRoleCreateRequest(
            role=realm("crud-deployer"), description="deploys", attributes={"team": ("ops",)}
        )
    )
    assert (created.name, created.description, created.client_role) == (
        "crud-deployer",
        "deploys",
        False,
    )
    assert created.attributes == {"team": ("ops",)}
    got = await admin.role_get(ModelKeycloakRoleGetRequest(role=realm("crud-deployer")))
    assert got == created
    with pytest.raises(InfraConflictError, match="realm role 'crud-deployer' already exists"):
        await admin.role_create(ModelKeycloakRoleCreateRequest(role=realm("crud-deployer")))
    listed = await admin.role_list(ModelKeycloakRoleListRequest(search="crud-"))
    assert listed.names == ("crud-deployer",)
    assert "offline_access" in (await admin.role_list(ModelKeycloakRoleListRequest())).names
    updated = await admin.role_update(
        ModelKeycloakRoleUpdateRequest(role=realm("crud-deployer"), description="ships")
    )
    assert (updated.id, updated.description, updated.attributes) == (
        created.id,
        "ships",
        {"team": ("ops",)},
    )

    publish = await admin.role_create(
        ModelKeycloakRoleCreateRequest(role=client_role("crud-publish"), description="pub")
    )
    assert (publish.client_role, publish.client_id) == (True, SERVICE)
    assert publish.ref == client_role("crud-publish")
    assert (await admin.role_list(ModelKeycloakRoleListRequest(client_id=SERVICE))).names == (
        "crud-publish",
    )
    renamed = await admin.role_update(
        ModelKeycloakRoleUpdateRequest(role=client_role("crud-publish"), attributes={})
    )
    assert renamed.description == "pub"
    with pytest.raises(
        InfraConflictError, match=f"client role 'crud-publish' of client '{SERVICE}'"
    ):
        await admin.role_create(ModelKeycloakRoleCreateRequest(role=client_role("crud-publish")))

    for request in (
        ModelKeycloakRoleDeleteRequest(role=realm("crud-deployer")),
        ModelKeycloakRoleDeleteRequest(role=client_role("crud-publish")),
    ):
        assert (await admin.role_delete(request)).changed
        with pytest.raises(InfraNotFoundError) as gone:
            await admin.role_delete(request)
        assert gone.value.details["resource"] == request.role.describe()
    with pytest.raises(InfraNotFoundError, match="realm role 'crud-deployer' not found"):
        await admin.role_get(ModelKeycloakRoleGetRequest(role=realm("crud-deployer")))
    with pytest.raises(InfraNotFoundError, match="client 'no-such-client' not found"):
        await admin.role_get(
            ModelKeycloakRoleGetRequest(
                role=ModelKeycloakRoleRef(name="x", client_id="no-such-client")
            )
        )


async def test_composites(admin: NodeKeycloakAdapterEffect) -> None:
    for ref in (realm("comp-parent"), realm("comp-child"), client_role("comp-publish")):
        await admin.role_create(ModelKeycloakRoleCreateRequest(role=ref))
    parent = realm("comp-parent")
    added = await admin.role_composites_add(
        ModelKeycloakRoleCompositesAddRequest(
            role=parent, composites=(realm("comp-child"), client_role("comp-publish"))
        )
    )
    assert added.changed
    held = await admin.role_composites_list(ModelKeycloakRoleCompositesListRequest(role=parent))
    assert {(r.name, r.client_id) for r in held.roles} == {
        ("comp-child", None),
        ("comp-publish", SERVICE),
    }
    assert (await admin.role_get(ModelKeycloakRoleGetRequest(role=parent))).composite
    await admin.role_composites_remove(
        ModelKeycloakRoleCompositesRemoveRequest(role=parent, composites=(realm("comp-child"),))
    )
    held = await admin.role_composites_list(ModelKeycloakRoleCompositesListRequest(role=parent))
    assert held.names == ("comp-publish",)
    with pytest.raises(InfraNotFoundError, match="realm role 'comp-missing' not found"):
        await admin.role_composites_add(
            ModelKeycloakRoleCompositesAddRequest(role=parent, composites=(realm("comp-missing"),))
        )


async def test_user_and_service_account_mappings_reach_the_tokens(
    admin_realm: OidcService, admin: NodeKeycloakAdapterEffect, make_node: NodeFactory
) -> None:
    app = make_node(admin_realm, "adm-app")
    service = make_node(admin_realm, SERVICE)
    await admin.role_create(ModelKeycloakRoleCreateRequest(role=realm("map-deployer")))
    await admin.role_create(ModelKeycloakRoleCreateRequest(role=realm("map-reader")))
    await admin.role_create(ModelKeycloakRoleCreateRequest(role=client_role("map-publish")))
    await admin.role_composites_add(
        ModelKeycloakRoleCompositesAddRequest(
            role=realm("map-deployer"), composites=(realm("map-reader"),)
        )
    )
    assert not (await _user_claims(app, admin_realm, "dana")).has_realm_role("map-deployer")

    # A user: a realm role (a composite) and a client role.
    await admin.role_mapping_assign(
        ModelKeycloakRoleMappingAssignRequest(
            principal=USER, roles=(realm("map-deployer"), client_role("map-publish"))
        )
    )
    claims = await _user_claims(app, admin_realm, "dana")
    assert claims.has_realm_role("map-deployer")
    assert claims.has_realm_role("map-reader")  # through the composite
    assert claims.has_client_role(SERVICE, "map-publish")
    direct = await admin.role_mapping_list(ModelKeycloakRoleMappingListRequest(principal=USER))
    assert "map-deployer" in direct.names
    assert "map-reader" not in direct.names
    effective = await admin.role_mapping_list(
        ModelKeycloakRoleMappingListRequest(principal=USER, effective=True)
    )
    assert {"map-deployer", "map-reader", "offline_access"} <= set(effective.names)
    clients = await admin.role_mapping_list(
        ModelKeycloakRoleMappingListRequest(principal=USER, client_id=SERVICE)
    )
    assert clients.names == ("map-publish",)
    await admin.role_mapping_remove(
        ModelKeycloakRoleMappingRemoveRequest(
            principal=USER, roles=(realm("map-deployer"), client_role("map-publish"))
        )
    )
    after = await _user_claims(app, admin_realm, "dana")
    assert not after.has_realm_role("map-deployer")
    assert not after.has_realm_role("map-reader")
    assert not after.has_client_role(SERVICE, "map-publish")

    # A client's service account: its next client-credentials token carries the role.
    await admin.role_mapping_assign(
        ModelKeycloakRoleMappingAssignRequest(
            principal=ACCOUNT, roles=(client_role("map-publish"),)
        )
    )
    assert (await _service_claims(service)).has_client_role(SERVICE, "map-publish")
    listed = await admin.role_mapping_list(
        ModelKeycloakRoleMappingListRequest(principal=ACCOUNT, client_id=SERVICE, effective=True)
    )
    assert "map-publish" in listed.names
    await admin.role_mapping_remove(
        ModelKeycloakRoleMappingRemoveRequest(
            principal=ACCOUNT, roles=(client_role("map-publish"),)
        )
    )
    assert not (await _service_claims(service)).has_client_role(SERVICE, "map-publish")

    nobody = ModelKeycloakPrincipal(kind=EnumKeycloakPrincipalKind.USER, name="nobody")
    with pytest.raises(InfraNotFoundError, match="user 'nobody' not found"):
        await admin.role_mapping_assign(
            ModelKeycloakRoleMappingAssignRequest(principal=nobody, roles=(realm("map-reader"),))
        )
    with pytest.raises(InfraNotFoundError, match="realm role 'map-none' not found"):
        await admin.role_mapping_assign(
            ModelKeycloakRoleMappingAssignRequest(principal=USER, roles=(realm("map-none"),))
        )


async def test_groups_members_and_their_roles(
    admin_realm: OidcService, admin: NodeKeycloakAdapterEffect, make_node: NodeFactory
) -> None:
    app = make_node(admin_realm, "adm-app")
    await admin.role_create(ModelKeycloakRoleCreateRequest(role=realm("grp-operator")))
    group = await admin.group_create(ModelKeycloakGroupCreateRequest(group="grp-operators"))
    assert (group.name, group.path) == ("grp-operators", "/grp-operators")
    with pytest.raises(InfraConflictError, match="group 'grp-operators' already exists"):
        await admin.group_create(ModelKeycloakGroupCreateRequest(group="grp-operators"))
    assert await admin.group_get(ModelKeycloakGroupGetRequest(group="grp-operators")) == group
    listed = await admin.group_list(ModelKeycloakGroupListRequest(search="grp-op"))
    assert listed.groups == (group,)
    as_principal = ModelKeycloakPrincipal(
        kind=EnumKeycloakPrincipalKind.GROUP, name="grp-operators"
    )
    await admin.role_mapping_assign(
        ModelKeycloakRoleMappingAssignRequest(
            principal=as_principal, roles=(realm("grp-operator"),)
        )
    )
    mapped = await admin.role_mapping_list(
        ModelKeycloakRoleMappingListRequest(principal=as_principal)
    )
    assert mapped.names == ("grp-operator",)

    await admin.group_member_add(
        ModelKeycloakGroupMemberAddRequest(group="grp-operators", username="erin")
    )
    assert (await _user_claims(app, admin_realm, "erin")).has_realm_role("grp-operator")
    erin = ModelKeycloakPrincipal(kind=EnumKeycloakPrincipalKind.USER, name="erin")
    effective = await admin.role_mapping_list(
        ModelKeycloakRoleMappingListRequest(principal=erin, effective=True)
    )
    assert "grp-operator" in effective.names
    await admin.group_member_remove(
        ModelKeycloakGroupMemberRemoveRequest(group="grp-operators", username="erin")
    )
    assert not (await _user_claims(app, admin_realm, "erin")).has_realm_role("grp-operator")

    assert (
        await admin.group_delete(ModelKeycloakGroupDeleteRequest(group="grp-operators"))
    ).changed
    with pytest.raises(InfraNotFoundError, match="group 'grp-operators' not found"):
        await admin.group_get(ModelKeycloakGroupGetRequest(group="grp-operators"))


async def test_users_by_username_or_email(admin: NodeKeycloakAdapterEffect) -> None:
    by_name = await admin.user_find(ModelKeycloakUserFindRequest(username="dana"))
    assert [(u.username, u.email) for u in by_name.users] == [("dana", "dana@example.com")]
    by_email = await admin.user_find(ModelKeycloakUserFindRequest(email="DANA@example.com"))
    assert [u.id for u in by_email.users] == [by_name.users[0].id]
    assert (await admin.user_find(ModelKeycloakUserFindRequest(username="dan"))).users == ()
    with pytest.raises(ValidationError, match="exactly one of username and email"):
        ModelKeycloakUserFindRequest(username="dana", email="dana@example.com")


async def test_ensure_operations_are_safe_to_repeat(
    admin_realm: OidcService, admin: NodeKeycloakAdapterEffect, make_node: NodeFactory
) -> None:
    service = make_node(admin_realm, SERVICE)
    role = client_role("ens-deploy")
    ensure = ModelKeycloakRoleEnsureRequest(
        role=role,
        description="deploys the service",
        attributes={"owner": ("platform",)},
        composites=(realm("offline_access"),),
    )
    first = await admin.role_ensure(ensure)
    assert (first.changed, first.created) == (True, True)
    assert first.role.composite
    again = await admin.role_ensure(ensure)
    assert (again.changed, again.created) == (False, False)
    assert again.role == first.role
    moved = await admin.role_ensure(ensure.model_copy(update={"attributes": {"owner": ("sre",)}}))
    assert moved.changed
    assert moved.role.attributes == {"owner": ("sre",)}
    # None: whatever it has.
    assert not (await admin.role_ensure(ModelKeycloakRoleEnsureRequest(role=role))).changed

    grant = ModelKeycloakRoleMappingEnsureRequest(principal=ACCOUNT, roles=(role,))
    assert (await admin.role_mapping_ensure(grant)).changed
    assert not (await admin.role_mapping_ensure(grant)).changed
    assert (await _service_claims(service)).has_client_role(SERVICE, "ens-deploy")

    revoke = ModelKeycloakRoleMappingEnsureAbsentRequest(principal=ACCOUNT, roles=(role,))
    assert (await admin.role_mapping_ensure_absent(revoke)).changed
    assert not (await admin.role_mapping_ensure_absent(revoke)).changed
    assert not (await _service_claims(service)).has_client_role(SERVICE, "ens-deploy")
    # Absent already: a principal, a client or a role that does not exist.
    gone = ModelKeycloakPrincipal(kind=EnumKeycloakPrincipalKind.SERVICE_ACCOUNT, name="gone")
    for request in (
        revoke.model_copy(update={"principal": gone}),
        revoke.model_copy(
            update={"roles": (ModelKeycloakRoleRef(name="x", client_id="no-such-client"),)}
        ),
        revoke.model_copy(update={"roles": (realm("never-created"),)}),
    ):
        assert not (await admin.role_mapping_ensure_absent(request)).changed

    remove = ModelKeycloakRoleEnsureAbsentRequest(role=role)
    assert (await admin.role_ensure_absent(remove)).changed
    assert not (await admin.role_ensure_absent(remove)).changed
    with pytest.raises(InfraNotFoundError):
        await admin.role_get(ModelKeycloakRoleGetRequest(role=role))
    elsewhere = ModelKeycloakRoleRef(name="x", client_id="no-such-client")
    assert not (
        await admin.role_ensure_absent(remove.model_copy(update={"role": elsewhere}))
    ).changed


async def test_forbidden_names_the_admin_role(
    admin_realm: OidcService, make_node: NodeFactory
) -> None:
    viewer = make_node(admin_realm, "adm-viewer")
    assert (await viewer.role_list(ModelKeycloakRoleListRequest())).names  # view-realm: reads
    cases = [
        (ModelKeycloakRoleCreateRequest(role=realm("forbidden")), "manage-realm"),
        (
            ModelKeycloakRoleMappingAssignRequest(principal=USER, roles=(realm("offline_access"),)),
            "manage-users",
        ),
        (ModelKeycloakGroupCreateRequest(group="forbidden"), "manage-users"),
    ]
    for request, role in cases:
        with pytest.raises(InfraPermissionError) as refused:
            await viewer.process(request)
        assert refused.value.details["required_role"] == role
        assert f"realm-management role {role!r}" in str(refused.value)
    # Clients the caller may not view are not listed (as in Keycloak): not found, with a hint.
    with pytest.raises(InfraNotFoundError, match="needs 'view-clients'"):
        await viewer.role_get(ModelKeycloakRoleGetRequest(role=client_role("anything")))


async def test_a_refused_admin_token_is_replaced_once(
    admin_realm: OidcService, admin: NodeKeycloakAdapterEffect
) -> None:
    # The node holds a token the server does not accept (as after a key rotation or a
    # revocation): the first admin call gets 401, the node fetches a new token and succeeds.
    stale = ModelKeycloakToken(
        access_token=SecretStr("not-a-token"),
        expires_in=300,
        expires_at=datetime.now(UTC) + timedelta(seconds=300),
    )
    admin._tokens.store(None, stale, admin._clock())
    before = admin.network_requests.get("token", 0)
    listed = await admin.role_list(ModelKeycloakRoleListRequest())
    assert listed.names
    assert admin.network_requests["token"] == before + 1
    assert admin.network_requests["admin"] >= 2  # the refused call and the repeated one


async def test_an_admin_token_refused_twice_is_an_authentication_error(
    admin: NodeKeycloakAdapterEffect, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every token the node gets is one the server refuses (a realm whose admin client lost
    # its credentials between the token and the call): one replacement, then the error.
    fetched: list[str] = []

    async def refused_token(request: ModelKeycloakTokenRequest) -> ModelKeycloakToken:
        fetched.append(request.grant_type)
        return ModelKeycloakToken(
            access_token=SecretStr(f"refused-{len(fetched)}"),
            expires_in=300,
            expires_at=datetime.now(UTC) + timedelta(seconds=300),
        )

    monkeypatch.setattr(admin, "token", refused_token)
    before = admin.network_requests.get("admin", 0)
    with pytest.raises(InfraAuthenticationError):
        await admin.role_list(ModelKeycloakRoleListRequest())
    assert len(fetched) == 2  # the first token and one replacement, no more
    assert admin.network_requests["admin"] - before == 2  # one refused call per token


async def test_admin_operations_through_core_envelope(admin: NodeKeycloakAdapterEffect) -> None:
    out = await admin.process(
        ModelEffectInput(
            effect_type=EnumEffectType.API_CALL,
            operation_data={
                "operation": "role_ensure",
                "role": {"name": "env-role", "client_id": SERVICE},
                "description": "from an envelope",
            },
        )
    )
    assert isinstance(out.result, dict)
    assert out.result["role"]["name"] == "env-role"
    assert out.result["created"] is True
    await admin.role_delete(ModelKeycloakRoleDeleteRequest(role=client_role("env-role")))


def test_admin_url_comes_from_the_issuer() -> None:
    assert admin_base_url("https://kc.example/auth/realms/ops") == (
        "https://kc.example/auth/admin/realms/ops"
    )
    with pytest.raises(InfraConfigurationError, match="not a Keycloak realm URL"):
        admin_base_url("https://issuer.example/tenant")
