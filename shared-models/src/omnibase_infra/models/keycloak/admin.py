"""Requests and responses of the Keycloak node's admin operations (Keycloak's Admin REST API,
``/admin/realms/{realm}/...``): realm and client roles with composites, role mappings of
users, service accounts and groups, groups and their members, users found by username or
email, and the idempotent "ensure" operations workflows repeat safely.

Roles and principals are named as people name them, not by Keycloak's internal ids: a role
is ``(name, client_id)`` (``client_id`` the client's ``clientId``; ``None`` for a realm
role); a principal is a user (``username``), a client's service account (its ``clientId``)
or a top-level group (its name). The node looks the ids up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnibase_infra.models.model_infra_envelope import ModelInfraRequest

__all__ = [
    "EnumKeycloakAdminOperation",
    "EnumKeycloakPrincipalKind",
    "ModelKeycloakAdminResult",
    "ModelKeycloakGroup",
    "ModelKeycloakGroupCreateRequest",
    "ModelKeycloakGroupDeleteRequest",
    "ModelKeycloakGroupGetRequest",
    "ModelKeycloakGroupList",
    "ModelKeycloakGroupListRequest",
    "ModelKeycloakGroupMemberAddRequest",
    "ModelKeycloakGroupMemberRemoveRequest",
    "ModelKeycloakPrincipal",
    "ModelKeycloakRole",
    "ModelKeycloakRoleCompositesAddRequest",
    "ModelKeycloakRoleCompositesListRequest",
    "ModelKeycloakRoleCompositesRemoveRequest",
    "ModelKeycloakRoleCreateRequest",
    "ModelKeycloakRoleDeleteRequest",
    "ModelKeycloakRoleEnsureAbsentRequest",
    "ModelKeycloakRoleEnsureRequest",
    "ModelKeycloakRoleEnsured",
    "ModelKeycloakRoleGetRequest",
    "ModelKeycloakRoleList",
    "ModelKeycloakRoleListRequest",
    "ModelKeycloakRoleMappingAssignRequest",
    "ModelKeycloakRoleMappingEnsureAbsentRequest",
    "ModelKeycloakRoleMappingEnsureRequest",
    "ModelKeycloakRoleMappingListRequest",
    "ModelKeycloakRoleMappingRemoveRequest",
    "ModelKeycloakRoleRef",
    "ModelKeycloakRoleUpdateRequest",
    "ModelKeycloakUser",
    "ModelKeycloakUserFindRequest",
    "ModelKeycloakUserList",
]

_NAME = Annotated[str, Field(min_length=1, max_length=255)]
type Attributes = dict[str, tuple[str, ...]]


class EnumKeycloakAdminOperation(StrEnum):
    """The admin operations of the Keycloak node (the contract lists them in this order)."""

    ROLE_CREATE = "role_create"
    ROLE_GET = "role_get"
    ROLE_LIST = "role_list"
    ROLE_UPDATE = "role_update"
    ROLE_DELETE = "role_delete"
    ROLE_COMPOSITES_ADD = "role_composites_add"
    ROLE_COMPOSITES_LIST = "role_composites_list"
    ROLE_COMPOSITES_REMOVE = "role_composites_remove"
    ROLE_MAPPING_ASSIGN = "role_mapping_assign"
    ROLE_MAPPING_REMOVE = "role_mapping_remove"
    ROLE_MAPPING_LIST = "role_mapping_list"
    GROUP_CREATE = "group_create"
    GROUP_GET = "group_get"
    GROUP_LIST = "group_list"
    GROUP_DELETE = "group_delete"
    GROUP_MEMBER_ADD = "group_member_add"
    GROUP_MEMBER_REMOVE = "group_member_remove"
    USER_FIND = "user_find"
    ROLE_ENSURE = "role_ensure"
    ROLE_MAPPING_ENSURE = "role_mapping_ensure"
    ROLE_MAPPING_ENSURE_ABSENT = "role_mapping_ensure_absent"
    ROLE_ENSURE_ABSENT = "role_ensure_absent"


class EnumKeycloakPrincipalKind(StrEnum):
    """Who role mappings belong to."""

    USER = "user"  # by username
    SERVICE_ACCOUNT = "service_account"  # a client's service account, by its clientId
    GROUP = "group"  # a top-level group, by its name


# defer_build: the validators are built on first use, not when the node is imported (forty
# models: most of this module's import time).
class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _AdminRequest(ModelInfraRequest):
    model_config = ConfigDict(defer_build=True)


class ModelKeycloakRoleRef(_Frozen):
    """A role by name: a realm role, or a client role of the client ``client_id``."""

    name: _NAME
    client_id: _NAME | None = None

    def describe(self) -> str:
        """``realm role 'x'`` or ``client role 'x' of client 'y'`` (for messages)."""
        if self.client_id is None:
            return f"realm role {self.name!r}"
        return f"client role {self.name!r} of client {self.client_id!r}"


class ModelKeycloakPrincipal(_Frozen):
    """A user, a client's service account or a group: who role mappings belong to."""

    kind: EnumKeycloakPrincipalKind
    name: _NAME

    def describe(self) -> str:
        """``user 'x'``, ``service account of client 'x'`` or ``group 'x'``."""
        if self.kind is EnumKeycloakPrincipalKind.SERVICE_ACCOUNT:
            return f"service account of client {self.name!r}"
        return f"{self.kind.value} {self.name!r}"


