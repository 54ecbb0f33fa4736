"""Keycloak's Admin REST API (``{base}/admin/realms/{realm}/...``) for roles, role mappings,
groups and users: the requests one admin operation sends, within one attempt.

Roles and principals come by name (``omnibase_infra.models.keycloak.admin``); the ids
Keycloak's paths need are looked up here (a client's id by its ``clientId`` is cached: it
never changes while the client exists). Errors name what was wrong: a 404 is
``InfraNotFoundError`` naming the resource looked for, a 409 ``InfraConflictError`` naming
what exists, a 403 ``InfraPermissionError`` naming the ``realm-management`` role the admin
client's service account lacks for the operation (Keycloak's answer does not say; the node
knows what each operation needs under Keycloak's default permissions). A 401 is left to the
node, which gets a new admin token and runs the operation once more.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from omnibase_infra.effect.runner import Attempt
from omnibase_infra.errors import (
    InfraConfigurationError,
    InfraConflictError,
    InfraError,
    InfraNotFoundError,
    InfraPermissionError,
    InfraProtocolError,
)
from omnibase_infra.models.keycloak.admin import (
    EnumKeycloakPrincipalKind,
    ModelKeycloakGroup,
    ModelKeycloakPrincipal,
    ModelKeycloakRole,
    ModelKeycloakRoleRef,
    ModelKeycloakUser,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.errors import (
    TRANSPORT,
    from_http_status,
)
from omnibase_infra.nodes.node_keycloak_adapter_effect.v1_0_0.http import HttpAnswer, KeycloakHttp

__all__ = ["REQUIRED_ADMIN_ROLES", "AdminApi", "AdminCall", "admin_base_url", "required_role"]

# The realm-management role each operation needs under Keycloak's default permissions:
# (for a realm role, for a client role); one value when roles are not involved.
REQUIRED_ADMIN_ROLES: Final[Mapping[str, tuple[str, str]]] = {
    "role_create": ("manage-realm", "manage-clients"),
    "role_get": ("view-realm", "view-clients"),
    "role_list": ("view-realm", "view-clients"),
    "role_update": ("manage-realm", "manage-clients"),
    "role_delete": ("manage-realm", "manage-clients"),
    "role_composites_add": ("manage-realm", "manage-clients"),
    "role_composites_list": ("view-realm", "view-clients"),
    "role_composites_remove": ("manage-realm", "manage-clients"),
    "role_ensure": ("manage-realm", "manage-clients"),
    "role_ensure_absent": ("manage-realm", "manage-clients"),
    "role_mapping_assign": ("manage-users", "manage-users"),
    "role_mapping_remove": ("manage-users", "manage-users"),
    "role_mapping_ensure": ("manage-users", "manage-users"),
    "role_mapping_ensure_absent": ("manage-users", "manage-users"),
    "role_mapping_list": ("view-users", "view-users"),
    "group_create": ("manage-users", "manage-users"),
    "group_get": ("query-groups", "query-groups"),
    "group_list": ("query-groups", "query-groups"),
    "group_delete": ("manage-users", "manage-users"),
    "group_member_add": ("manage-users", "manage-users"),
    "group_member_remove": ("manage-users", "manage-users"),
    "user_find": ("query-users", "query-users"),
}


def required_role(operation: str, *, client_role: bool = False) -> str:
    """The ``realm-management`` role ``operation`` needs (``realm-admin`` holds them all)."""
    roles = REQUIRED_ADMIN_ROLES.get(operation)
    if roles is None:
        return "realm-admin"
    return roles[1] if client_role else roles[0]


def admin_base_url(issuer: str) -> str:
    """``https://kc/realms/r`` -> ``https://kc/admin/realms/r``."""
    base, sep, realm = issuer.rpartition("/realms/")
    if not sep or not realm or "/" in realm:
        raise InfraConfigurationError(
            f"the issuer {issuer!r} is not a Keycloak realm URL (.../realms/<realm>): "
            "the Admin REST API cannot be found",
            transport=TRANSPORT,
            operation="configure",
            target=issuer,
        )
    return f"{base}/admin/realms/{realm}"


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _attributes(value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        return {}
    return {
        str(k): tuple(str(v) for v in vs) if isinstance(vs, list) else (str(vs),)
        for k, vs in value.items()
    }


@dataclass(frozen=True, slots=True)
class AdminCall:
    """One attempt of an admin operation and the bearer token it sends."""

    attempt: Attempt
    token: str
    client_role: bool = False  # whether the operation is about client roles (403 message)


class AdminApi:
    """The Admin REST API of one realm over the node's HTTP transport."""

    def __init__(self, http: KeycloakHttp, *, issuer: str, target: str) -> None:
        self._http = http
        self._target = target
        self._base: str | None = None
        self._issuer = issuer
        self._client_uuids: dict[str, str] = {}
        self._client_ids: dict[str, str] = {}  # uuid -> clientId

    @property
    def base_url(self) -> str:
        """``{base}/admin/realms/{realm}`` (checked on first use)."""
        if self._base is None:
            self._base = admin_base_url(self._issuer)
        return self._base

    # -- one request --------------------------------------------------------------------------

    def _error(
        self,
        call: AdminCall,
        what: str,
        status: int,
        body: Any,
        headers: Mapping[str, str],
    ) -> InfraError:
        attempt = call.attempt
        common: dict[str, Any] = {
            "transport": TRANSPORT,
            "operation": attempt.operation,
            "target": self._target,
            "correlation_id": attempt.correlation_id,
        }
        said = ""
        if isinstance(body, dict):
            said = str(body.get("errorMessage") or body.get("error") or "")[:200]
        if status == 404:
            return InfraNotFoundError(
                f"{what} not found ({said or 'HTTP 404'})", resource=what, status_code=404, **common
            )
        if status == 409:
            return InfraConflictError(
                f"{what} already exists ({said or 'HTTP 409'})", resource=what, **common
            )
        if status == 403:
            role = required_role(attempt.operation, client_role=call.client_role)
            return InfraPermissionError(
                f"{attempt.operation} on {what} refused: the admin client's service account "
                f"needs the realm-management role {role!r}",
                required_role=role,
                resource=what,
                status_code=403,
                **common,
            )
        return from_http_status(
            status,
            body,
            operation=attempt.operation,
            target=self._target,
            correlation_id=attempt.correlation_id,
            retry_after=headers.get("Retry-After"),
        )

    async def request(
        self,
        call: AdminCall,
        method: str,
        path: str,
        *,
        what: str,
        body: object = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """``method`` on ``{base_url}{path}``; ``what`` names the resource in errors."""
        return await self._http.send(
            call.attempt,
            method,
            self.base_url + path,
            json_body=body,
            params=params,
            headers={"Authorization": f"Bearer {call.token}"},
            error_for=lambda status, data, headers, _attempt: self._error(
                call, what, status, data, headers
            ),
        )

    def _list(self, answer: HttpAnswer, call: AdminCall) -> list[dict[str, Any]]:
        if not isinstance(answer.body, list):
            raise InfraProtocolError(
                f"{call.attempt.operation}: expected a JSON list from the Admin REST API",
                transport=TRANSPORT,
                operation=call.attempt.operation,
                target=self._target,
                correlation_id=call.attempt.correlation_id,
            )
        return [item for item in answer.body if isinstance(item, dict)]

    def _object(self, answer: HttpAnswer, call: AdminCall) -> dict[str, Any]:
        if not isinstance(answer.body, dict):
            raise InfraProtocolError(
                f"{call.attempt.operation}: expected a JSON object from the Admin REST API",
                transport=TRANSPORT,
                operation=call.attempt.operation,
                target=self._target,
                correlation_id=call.attempt.correlation_id,
            )
        return answer.body

    # -- clients, roles -------------------------------------------------------------------------

    async def client_uuid(self, call: AdminCall, client_id: str) -> str:
        """The internal id of the client ``client_id`` (cached)."""
        known = self._client_uuids.get(client_id)
        if known is not None:
            return known
        what = f"client {client_id!r}"
        answer = await self.request(
            call, "GET", "/clients", what=what, params={"clientId": client_id}
        )
        for item in self._list(answer, call):
            if item.get("clientId") == client_id and isinstance(item.get("id"), str):
                self._client_uuids[client_id] = item["id"]
                self._client_ids[item["id"]] = client_id
                return str(item["id"])
        raise InfraNotFoundError(
            f"{what} not found (Keycloak lists only the clients the caller may see: "
            "the admin client's service account needs 'view-clients' to find one)",
            transport=TRANSPORT,
            operation=call.attempt.operation,
            target=self._target,
            correlation_id=call.attempt.correlation_id,
            resource=what,
        )

    def forget_clients(self) -> None:
        """Drop the cached client ids (after a not-found: a client may have been replaced)."""
        self._client_uuids.clear()
        self._client_ids.clear()

    async def _client_id_of(self, call: AdminCall, uuid: str) -> str | None:
        known = self._client_ids.get(uuid)
        if known is not None:
            return known
        answer = await self.request(call, "GET", f"/clients/{_q(uuid)}", what=f"client {uuid}")
        client_id = self._object(answer, call).get("clientId")
        if isinstance(client_id, str):
            self._client_ids[uuid] = client_id
            self._client_uuids[client_id] = uuid
            return client_id
        return None

    async def roles_path(self, call: AdminCall, client_id: str | None) -> str:
        """``/roles`` or ``/clients/{id}/roles``."""
        if client_id is None:
            return "/roles"
        return f"/clients/{_q(await self.client_uuid(call, client_id))}/roles"

    async def role_path(self, call: AdminCall, ref: ModelKeycloakRoleRef) -> str:
        return f"{await self.roles_path(call, ref.client_id)}/{_q(ref.name)}"

    async def _role_model(
        self, call: AdminCall, data: Mapping[str, Any], client_id: str | None = None
    ) -> ModelKeycloakRole:
        client_role = data.get("clientRole") is True
        container = data.get("containerId")
        if client_role and client_id is None and isinstance(container, str):
            client_id = await self._client_id_of(call, container)
        description = data.get("description")
        return ModelKeycloakRole(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            description=description if isinstance(description, str) else None,
            composite=data.get("composite") is True,
            client_role=client_role,
            client_id=client_id if client_role else None,
            attributes=_attributes(data.get("attributes")),
        )

    async def roles(
        self, call: AdminCall, answer: HttpAnswer, client_id: str | None = None
    ) -> tuple[ModelKeycloakRole, ...]:
        """A list answer's roles."""
        return tuple(
            [await self._role_model(call, item, client_id) for item in self._list(answer, call)]
        )

    async def role_representation(
        self, call: AdminCall, ref: ModelKeycloakRoleRef
    ) -> dict[str, Any]:
        answer = await self.request(
            call, "GET", await self.role_path(call, ref), what=ref.describe()
        )
        return self._object(answer, call)

    async def get_role(self, call: AdminCall, ref: ModelKeycloakRoleRef) -> ModelKeycloakRole:
        return await self._role_model(
            call, await self.role_representation(call, ref), ref.client_id
        )

    async def create_role(
        self,
        call: AdminCall,
        ref: ModelKeycloakRoleRef,
        *,
        description: str | None,
        attributes: Mapping[str, tuple[str, ...]] | None,
    ) -> ModelKeycloakRole:
        body: dict[str, Any] = {"name": ref.name}
        if description is not None:
            body["description"] = description
        if attributes:
            body["attributes"] = {k: list(v) for k, v in attributes.items()}
        await self.request(
            call, "POST", await self.roles_path(call, ref.client_id), what=ref.describe(), body=body
        )
        return await self.get_role(call, ref)

    async def update_role(
        self,
        call: AdminCall,
        ref: ModelKeycloakRoleRef,
        *,
        description: str | None,
        attributes: Mapping[str, tuple[str, ...]] | None,
    ) -> ModelKeycloakRole:
        current = await self.role_representation(call, ref)
        body = {
            k: v
            for k, v in current.items()
            if k
            in ("id", "name", "description", "attributes", "composite", "clientRole", "containerId")
        }
        if description is not None:
            body["description"] = description
        if attributes is not None:
            body["attributes"] = {k: list(v) for k, v in attributes.items()}
        await self.request(
            call, "PUT", await self.role_path(call, ref), what=ref.describe(), body=body
        )
        return await self.get_role(call, ref)

    async def delete_role(self, call: AdminCall, ref: ModelKeycloakRoleRef) -> None:
        await self.request(call, "DELETE", await self.role_path(call, ref), what=ref.describe())

    async def list_roles(
        self, call: AdminCall, client_id: str | None, search: str | None
    ) -> tuple[ModelKeycloakRole, ...]:
        what = "realm roles" if client_id is None else f"roles of client {client_id!r}"
        params = {"search": search} if search else None
        answer = await self.request(
            call, "GET", await self.roles_path(call, client_id), what=what, params=params
        )
        return await self.roles(call, answer, client_id)

    async def composites(
        self,
        call: AdminCall,
        method: str,
        ref: ModelKeycloakRoleRef,
        refs: Iterable[ModelKeycloakRoleRef] = (),
    ) -> tuple[ModelKeycloakRole, ...]:
        """Add (POST), remove (DELETE) or list (GET) the composites of ``ref`` (by the
        role's id, ``/roles-by-id/{id}/composites``, as Keycloak's admin client does)."""
        role_id = str((await self.role_representation(call, ref)).get("id", ""))
        path = f"/roles-by-id/{_q(role_id)}/composites"
        if method == "GET":
            answer = await self.request(call, "GET", path, what=ref.describe())
            return await self.roles(call, answer)
        body = [await self.role_representation(call, r) for r in refs]
        await self.request(call, method, path, what=ref.describe(), body=body)
        return ()

    # -- principals and their role mappings -----------------------------------------------------

    async def principal_path(self, call: AdminCall, principal: ModelKeycloakPrincipal) -> str:
        """``/users/{id}`` (a user or a service account) or ``/groups/{id}``."""
        what = principal.describe()
        if principal.kind is EnumKeycloakPrincipalKind.USER:
            return f"/users/{_q((await self.user_by_name(call, principal.name)).id)}"
        if principal.kind is EnumKeycloakPrincipalKind.SERVICE_ACCOUNT:
            uuid = await self.client_uuid(call, principal.name)
            answer = await self.request(
                call, "GET", f"/clients/{_q(uuid)}/service-account-user", what=what
            )
            return f"/users/{_q(str(self._object(answer, call).get('id', '')))}"
        return f"/groups/{_q((await self.group_by_name(call, principal.name)).id)}"

    async def mapping_path(
        self,
        call: AdminCall,
        principal_path: str,
        client_id: str | None,
        *,
        effective: bool = False,
    ) -> str:
        if client_id is None:
            path = f"{principal_path}/role-mappings/realm"
        else:
            uuid = await self.client_uuid(call, client_id)
            path = f"{principal_path}/role-mappings/clients/{_q(uuid)}"
        return path + "/composite" if effective else path

    async def list_mappings(
        self,
        call: AdminCall,
        principal: ModelKeycloakPrincipal,
        client_id: str | None,
        *,
        effective: bool,
        principal_path: str | None = None,
    ) -> tuple[ModelKeycloakRole, ...]:
        where = principal_path or await self.principal_path(call, principal)
        path = await self.mapping_path(call, where, client_id, effective=effective)
        answer = await self.request(call, "GET", path, what=principal.describe())
        return await self.roles(call, answer, client_id)

    async def change_mappings(
        self,
        call: AdminCall,
        method: str,
        principal: ModelKeycloakPrincipal,
        *,
        principal_path: str,
        client_id: str | None,
        representations: list[dict[str, Any]],
    ) -> None:
        """POST (assign) or DELETE (remove) role representations of one container."""
        path = await self.mapping_path(call, principal_path, client_id)
        await self.request(call, method, path, what=principal.describe(), body=representations)

    # -- users and groups -------------------------------------------------------------------------

    def _user(self, data: Mapping[str, Any]) -> ModelKeycloakUser:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return ModelKeycloakUser(
            id=str(data.get("id", "")),
            username=str(data.get("username", "")),
            email=text("email"),
            enabled=data.get("enabled") is not False,
            first_name=text("firstName"),
            last_name=text("lastName"),
            service_account_client_id=text("serviceAccountClientId"),
        )

    async def find_users(
        self, call: AdminCall, *, username: str | None = None, email: str | None = None
    ) -> tuple[ModelKeycloakUser, ...]:
        params = {"exact": "true"}
        if username is not None:
            params["username"] = username
        if email is not None:
            params["email"] = email
        answer = await self.request(call, "GET", "/users", what="users", params=params)
        return tuple(self._user(item) for item in self._list(answer, call))

    async def user_by_name(self, call: AdminCall, username: str) -> ModelKeycloakUser:
        for user in await self.find_users(call, username=username):
            if user.username == username.lower():
                return user
        what = f"user {username!r}"
        raise InfraNotFoundError(
            f"{what} not found",
            transport=TRANSPORT,
            operation=call.attempt.operation,
            target=self._target,
            correlation_id=call.attempt.correlation_id,
            resource=what,
        )

    def _group(self, data: Mapping[str, Any]) -> ModelKeycloakGroup:
        return ModelKeycloakGroup(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            path=str(data.get("path", "")),
        )

    async def list_groups(
        self, call: AdminCall, search: str | None
    ) -> tuple[ModelKeycloakGroup, ...]:
        params = {"search": search} if search else None
        answer = await self.request(call, "GET", "/groups", what="groups", params=params)
        return tuple(self._group(item) for item in self._list(answer, call))

    async def group_by_name(self, call: AdminCall, name: str) -> ModelKeycloakGroup:
        for group in await self.list_groups(call, name):  # a substring search: match exactly
            if group.name == name:
                return group
        what = f"group {name!r}"
        raise InfraNotFoundError(
            f"{what} not found",
            transport=TRANSPORT,
            operation=call.attempt.operation,
            target=self._target,
            correlation_id=call.attempt.correlation_id,
            resource=what,
        )

    async def create_group(self, call: AdminCall, name: str) -> ModelKeycloakGroup:
        await self.request(call, "POST", "/groups", what=f"group {name!r}", body={"name": name})
        return await self.group_by_name(call, name)

    async def delete_group(self, call: AdminCall, name: str) -> None:
        group = await self.group_by_name(call, name)
        await self.request(call, "DELETE", f"/groups/{_q(group.id)}", what=f"group {name!r}")

    async def membership(self, call: AdminCall, method: str, username: str, group: str) -> None:
        """PUT (join) or DELETE (leave) the user's membership of the group."""
        user = await self.user_by_name(call, username)
        found = await self.group_by_name(call, group)
        await self.request(
            call,
            method,
            f"/users/{_q(user.id)}/groups/{_q(found.id)}",
            what=f"membership of user {username!r} in group {group!r}",
        )
