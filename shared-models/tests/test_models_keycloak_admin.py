"""The Keycloak node's admin requests and responses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnibase_infra.models.keycloak.admin import (
    EnumKeycloakAdminOperation,
    EnumKeycloakPrincipalKind,
    ModelKeycloakPrincipal,
    ModelKeycloakRole,
    ModelKeycloakRoleList,
    ModelKeycloakRoleMappingAssignRequest,
    ModelKeycloakRoleRef,
    ModelKeycloakUserFindRequest,
)


def test_roles_and_principals_describe_themselves() -> None:
    assert ModelKeycloakRoleRef(name="reader").describe() == "realm role 'reader'"
    publish = ModelKeycloakRoleRef(name="publish", client_id="orders")
    assert publish.describe() == "client role 'publish' of client 'orders'"
    kinds = EnumKeycloakPrincipalKind
    assert ModelKeycloakPrincipal(kind=kinds.USER, name="dana").describe() == "user 'dana'"
    assert ModelKeycloakPrincipal(kind=kinds.GROUP, name="ops").describe() == "group 'ops'"
    account = ModelKeycloakPrincipal(kind=kinds.SERVICE_ACCOUNT, name="orders")
    assert account.describe() == "service account of client 'orders'"


def test_role_views() -> None:
    role = ModelKeycloakRole(id="1", name="publish", client_role=True, client_id="orders")
    assert role.ref == ModelKeycloakRoleRef(name="publish", client_id="orders")
    listed = ModelKeycloakRoleList(roles=(role, ModelKeycloakRole(id="2", name="audit")))
    assert listed.names == ("audit", "publish")


def test_requests_validate() -> None:
    with pytest.raises(ValidationError, match="exactly one of username and email"):
        ModelKeycloakUserFindRequest()
    with pytest.raises(ValidationError, match="exactly one of username and email"):
        ModelKeycloakUserFindRequest(username="a", email="a@example.com")
    assert ModelKeycloakUserFindRequest(email="a@example.com").username is None
    with pytest.raises(ValidationError):
        ModelKeycloakRoleMappingAssignRequest(
            principal=ModelKeycloakPrincipal(kind=EnumKeycloakPrincipalKind.USER, name="a"),
            roles=(),
        )
    assert EnumKeycloakAdminOperation("role_mapping_ensure_absent").name == (
        "ROLE_MAPPING_ENSURE_ABSENT"
    )