# -- responses ---------------------------------------------------------------------------


class ModelKeycloakRole(_Frozen):
    """A role as Keycloak represents it (``client_id`` is the clientId of a client role)."""

    id: str
    name: str
    description: str | None = None
    composite: bool = False
    client_role: bool = False
    client_id: str | None = None
    attributes: Attributes = Field(default_factory=dict)

    @property
    def ref(self) -> ModelKeycloakRoleRef:
        """The role by name."""
        return ModelKeycloakRoleRef(name=self.name, client_id=self.client_id)


class ModelKeycloakRoleList(_Frozen):
    roles: tuple[ModelKeycloakRole, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The roles' names, sorted."""
        return tuple(sorted(role.name for role in self.roles))


class ModelKeycloakRoleEnsured(_Frozen):
    """The role after ``role_ensure``; ``changed``: whether it had to be created or updated."""

    role: ModelKeycloakRole
    changed: bool
    created: bool = False


class ModelKeycloakAdminResult(_Frozen):
    """The outcome of a change; ``changed``: whether the realm's state changed (the ensure
    operations report False when it already was as asked)."""

    changed: bool = True


class ModelKeycloakGroup(_Frozen):
    id: str
    name: str
    path: str


class ModelKeycloakGroupList(_Frozen):
    groups: tuple[ModelKeycloakGroup, ...] = ()


class ModelKeycloakUser(_Frozen):
    id: str
    username: str
    email: str | None = None
    enabled: bool = True
    first_name: str | None = None
    last_name: str | None = None
    service_account_client_id: str | None = None


class ModelKeycloakUserList(_Frozen):
    users: tuple[ModelKeycloakUser, ...] = ()


# -- requests -------------------------------------------------------------------------------


class _RoleRequest(_AdminRequest):
    role: ModelKeycloakRoleRef


class ModelKeycloakRoleCreateRequest(_RoleRequest):
    """Create a realm or client role (409 → ``InfraConflictError`` when it exists)."""

    operation: Literal["role_create"] = "role_create"
    description: str | None = Field(default=None, max_length=255)
    attributes: Attributes = Field(default_factory=dict)


class ModelKeycloakRoleGetRequest(_RoleRequest):
    """A role by name (``InfraNotFoundError`` naming it when it does not exist)."""

    operation: Literal["role_get"] = "role_get"


class ModelKeycloakRoleListRequest(_AdminRequest):
    """The realm's roles, or the client roles of ``client_id``; ``search``: a substring."""

    operation: Literal["role_list"] = "role_list"
    client_id: _NAME | None = None
    search: str | None = Field(default=None, max_length=255)


class ModelKeycloakRoleUpdateRequest(_RoleRequest):
    """Set a role's description and attributes (``None``: keep the current ones)."""

    operation: Literal["role_update"] = "role_update"
    description: str | None = Field(default=None, max_length=255)
    attributes: Attributes | None = None


class ModelKeycloakRoleDeleteRequest(_RoleRequest):
    """Delete a role: it leaves every mapping and composite."""

    operation: Literal["role_delete"] = "role_delete"


class _CompositesRequest(_RoleRequest):
    composites: tuple[ModelKeycloakRoleRef, ...] = Field(min_length=1)


class ModelKeycloakRoleCompositesAddRequest(_CompositesRequest):
    """Make ``role`` a composite holding ``composites`` too."""

    operation: Literal["role_composites_add"] = "role_composites_add"


class ModelKeycloakRoleCompositesRemoveRequest(_CompositesRequest):
    """Take ``composites`` out of ``role``."""

    operation: Literal["role_composites_remove"] = "role_composites_remove"


class ModelKeycloakRoleCompositesListRequest(_RoleRequest):
    """The roles ``role`` holds directly."""

    operation: Literal["role_composites_list"] = "role_composites_list"


class _MappingRequest(_AdminRequest):
    principal: ModelKeycloakPrincipal
    roles: tuple[ModelKeycloakRoleRef, ...] = Field(min_length=1)


class ModelKeycloakRoleMappingAssignRequest(_MappingRequest):
    """Map ``roles`` to the principal (already mapped ones stay as they are)."""

    operation: Literal["role_mapping_assign"] = "role_mapping_assign"


class ModelKeycloakRoleMappingRemoveRequest(_MappingRequest):
    """Take ``roles`` from the principal's direct mappings."""

    operation: Literal["role_mapping_remove"] = "role_mapping_remove"


class ModelKeycloakRoleMappingEnsureRequest(_MappingRequest):
    """Make sure the principal has ``roles`` mapped directly; ``changed`` says whether any
    was missing. Safe to repeat."""

    operation: Literal["role_mapping_ensure"] = "role_mapping_ensure"


class ModelKeycloakRoleMappingEnsureAbsentRequest(_MappingRequest):
    """Make sure none of ``roles`` is mapped directly to the principal; a role or principal
    that does not exist counts as absent. Safe to repeat."""

    operation: Literal["role_mapping_ensure_absent"] = "role_mapping_ensure_absent"


class ModelKeycloakRoleMappingListRequest(_AdminRequest):
    """The principal's realm roles, or its client roles of ``client_id``: the direct
    mappings, or with ``effective`` every role it holds (composites expanded, and for a
    user its groups' roles)."""

    operation: Literal["role_mapping_list"] = "role_mapping_list"
    principal: ModelKeycloakPrincipal
    client_id: _NAME | None = None
    effective: bool = False


class _GroupRequest(_AdminRequest):
    group: _NAME


class ModelKeycloakGroupCreateRequest(_GroupRequest):
    """Create a top-level group (409 → ``InfraConflictError`` when it exists)."""

    operation: Literal["group_create"] = "group_create"


class ModelKeycloakGroupGetRequest(_GroupRequest):
    """A top-level group by its exact name."""

    operation: Literal["group_get"] = "group_get"


class ModelKeycloakGroupDeleteRequest(_GroupRequest):
    """Delete a top-level group (its members and role mappings go with it)."""

    operation: Literal["group_delete"] = "group_delete"


class ModelKeycloakGroupListRequest(_AdminRequest):
    """The realm's top-level groups; ``search``: a substring of the name."""

    operation: Literal["group_list"] = "group_list"
    search: str | None = Field(default=None, max_length=255)


class _MemberRequest(_GroupRequest):
    username: _NAME


class ModelKeycloakGroupMemberAddRequest(_MemberRequest):
    """Make the user a member of the group (the group's roles reach its next tokens)."""

    operation: Literal["group_member_add"] = "group_member_add"


class ModelKeycloakGroupMemberRemoveRequest(_MemberRequest):
    """Take the user out of the group."""

    operation: Literal["group_member_remove"] = "group_member_remove"


class ModelKeycloakUserFindRequest(_AdminRequest):
    """Users by exact ``username`` or ``email`` (one of them; e-mail case-insensitive)."""

    operation: Literal["user_find"] = "user_find"
    username: _NAME | None = None
    email: _NAME | None = None

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.username is None) == (self.email is None):
            raise ValueError("give exactly one of username and email")
        return self


class ModelKeycloakRoleEnsureRequest(_RoleRequest):
    """Make sure the role exists with this description and these attributes (``None``:
    whatever it has) and holds at least ``composites``; ``changed`` says whether anything
    had to be done. Safe to repeat."""

    operation: Literal["role_ensure"] = "role_ensure"
    description: str | None = Field(default=None, max_length=255)
    attributes: Attributes | None = None
    composites: tuple[ModelKeycloakRoleRef, ...] = ()


class ModelKeycloakRoleEnsureAbsentRequest(_RoleRequest):
    """Make sure the role does not exist (deleted with its mappings); a role, or the client
    of a client role, that does not exist counts as absent (``changed`` False). Safe to
    repeat."""

    operation: Literal["role_ensure_absent"] = "role_ensure_absent"
