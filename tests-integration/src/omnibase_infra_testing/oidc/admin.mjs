// Keycloak's Admin REST API (/admin/realms/{realm}/...) over the realm model of realm.mjs.
//
// Served (paths relative to /admin/realms/{realm}):
//   roles, clients/{id}/roles             list, create, get/update/delete by name, composites
//                                         (add, list, list realm / client ones, remove)
//   roles-by-id/{id}                      get, update, delete, composites
//   clients                               list (clientId=, search=), get, service-account-user
//   users                                 list (username=, email=, firstName=, lastName=, exact=,
//                                         search=), get, groups (list, count, join, leave)
//   groups                                list, count, create, get, delete, members
//   users/{id}/role-mappings, groups/{id}/role-mappings, and under both /realm and
//                                         /clients/{id}: list, add, remove, /available,
//                                         /composite (effective: composites expanded and,
//                                         for users, their groups' roles)
//
// As Keycloak answers: 201 + Location and no body on create, 204 on update/delete/mapping
// changes, 401 `{"error":"HTTP 401 Unauthorized"}` without a valid bearer token of this
// realm, 403 `{"error":"HTTP 403 Forbidden"}` when the token's realm-management roles do not
// allow the operation (Keycloak's default admin permissions, no fine-grained ones), 404
// `{"error": ...}` with Keycloak's wording for each resource (e.g. "Could not find role",
// "Role not found" for a mapping, "User not found"), 409 `{"errorMessage": ...}` on
// duplicates. The checks run in Keycloak's order (e.g. an unknown user id is 404 only for a
// caller that may query users, 403 otherwise).

import { REALM_MANAGEMENT } from './realm.mjs';

class AdminError extends Error {
  constructor(status, body) {
    super(body.error ?? body.errorMessage);
    this.status = status;
    this.body = body;
  }
}

const notFound = (error) => new AdminError(404, { error });
const forbidden = () => new AdminError(403, { error: 'HTTP 403 Forbidden' });
const conflict = (errorMessage) => new AdminError(409, { errorMessage });
const serverError = () => new AdminError(500, {
  error: 'unknown_error', error_description: 'For more on this error consult the server log.',
});
const check = (allowed) => {
  if (!allowed) throw forbidden();
};

// What the caller may do: Keycloak's default admin permissions, decided (as Keycloak does)
// from the realm-management client roles in the caller's access token.
class Caller {
  constructor(payload, realm) {
    this.user = realm.users.get(payload.sub);
    this.roles = new Set(payload.resource_access?.[REALM_MANAGEMENT]?.roles ?? []);
  }

  has(...names) {
    return names.some((name) => this.roles.has(name));
  }

  get realmView() { return this.has('view-realm', 'manage-realm'); }
  get realmManage() { return this.has('manage-realm'); }
  get usersView() { return this.has('view-users', 'manage-users'); }
  get usersManage() { return this.has('manage-users'); }
  get usersQuery() { return this.usersView || this.has('query-users'); }
  get clientsView() { return this.has('view-clients', 'manage-clients'); }
  get clientsManage() { return this.has('manage-clients'); }
  get clientsList() { return this.clientsView || this.has('query-clients', 'query-users'); }
  get groupsList() { return this.usersView || this.has('query-groups'); }
}

// -------------------------------------------------------------------------------------------

