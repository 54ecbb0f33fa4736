// Keycloak's role model for one realm, and the JSON representations its Admin REST API serves.
//
// What a Keycloak realm holds and this model keeps, in memory and mutable at run time:
//   * realm roles and client roles (one namespace per container), with attributes and
//     composites (a composite role grants every role it contains, transitively);
//   * clients (the configured ones, plus Keycloak's built-in `account` and `realm-management`
//     and a bare client for any other clientId a configured role names);
//   * users and the service-account user of every confidential client with client_credentials;
//   * groups (top level only) with members and role mappings;
//   * role mappings of users and groups.
//
// Every user and service account is mapped to `default-roles-{realm}`, a composite over
// `offline_access`, `uma_authorization` and the `account` client's `view-profile` and
// `manage-account` (itself composite over `manage-account-links`), as in a new Keycloak realm.
// `realm-management` carries Keycloak's admin roles with their composites (`view-users` over
// `query-users` and `query-groups`, `view-clients` over `query-clients`, `realm-admin` over all).
//
// The effective roles of a user are its direct mappings plus those of its groups, composites
// expanded: what tokens carry (realm_access / resource_access) and what the `/composite`
// endpoints list. Representations follow Keycloak 26 (key order included).

import * as crypto from 'node:crypto';

export const REALM_MANAGEMENT = 'realm-management';