export function createAdminApi({ realm, authenticate }) {
  // Role containers: the realm, or one client.
  const realmContainer = {
    id: realm.id,
    list: (c) => c.realmView || c.has('query-users', 'query-clients', 'query-realms', 'query-groups'),
    view: (c) => c.realmView,
    manage: (c) => c.realmManage,
  };
  const clientContainer = (client) => ({
    id: client.id,
    list: (c) => c.clientsView || c.has('query-clients'),
    view: (c) => c.clientsView,
    manage: (c) => c.clientsManage,
  });
  const canViewRole = (c, role) => (role.clientRole ? c.clientsView : c.realmView);
  const canManageRole = (c, role) => (role.clientRole ? c.clientsManage : c.realmManage);

  // Keycloak's RolePermissions.checkAdminRoles: a realm-management role may be granted only by
  // a caller who holds it or holds the permission it stands for.
  function checkAdminRoles(c, role) {
    if (!role.clientRole || realm.clients.get(role.containerId).clientId !== REALM_MANAGEMENT) return true;
    if (c.user && realm.effectiveRoles(c.user).includes(role)) return true;
    switch (role.name) {
      case 'manage-clients': case 'create-client': return c.clientsManage;
      case 'view-clients': return c.clientsView;
      case 'query-realms': case 'query-clients': case 'query-users': case 'query-groups': return true;
      case 'manage-events': return c.has('manage-events');
      case 'view-events': return c.has('view-events', 'manage-events');
      case 'manage-users': return c.usersManage;
      case 'view-users': return c.usersView;
      case 'manage-identity-providers': return c.has('manage-identity-providers');
      case 'view-identity-providers': return c.has('view-identity-providers', 'manage-identity-providers');
      case 'manage-realm': return c.realmManage;
      case 'view-realm': return c.realmView;
      case 'impersonation': return c.has('impersonation');
      default: return false; // realm-admin (needs the master realm's admin), authorization, organizations
    }
  }
  const canMapRole = (c, role) => c.usersManage && checkAdminRoles(c, role);
  const canMapComposite = (c, role) => canManageRole(c, role) && checkAdminRoles(c, role);

  // --- lookups, each with Keycloak's not-found wording and order -------------------------

  function clientById(c, id) {
    const client = realm.clients.get(id);
    if (client) return client;
    throw c.clientsList ? notFound('Could not find client') : forbidden();
  }

  function userById(c, id) {
    const user = realm.users.get(id);
    if (user) return user;
    throw c.usersQuery ? notFound('User not found') : forbidden();
  }

  function groupById(id) {
    const group = realm.groups.get(id);
    if (!group) throw notFound('Could not find group by id');
    return group;
  }

  function roleByName(container, name) {
    const role = realm.roleIn(container.id, name);
    if (!role) throw notFound('Could not find role');
    return role;
  }

  function roleById(id) {
    const role = realm.roles.get(id);
    if (!role) throw notFound('Could not find role with id');
    return role;
  }

  // --- roles -------------------------------------------------------------------------------

  function listRoles(ctx, container) {
    check(container.list(ctx.caller));
    const search = ctx.query.get('search')?.trim().toLowerCase();
    const [first, max] = [ctx.int('first'), ctx.int('max')];
    let roles = realm.rolesIn(container.id);
    if (search) {
      roles = page(roles.filter((r) => r.name.toLowerCase().includes(search)
        || r.description?.toLowerCase().includes(search)), first, max);
    } else if (first !== undefined && max !== undefined) {
      roles = page(roles, first, max);
    }
    const full = ctx.query.get('briefRepresentation') === 'false';
    return ctx.json(roles.map((r) => realm.roleRep(r, { full })));
  }

  async function createRole(ctx, container) {
    check(container.manage(ctx.caller));
    const rep = await ctx.body();
    if (!rep?.name) throw new AdminError(400, { error: 'role has no name' });
    if (realm.roleIn(container.id, rep.name)) throw conflict(`Role with name ${rep.name} already exists`);
    const composites = rep.composite && rep.composites ? compositesOf(ctx.caller, rep.composites) : [];
    const role = realm.createRole(container.id, rep);
    for (const child of composites) role.composites.add(child.id);
    return ctx.created(encodeURIComponent(role.name));
  }

  // RoleRepresentation.composites: {realm: [names], client: {clientId: [names]}}.
  function compositesOf(c, { realm: realmNames = [], client: clientNames = {} }) {
    const roles = [];
    for (const name of realmNames) {
      const role = realm.realmRole(name);
      if (!role) throw new AdminError(404, { errorMessage: `Realm Role with name ${name} does not exist` });
      roles.push(role);
    }
    for (const [clientId, names] of Object.entries(clientNames)) {
      const client = realm.clientIds.get(clientId);
      if (!client) continue;
      for (const name of names) {
        const role = realm.clientRole(client, name);
        if (!role) throw new AdminError(404, { errorMessage: `Client Role with name ${name} does not exist` });
        roles.push(role);
      }
    }
    for (const role of roles) check(canMapComposite(c, role));
    return roles;
  }

  function getRole(ctx, role) {
    check(canViewRole(ctx.caller, role));
    return ctx.json(realm.roleRep(role, { full: true }));
  }

  async function updateRole(ctx, role) {
    check(canManageRole(ctx.caller, role));
    const rep = await ctx.body();
    if (!rep) throw serverError();
    if (!realm.updateRole(role, rep)) throw conflict(`Role with name ${rep.name} already exists`);
    return ctx.noContent();
  }

  function deleteRole(ctx, role) {
    check(canManageRole(ctx.caller, role));
    if (role === realm.defaultRole) {
      throw new AdminError(400, { errorMessage: `${role.name} is default role of the realm and cannot be removed.` });
    }
    realm.deleteRole(role);
    return ctx.noContent();
  }

  // The roles named by id in a composites body; "Could not find composite role" for any other.
  async function compositeBody(ctx) {
    const reps = await ctx.body();
    if (!Array.isArray(reps)) throw serverError();
    return reps.map((rep) => {
      const role = rep?.id ? realm.roles.get(rep.id) : undefined;
      if (!role) throw notFound('Could not find composite role');
      return role;
    });
  }

  async function addComposites(ctx, role) {
    check(canManageRole(ctx.caller, role));
    const children = await compositeBody(ctx);
    for (const child of children) check(canMapComposite(ctx.caller, child));
    for (const child of children) role.composites.add(child.id);
    return ctx.noContent();
  }

  async function removeComposites(ctx, role) {
    check(canManageRole(ctx.caller, role));
    for (const child of await compositeBody(ctx)) role.composites.delete(child.id);
    return ctx.noContent();
  }

  function listComposites(ctx, role, keep = () => true) {
    check(canViewRole(ctx.caller, role));
    const children = [...role.composites].map((id) => realm.roles.get(id)).filter(keep);
    return ctx.json(children.sort(byName).map((r) => realm.roleRep(r)));
  }

  function listClientComposites(ctx, role, clientId) {
    check(canViewRole(ctx.caller, role));
    const client = realm.clients.get(clientId);
    if (!client) throw notFound('Could not find client');
    return listComposites(ctx, role, (r) => r.containerId === client.id);
  }

  // The routes of one role, once the role is known.
  const roleRoutes = (prefix, find) => [
    ['GET', prefix, (ctx) => getRole(ctx, find(ctx))],
    ['PUT', prefix, (ctx) => updateRole(ctx, find(ctx))],
    ['DELETE', prefix, (ctx) => deleteRole(ctx, find(ctx))],
    ['POST', `${prefix}/composites`, (ctx) => addComposites(ctx, find(ctx))],
    ['GET', `${prefix}/composites`, (ctx) => listComposites(ctx, find(ctx))],
    ['DELETE', `${prefix}/composites`, (ctx) => removeComposites(ctx, find(ctx))],
    ['GET', `${prefix}/composites/realm`, (ctx) => listComposites(ctx, find(ctx), (r) => !r.clientRole)],
    ['GET', `${prefix}/composites/clients/:other`, (ctx) => listClientComposites(ctx, find(ctx), ctx.params.other)],
  ];
  // A role container's routes; `container(ctx)` resolves it (and may throw 404/403).
  // By name, the caller's right on the container is checked before the role is looked up.
  const containerRoutes = (prefix, container) => [
    ['GET', prefix, (ctx) => listRoles(ctx, container(ctx))],
    ['POST', prefix, (ctx) => createRole(ctx, container(ctx))],
    ...roleRoutes(`${prefix}/:role`, (ctx) => {
      const found = container(ctx);
      const role = realm.roleIn(found.id, ctx.params.role);
      // Reads need view of the container, changes manage; checked before the 404.
      check((ctx.method === 'GET' ? found.view : found.manage)(ctx.caller));
      if (!role) throw notFound('Could not find role');
      return role;
    }),
  ];

  // --- clients -----------------------------------------------------------------------------

  function listClients(ctx) {
    const c = ctx.caller;
    check(c.clientsList);
    const wanted = ctx.query.get('clientId');
    let clients = [...realm.clients.values()].sort((a, b) => a.clientId.localeCompare(b.clientId));
    if (wanted?.trim()) {
      clients = ctx.query.get('search') === 'true'
        ? clients.filter((cl) => cl.clientId.toLowerCase().includes(wanted.toLowerCase()))
        : clients.filter((cl) => cl.clientId === wanted);
    }
    clients = page(clients.filter(() => c.clientsView), ctx.int('first'), ctx.int('max'));
    return ctx.json(clients.map((cl) => realm.clientRep(cl, clientAccess(c))));
  }

  const clientAccess = (c) => ({ view: c.clientsView, configure: c.clientsManage, manage: c.clientsManage });

  function getClient(ctx) {
    const client = clientById(ctx.caller, ctx.params.client);
    check(ctx.caller.clientsView);
    return ctx.json(realm.clientRep(client, clientAccess(ctx.caller)));
  }

  function serviceAccountUser(ctx) {
    const client = clientById(ctx.caller, ctx.params.client);
    check(ctx.caller.clientsView);
    const user = realm.serviceAccount(client);
    if (!user) throw new AdminError(400, { error: `Service account not enabled for the client '${client.clientId}'` });
    return ctx.json(realm.userRep(user));
  }

  // --- users -------------------------------------------------------------------------------

  // GET /users, as UsersResource.getUsers: `search` (a prefix per word-less term; "quoted" is
  // equality, * a wildcard; service accounts left out) or the attribute filters (substrings,
  // or equality with exact=true; service accounts included), case-insensitive, by username.
  function listUsers(ctx) {
    const c = ctx.caller;
    check(c.usersQuery);
    const q = ctx.query;
    const fields = ['username', 'email', 'firstName', 'lastName'];
    let users = [...realm.users.values()];
    const search = q.get('search');
    if (search !== null) {
      users = search.startsWith('id:')
        ? users.filter((u) => u.id === search.slice(3).trim())
        : users.filter((u) => !u.serviceAccountClientId
          && fields.some((f) => matchesSearch(u[f], search.trim())));
    } else if ([...fields, 'exact', 'enabled', 'emailVerified'].some((p) => q.has(p))) {
      const exact = q.get('exact') === 'true';
      for (const f of fields) {
        const want = q.get(f);
        if (want) users = users.filter((u) => matches(u[f], want, exact));
      }
    } else {
      users = users.filter((u) => !u.serviceAccountClientId);
    }
    if (!c.usersView) users = []; // only users one may view are listed (none, without fine-grained)
    users.sort((a, b) => a.username.localeCompare(b.username));
    const brief = q.get('briefRepresentation') === 'true';
    const access = { manage: c.usersManage };
    return ctx.json(page(users, ctx.int('first') ?? 0, ctx.int('max') ?? 100)
      .map((u) => realm.userRep(u, { brief, access })));
  }

  function getUser(ctx) {
    const c = ctx.caller;
    const user = userById(c, ctx.params.user);
    check(c.usersView);
    const manage = c.usersManage;
    return ctx.json(realm.userRep(user, {
      access: {
        manageGroupMembership: manage, resetPassword: manage, view: c.usersView,
        mapRoles: manage, impersonate: c.has('impersonation'), manage,
      },
    }));
  }

  function userGroups(ctx) {
    const user = userById(ctx.caller, ctx.params.user);
    check(ctx.caller.usersView);
    const full = ctx.query.get('briefRepresentation') === 'false';
    const search = ctx.query.get('search')?.toLowerCase();
    const groups = realm.groupsOf(user).filter((g) => !search || g.name.toLowerCase().includes(search));
    return ctx.json(page(groups, ctx.int('first'), ctx.int('max'))
      .map((g) => realm.groupRep(g, { full, count: false })));
  }

  function userGroupCount(ctx) {
    const user = userById(ctx.caller, ctx.params.user);
    check(ctx.caller.usersView);
    return ctx.json({ count: realm.groupsOf(user).length });
  }

  function membership(join) {
    return (ctx) => {
      const user = userById(ctx.caller, ctx.params.user);
      check(ctx.caller.usersManage); // manage group membership of the user
      const group = realm.groups.get(ctx.params.group);
      if (!group) throw notFound('Group not found');
      check(ctx.caller.usersManage); // manage the group's membership
      if (join) group.members.add(user.id);
      else group.members.delete(user.id);
      return ctx.noContent();
    };
  }

  // --- groups ------------------------------------------------------------------------------

  const groupAccess = (c) => ({
    view: c.usersView, viewMembers: c.usersView, manageMembers: c.usersManage,
    manage: c.usersManage, manageMembership: c.usersManage,
  });

  function matchingGroups(ctx) {
    const search = ctx.query.get('search');
    const exact = ctx.query.get('exact') === 'true';
    return [...realm.groups.values()]
      .filter((g) => !search || matches(g.name, search, exact))
      .sort(byName);
  }

  function listGroups(ctx) {
    check(ctx.caller.groupsList);
    const full = ctx.query.get('briefRepresentation') === 'false';
    return ctx.json(page(matchingGroups(ctx), ctx.int('first'), ctx.int('max'))
      .map((g) => realm.groupRep(g, { full, access: groupAccess(ctx.caller) })));
  }

  function countGroups(ctx) {
    check(ctx.caller.groupsList);
    return ctx.json({ count: matchingGroups(ctx).length });
  }

  async function createGroup(ctx) {
    check(ctx.caller.usersManage);
    const rep = await ctx.body();
    if (!rep) throw serverError();
    if (!rep.name?.trim()) throw new AdminError(400, { errorMessage: 'Group name is missing' });
    const group = realm.createGroup(rep.name);
    if (!group) throw conflict(`Top level group named '${rep.name}' already exists.`);
    if (rep.attributes) group.attributes = structuredClone(rep.attributes);
    return ctx.created(group.id);
  }

  function getGroup(ctx) {
    const group = groupById(ctx.params.group);
    check(ctx.caller.usersView);
    return ctx.json(realm.groupRep(group, { full: true, access: groupAccess(ctx.caller) }));
  }

  function deleteGroup(ctx) {
    const group = groupById(ctx.params.group);
    check(ctx.caller.usersManage);
    realm.deleteGroup(group);
    return ctx.noContent();
  }

  function groupMembers(ctx) {
    const group = groupById(ctx.params.group);
    check(ctx.caller.usersView);
    const brief = ctx.query.get('briefRepresentation') === 'true';
    const members = [...group.members].map((id) => realm.users.get(id))
      .sort((a, b) => a.username.localeCompare(b.username));
    return ctx.json(page(members, ctx.int('first'), ctx.int('max')).map((u) => realm.userRep(u, { brief })));
  }

  // --- role mappings -----------------------------------------------------------------------

  // `resolve(ctx)` finds the user or group (or throws) and returns {holder, view, manage}:
  // whether the caller may read and change its mappings.
  function mappingRoutes(prefix, resolve) {
    const direct = (h) => [...h.roleIds].map((id) => realm.roles.get(id));

    // The roles of a mapping body, in order: each must name an existing role of the container
    // by both name and id ("Role not found" otherwise) and the caller must be allowed to map
    // it. Nothing changes unless all of them pass (Keycloak rolls the transaction back).
    async function bodyRoles(ctx, container, { all }) {
      const reps = await ctx.body();
      if (reps === null && all) return all(); // DELETE without a body removes every mapping
      if (!Array.isArray(reps)) throw serverError();
      return reps.map((rep) => {
        const role = rep?.name !== undefined ? realm.roleIn(container, rep.name) : undefined;
        if (!role || role.id !== rep.id) throw notFound('Role not found');
        check(canMapRole(ctx.caller, role));
        return role;
      });
    }

    // Reads: the holder first (404/403), then the client of a /clients/{id} path ("Client
    // not found"), then the caller's right to view the holder's mappings.
    const read = (ctx, list, client = () => undefined) => {
      const found = resolve(ctx);
      const picked = client(ctx);
      check(found.view);
      return ctx.json(list(found.holder, picked));
    };
    const clientOf = (ctx) => {
      const client = realm.clients.get(ctx.params.client);
      if (!client) throw notFound('Client not found');
      return client;
    };
    const change = (grant, container, current) => async (ctx) => {
      const found = resolve(ctx);
      const containerId = container(ctx);
      check(found.manage);
      const roles = await bodyRoles(ctx, containerId, {
        all: grant ? undefined : () => current(found.holder, containerId).map((role) => {
          check(canMapRole(ctx.caller, role));
          return role;
        }),
      });
      for (const role of roles) {
        if (grant) found.holder.roleIds.add(role.id);
        else found.holder.roleIds.delete(role.id);
      }
      return ctx.noContent();
    };
    const brief = (ctx) => ctx.query.get('briefRepresentation') !== 'false';
    const viewable = (ctx) => (r) => canViewRole(ctx.caller, r);
    const inRealm = (roles) => roles.filter((r) => !r.clientRole);
    const inClient = (client) => (roles) => roles.filter((r) => r.containerId === client.id);
    const reps = (roles, full = false) => roles.sort(byName).map((r) => realm.roleRep(r, { full }));
    const available = (ctx, holder, candidates) => candidates
      .filter((r) => canMapRole(ctx.caller, r) && !holder.roleIds.has(r.id));

    return [
      ['GET', prefix, (ctx) => read(ctx, (h) => realm.mappingsRep(direct(h).filter(viewable(ctx)).sort(byName)))],
      ['GET', `${prefix}/composite`, (ctx) => read(ctx, (h) => realm.mappingsRep(
        realm.effectiveRoles(h).filter(viewable(ctx)).sort(byName)))],
      ['GET', `${prefix}/realm`, (ctx) => read(ctx, (h) => reps(inRealm(direct(h)).filter(viewable(ctx))))],
      ['POST', `${prefix}/realm`, change(true, () => realm.id)],
      ['DELETE', `${prefix}/realm`, change(false, () => realm.id, (h) => inRealm(direct(h)))],
      ['GET', `${prefix}/realm/available`, (ctx) => read(ctx, (h) => reps(available(ctx, h, realm.rolesIn(realm.id))))],
      ['GET', `${prefix}/realm/composite`, (ctx) => read(ctx, (h) => reps(
        inRealm(realm.effectiveRoles(h)).filter(viewable(ctx)), !brief(ctx)))],
      ['GET', `${prefix}/clients/:client`, (ctx) => read(ctx, (h, c) => reps(inClient(c)(direct(h))), clientOf)],
      ['POST', `${prefix}/clients/:client`, change(true, (ctx) => clientOf(ctx).id)],
      ['DELETE', `${prefix}/clients/:client`, change(false, (ctx) => clientOf(ctx).id,
        (h, containerId) => direct(h).filter((r) => r.containerId === containerId))],
      ['GET', `${prefix}/clients/:client/available`, (ctx) => read(ctx,
        (h, c) => reps(available(ctx, h, realm.rolesIn(c.id))), clientOf)],
      ['GET', `${prefix}/clients/:client/composite`, (ctx) => read(ctx,
        (h, c) => reps(inClient(c)(realm.effectiveRoles(h)), !brief(ctx)), clientOf)],
    ];
  }

  // --- the route table ---------------------------------------------------------------------

  const routes = [
    ...containerRoutes('/roles', () => realmContainer),
    ...roleRoutes('/roles-by-id/:id', (ctx) => roleById(ctx.params.id)),

    ['GET', '/clients', listClients],
    ['GET', '/clients/:client', getClient],
    ['GET', '/clients/:client/service-account-user', serviceAccountUser],
    ...containerRoutes('/clients/:client/roles', (ctx) => clientContainer(clientById(ctx.caller, ctx.params.client))),

    ['GET', '/users', listUsers],
    ['GET', '/users/:user', getUser],
    ['GET', '/users/:user/groups', userGroups],
    ['GET', '/users/:user/groups/count', userGroupCount],
    ['PUT', '/users/:user/groups/:group', membership(true)],
    ['DELETE', '/users/:user/groups/:group', membership(false)],
    ...mappingRoutes('/users/:user/role-mappings', (ctx) => ({
      holder: userById(ctx.caller, ctx.params.user), view: ctx.caller.usersView, manage: ctx.caller.usersManage,
    })),

    ['GET', '/groups', listGroups],
    ['POST', '/groups', createGroup],
    ['GET', '/groups/count', countGroups],
    ['GET', '/groups/:group', getGroup],
    ['DELETE', '/groups/:group', deleteGroup],
    ['GET', '/groups/:group/members', groupMembers],
    ...mappingRoutes('/groups/:group/role-mappings', (ctx) => ({
      holder: groupById(ctx.params.group), view: ctx.caller.usersView, manage: ctx.caller.usersManage,
    })),
  ].map(([method, pattern, handler]) => ({ method, segments: pattern.split('/').slice(1), handler }));

  function match(method, segments) {
    for (const route of routes) {
      if (route.method !== method || route.segments.length !== segments.length) continue;
      const params = {};
      const ok = route.segments.every((s, i) => {
        if (s.startsWith(':')) params[s.slice(1)] = segments[i];
        return s.startsWith(':') || s === segments[i];
      });
      if (ok) return { handler: route.handler, params };
    }
    return undefined;
  }

  // --- HTTP --------------------------------------------------------------------------------

  // Handles a request whose path starts with /admin/realms.
  return async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    const send = (status, body, headers = {}) => {
      const text = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        'content-length': Buffer.byteLength(text),
        ...headers,
      });
      res.end(text);
    };
    try {
      const auth = req.headers.authorization ?? '';
      const token = /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : '';
      const payload = token ? await authenticate(token) : undefined;
      if (!payload) throw new AdminError(401, { error: 'HTTP 401 Unauthorized' });

      const raw = url.pathname.split('/').slice(3); // after /admin/realms
      const segments = raw.map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      });
      if (segments.length === 0 || segments[0] === '') throw notFound('HTTP 404 Not Found');
      if (segments[0] !== realm.name) throw notFound('Realm not found.');
      const found = match(req.method, segments.slice(1).filter((s, i, all) => s !== '' || i < all.length - 1));
      if (!found) throw notFound('HTTP 404 Not Found');

      let bodyPromise;
      const ctx = {
        method: req.method,
        params: found.params,
        query: url.searchParams,
        caller: new Caller(payload, realm),
        int: (name) => {
          const n = Number.parseInt(url.searchParams.get(name) ?? '', 10);
          return Number.isNaN(n) ? undefined : n;
        },
        body: () => (bodyPromise ??= readJson(req)),
        json: (body) => send(200, body, { 'cache-control': 'no-cache' }),
        noContent: () => send(204),
        created: (last) => send(201, undefined, {
          location: `http://${req.headers.host}${url.pathname.replace(/\/$/, '')}/${last}`,
        }),
      };
      await found.handler(ctx);
    } catch (err) {
      if (!(err instanceof AdminError)) {
        console.error('admin api error', req.method, url.pathname, err);
        err = serverError();
      }
      send(err.status, err.body);
    }
  };
}

// --- helpers ---------------------------------------------------------------------------------

function byName(a, b) {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// first/max paging; a negative or absent bound is ignored.
function page(items, first, max) {
  const start = first !== undefined && first > 0 ? first : 0;
  return max !== undefined && max >= 0 ? items.slice(start, start + max) : items.slice(start);
}

// The attribute filters: case-insensitive substring, or equality with exact=true.
function matches(value, want, exact) {
  if (value === undefined) return false;
  const [v, w] = [value.toLowerCase(), want.toLowerCase()];
  return exact ? v === w : v.includes(w);
}

// `search`: "quoted" is equality, a term with * is that pattern, anything else a prefix.
function matchesSearch(value, term) {
  if (value === undefined || term === '') return value !== undefined;
  const v = value.toLowerCase();
  const t = term.toLowerCase();
  if (t.length > 1 && t.startsWith('"') && t.endsWith('"')) return v === t.slice(1, -1);
  const pattern = t.includes('*') ? t : `${t}*`;
  const regex = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return regex.test(v);
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1024 * 1024) throw new AdminError(413, { error: 'HTTP 413 Request Entity Too Large' });
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new AdminError(400, { error: 'invalid_request', error_description: 'Cannot parse the JSON' });
  }
}