// realm-management's roles and composites (Keycloak's AdminRoles for a non-master realm).
const ADMIN_ROLE_COMPOSITES = {
  'create-client': [],
  impersonation: [],
  'manage-authorization': [],
  'manage-clients': [],
  'manage-events': [],
  'manage-identity-providers': [],
  'manage-organizations': [],
  'manage-realm': [],
  'manage-users': [],
  'query-clients': [],
  'query-groups': [],
  'query-organizations': [],
  'query-realms': [],
  'query-users': [],
  'view-authorization': [],
  'view-clients': ['query-clients'],
  'view-events': [],
  'view-identity-providers': [],
  'view-organizations': ['query-organizations'],
  'view-realm': [],
  'view-users': ['query-users', 'query-groups'],
};
const ACCOUNT_ROLE_COMPOSITES = {
  'delete-account': [],
  'manage-account': ['manage-account-links'],
  'manage-account-links': [],
  'manage-consent': ['view-consent'],
  'view-applications': [],
  'view-consent': [],
  'view-groups': [],
  'view-profile': [],
};
const DEFAULT_CLIENT_SCOPES = ['web-origins', 'acr', 'profile', 'roles', 'basic', 'email'];
const OPTIONAL_CLIENT_SCOPES = ['address', 'phone', 'offline_access', 'organization', 'microprofile-jwt'];

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export class Realm {
  // config: the server's JSON config (see services/oidc.py); stableId(name): a UUID stable
  // across restarts for the same realm and name.
  constructor(config, stableId) {
    this.name = config.realm;
    this.id = stableId('realm');
    this.stableId = stableId;
    this.created = Date.now();
    this.roles = new Map(); // id -> role
    this.roleNames = new Map(); // `${containerId}/${name}` -> role
    this.clients = new Map(); // id -> client
    this.clientIds = new Map(); // clientId -> client
    this.users = new Map(); // id -> user
    this.usernames = new Map(); // lower-case username -> user
    this.groups = new Map(); // id -> group

    this.#builtins();
    for (const c of config.clients ?? []) this.#configuredClient(c);
    for (const c of config.clients ?? []) {
      const sa = this.serviceAccount(this.clientIds.get(c.client_id));
      if (sa) this.#grantConfigured(sa, c);
    }
    for (const u of config.users ?? []) {
      const user = this.#addUser({
        id: u.id || stableId(u.username),
        username: u.username.toLowerCase(), // Keycloak keeps usernames in lower case
        firstName: u.first_name ?? undefined,
        lastName: u.last_name ?? undefined,
        email: u.email ?? undefined,
        emailVerified: u.email_verified ?? Boolean(u.email),
        password: u.password,
      });
      this.#grantConfigured(user, u);
    }
  }

  // --- containers and roles -----------------------------------------------------------------

  #builtins() {
    this.createRole(this.id, { name: 'offline_access', description: '${role_offline-access}' });
    this.createRole(this.id, { name: 'uma_authorization', description: '${role_uma_authorization}' });
    const defaults = this.createRole(this.id, {
      name: `default-roles-${this.name}`,
      description: '${role_default-roles}',
    });
    this.defaultRole = defaults;

    const account = this.#addClient({
      clientId: 'account', name: '${client_account}', publicClient: true, standardFlowEnabled: true,
    });
    this.#clientRoles(account, ACCOUNT_ROLE_COMPOSITES);
    const admin = this.#addClient({
      clientId: REALM_MANAGEMENT, name: '${client_realm-management}', bearerOnly: true,
    });
    const adminRoles = this.#clientRoles(admin, ADMIN_ROLE_COMPOSITES);
    const realmAdmin = this.createRole(admin.id, { name: 'realm-admin', description: '${role_realm-admin}' });
    for (const role of adminRoles) realmAdmin.composites.add(role.id);

    for (const role of [this.realmRole('offline_access'), this.realmRole('uma_authorization'),
      this.clientRole(account, 'view-profile'), this.clientRole(account, 'manage-account')]) {
      defaults.composites.add(role.id);
    }
  }

  #clientRoles(client, composites) {
    const roles = Object.keys(composites).map(
      (name) => this.createRole(client.id, { name, description: `\${role_${name}}` }),
    );
    for (const [name, children] of Object.entries(composites)) {
      for (const child of children) {
        this.clientRole(client, name).composites.add(this.clientRole(client, child).id);
      }
    }
    return roles;
  }

  #configuredClient(c) {
    const grants = c.grant_types ?? ['client_credentials', 'password', 'refresh_token'];
    const client = this.#addClient({
      clientId: c.client_id,
      publicClient: Boolean(c.public),
      directAccessGrantsEnabled: grants.includes('password'),
      serviceAccountsEnabled: !c.public && grants.includes('client_credentials'),
    });
    if (client.serviceAccountsEnabled) {
      client.serviceAccountUserId = this.#addUser({
        id: c.service_account_id || this.stableId(`service-account-${c.client_id}`),
        username: `service-account-${c.client_id}`.toLowerCase(),
        emailVerified: false,
        serviceAccountClientId: client.id,
      }).id;
    }
  }

  #addClient(fields) {
    const existing = this.clientIds.get(fields.clientId); // a built-in the config names again
    if (existing) return Object.assign(existing, fields);
    const client = {
      id: this.stableId(`client:${fields.clientId}`),
      name: undefined,
      publicClient: false,
      bearerOnly: false,
      standardFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: false,
      serviceAccountUserId: undefined,
      ...fields,
    };
    this.clients.set(client.id, client);
    this.clientIds.set(client.clientId, client);
    return client;
  }

  #addUser(fields) {
    const user = { enabled: true, createdTimestamp: this.created, roleIds: new Set(), ...fields };
    user.roleIds.add(this.defaultRole.id);
    this.users.set(user.id, user);
    this.usernames.set(user.username.toLowerCase(), user);
    return user;
  }

  // The roles a configured principal starts with; missing ones are created, and so is a bare
  // client for a clientId that no configured client has.
  #grantConfigured(holder, c) {
    for (const name of c.realm_roles ?? []) {
      holder.roleIds.add((this.realmRole(name) ?? this.createRole(this.id, { name })).id);
    }
    for (const [clientId, names] of Object.entries(c.client_roles ?? {})) {
      const client = this.clientIds.get(clientId) ?? this.#addClient({ clientId, bearerOnly: true });
      for (const name of names) {
        holder.roleIds.add((this.clientRole(client, name) ?? this.createRole(client.id, { name })).id);
      }
    }
  }

  isRealmContainer(containerId) {
    return containerId === this.id;
  }

  realmRole(name) {
    return this.roleNames.get(`${this.id}/${name}`);
  }

  clientRole(client, name) {
    return this.roleNames.get(`${client.id}/${name}`);
  }

  roleIn(containerId, name) {
    return this.roleNames.get(`${containerId}/${name}`);
  }

  rolesIn(containerId) {
    return [...this.roles.values()].filter((r) => r.containerId === containerId).sort(byName);
  }

  // A new role, or undefined when its container already has one of that name.
  createRole(containerId, { name, description, attributes }) {
    if (this.roleIn(containerId, name)) return undefined;
    const role = {
      id: crypto.randomUUID(),
      name,
      description: description ?? undefined,
      attributes: structuredClone(attributes ?? {}),
      composites: new Set(),
      containerId,
      clientRole: !this.isRealmContainer(containerId),
    };
    this.roles.set(role.id, role);
    this.roleNames.set(`${containerId}/${name}`, role);
    return role;
  }

  // Keycloak's RoleResource.updateRole: name and description are replaced (an absent
  // description clears it), attributes only when given. False when the new name is taken.
  updateRole(role, rep) {
    const name = rep.name ?? role.name;
    if (name !== role.name) {
      if (this.roleIn(role.containerId, name)) return false;
      this.roleNames.delete(`${role.containerId}/${role.name}`);
      role.name = name;
      this.roleNames.set(`${role.containerId}/${name}`, role);
    }
    role.description = rep.description ?? undefined;
    if (rep.attributes) role.attributes = structuredClone(rep.attributes);
    return true;
  }

  // Removing a role removes it from every mapping and every composite.
  deleteRole(role) {
    this.roles.delete(role.id);
    this.roleNames.delete(`${role.containerId}/${role.name}`);
    for (const holder of [...this.users.values(), ...this.groups.values(), ...this.roles.values()]) {
      holder.roleIds?.delete(role.id);
      holder.composites?.delete(role.id);
    }
  }

  // Every role reachable from `roleIds` through composites, each followed by what it
  // contains (so the default role's expansion leads, as Keycloak's tokens list it).
  expand(roleIds) {
    const seen = new Set();
    const visit = (id) => {
      const role = this.roles.get(id);
      if (!role || seen.has(role)) return;
      seen.add(role);
      for (const child of role.composites) visit(child);
    };
    for (const id of roleIds) visit(id);
    return [...seen];
  }

  containerOf(role) {
    return role.clientRole ? this.clients.get(role.containerId) : undefined;
  }

  // --- users, groups, mappings --------------------------------------------------------------

  userByUsername(username) {
    return this.usernames.get(String(username).toLowerCase());
  }

  serviceAccount(client) {
    return client?.serviceAccountUserId ? this.users.get(client.serviceAccountUserId) : undefined;
  }

  groupsOf(user) {
    return [...this.groups.values()].filter((g) => g.members.has(user.id)).sort(byName);
  }

  // The directly mapped roles of a user (or a group): for a user, its groups' too.
  inheritedRoleIds(holder) {
    const ids = new Set(holder.roleIds);
    if (this.users.has(holder.id)) for (const g of this.groupsOf(holder)) for (const id of g.roleIds) ids.add(id);
    return ids;
  }

  effectiveRoles(holder) {
    return this.expand(this.inheritedRoleIds(holder));
  }

  // What an access token carries: realm role names, and role names per clientId.
  tokenRoles(user) {
    const realmRoles = [];
    const clientRoles = {};
    for (const role of this.effectiveRoles(user)) {
      if (!role.clientRole) {
        realmRoles.push(role.name);
      } else {
        const { clientId } = this.clients.get(role.containerId);
        (clientRoles[clientId] ??= []).push(role.name);
      }
    }
    return { realmRoles, clientRoles };
  }

  createGroup(name) {
    if ([...this.groups.values()].some((g) => g.name === name)) return undefined;
    const group = { id: crypto.randomUUID(), name, attributes: {}, roleIds: new Set(), members: new Set() };
    this.groups.set(group.id, group);
    return group;
  }

  deleteGroup(group) {
    this.groups.delete(group.id);
  }

  // --- representations ----------------------------------------------------------------------

  roleRep(role, { full = false } = {}) {
    const rep = {
      id: role.id,
      name: role.name,
      description: role.description,
      composite: role.composites.size > 0,
      clientRole: role.clientRole,
      containerId: role.containerId,
    };
    if (full) rep.attributes = structuredClone(role.attributes);
    return rep;
  }

  // GET .../role-mappings: {realmMappings, clientMappings}, each left out when empty.
  mappingsRep(roles) {
    const rep = {};
    const realm = roles.filter((r) => !r.clientRole);
    if (realm.length) rep.realmMappings = realm.map((r) => this.roleRep(r));
    for (const role of roles.filter((r) => r.clientRole)) {
      const client = this.clients.get(role.containerId);
      rep.clientMappings ??= {};
      rep.clientMappings[client.clientId] ??= { id: client.id, client: client.clientId, mappings: [] };
      rep.clientMappings[client.clientId].mappings.push(this.roleRep(role));
    }
    return rep;
  }

  // A UserRepresentation: `brief` drops totp, disableableCredentialTypes, requiredActions and
  // notBefore; `access` is the caller's permission block (absent when undefined).
  userRep(user, { brief = false, access } = {}) {
    const rep = {
      id: user.id,
      username: user.username,
      firstName: user.firstName,
      lastName: user.lastName,
      email: user.email,
      emailVerified: user.emailVerified,
      enabled: user.enabled,
      createdTimestamp: user.createdTimestamp,
    };
    if (!brief) Object.assign(rep, { totp: false, disableableCredentialTypes: [], requiredActions: [], notBefore: 0 });
    if (access) rep.access = access;
    return rep;
  }

  clientRep(client, access) {
    return {
      id: client.id,
      clientId: client.clientId,
      name: client.name,
      surrogateAuthRequired: false,
      enabled: true,
      alwaysDisplayInConsole: false,
      clientAuthenticatorType: 'client-secret',
      redirectUris: [],
      webOrigins: [],
      notBefore: 0,
      bearerOnly: client.bearerOnly,
      consentRequired: false,
      standardFlowEnabled: client.standardFlowEnabled,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: client.directAccessGrantsEnabled,
      serviceAccountsEnabled: client.serviceAccountsEnabled,
      publicClient: client.publicClient,
      frontchannelLogout: true,
      protocol: 'openid-connect',
      attributes: {},
      authenticationFlowBindingOverrides: {},
      fullScopeAllowed: true,
      nodeReRegistrationTimeout: -1,
      defaultClientScopes: [...DEFAULT_CLIENT_SCOPES],
      optionalClientScopes: [...OPTIONAL_CLIENT_SCOPES],
      access,
    };
  }

  // GroupRepresentation. Shapes (Keycloak 26): the listing (brief, with access), the single
  // read (`full`: attributes, realmRoles, clientRoles too) and a user's groups (no count, no
  // access).
  groupRep(group, { full = false, access, count = true } = {}) {
    const rep = { id: group.id, name: group.name, path: `/${group.name}` };
    if (count) rep.subGroupCount = 0;
    rep.subGroups = [];
    if (full) {
      const roles = [...group.roleIds].map((id) => this.roles.get(id));
      rep.attributes = structuredClone(group.attributes);
      rep.realmRoles = roles.filter((r) => !r.clientRole).map((r) => r.name);
      rep.clientRoles = {};
      for (const role of roles.filter((r) => r.clientRole)) {
        (rep.clientRoles[this.clients.get(role.containerId).clientId] ??= []).push(role.name);
      }
    }
    if (access) rep.access = access;
    return rep;
  }
}
