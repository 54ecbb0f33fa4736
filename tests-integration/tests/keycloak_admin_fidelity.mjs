// Drives every admin operation the harness's Keycloak stand-in serves through Keycloak's own
// published admin client (npm @keycloak/keycloak-admin-client), against a running stand-in,
// and asserts what it answers: results, and the statuses and bodies of its errors. Where the
// client and the server disagree (a path, a shape, a status), the server is wrong.
//
//   node keycloak_admin_fidelity.mjs SETTINGS.json
//
// SETTINGS: {baseUrl, realm, admin: {clientId, clientSecret}, viewer: {clientId, clientSecret}
// (holding only realm-management view-users and view-realm), nobody: {clientId, clientSecret}
// (no realm-management role), serviceClientId (confidential, with a service account),
// publicClientId, user: {username, email}}.
// Prints {"operations": [...]} (every operation checked) on success; exits 1 on the first
// failure, naming the operation.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';

import KcAdminClient, { NetworkError } from '@keycloak/keycloak-admin-client';

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const operations = [];
let current = '(setup)';

// Runs one named check.
async function op(name, fn) {
  current = name;
  await fn();
  operations.push(name);
}

// The call fails with this status and exactly this JSON body.
async function fails(call, status, body) {
  let error;
  try {
    await call();
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof NetworkError, `expected an HTTP ${status}, got ${error ?? 'success'}`);
  assert.equal(error.response.status, status);
  assert.deepEqual(error.responseData, body);
}

const names = (roles) => roles.map((r) => r.name).sort();
const FORBIDDEN = { error: 'HTTP 403 Forbidden' };

async function client(credentials) {
  const kc = new KcAdminClient({ baseUrl: settings.baseUrl, realmName: settings.realm });
  await kc.auth({ grantType: 'client_credentials', ...credentials });
  return kc;
}

async function main() {
  const kc = await client(settings.admin);
  const viewer = await client(settings.viewer);
  const nobody = await client(settings.nobody);

  // --- clients, found by clientId --------------------------------------------------------
  let service;
  let publicClient;
  await op('clients.find by clientId', async () => {
    const found = await kc.clients.find({ clientId: settings.serviceClientId });
    assert.equal(found.length, 1);
    service = found[0];
    assert.equal(service.clientId, settings.serviceClientId);
    assert.equal(service.serviceAccountsEnabled, true);
    assert.equal(service.publicClient, false);
    assert.deepEqual(await kc.clients.find({ clientId: 'no-such-client' }), []);
    [publicClient] = await kc.clients.find({ clientId: settings.publicClientId });
    assert.equal(publicClient.publicClient, true);
  });
  await op('clients.findOne', async () => {
    const one = await kc.clients.findOne({ id: service.id });
    assert.equal(one.clientId, settings.serviceClientId);
    assert.deepEqual(one.access, { view: true, configure: true, manage: true });
    assert.equal(await kc.clients.findOne({ id: 'no-such-id' }), null); // 404 -> null
  });

  // --- users, found by username or email (exact) -----------------------------------------
  let user;
  await op('users.find by username and by email', async () => {
    const byName = await kc.users.find({ username: settings.user.username, exact: true });
    assert.equal(byName.length, 1);
    user = byName[0];
    assert.equal(user.username, settings.user.username);
    assert.equal(user.email, settings.user.email);
    const byEmail = await kc.users.find({ email: settings.user.email.toUpperCase(), exact: true });
    assert.deepEqual(byEmail.map((u) => u.id), [user.id]);
    const partial = settings.user.username.slice(0, -1);
    assert.deepEqual(await kc.users.find({ username: partial, exact: true }), []);
    assert.ok((await kc.users.find({ username: partial })).some((u) => u.id === user.id)); // substring
  });
  await op('users.findOne', async () => {
    const one = await kc.users.findOne({ id: user.id });
    assert.equal(one.username, settings.user.username);
    assert.equal(one.access.mapRoles, true);
    assert.equal(await kc.users.findOne({ id: 'no-such-user' }), null);
  });

  let serviceAccount;
  await op('clients.getServiceAccountUser', async () => {
    serviceAccount = await kc.clients.getServiceAccountUser({ id: service.id });
    assert.equal(serviceAccount.username, `service-account-${settings.serviceClientId}`);
    const found = await kc.users.find({ username: serviceAccount.username, exact: true });
    assert.deepEqual(found.map((u) => u.id), [serviceAccount.id]);
    await fails(() => kc.clients.getServiceAccountUser({ id: publicClient.id }), 400,
      { error: `Service account not enabled for the client '${settings.publicClientId}'` });
  });

  // --- realm roles -----------------------------------------------------------------------
  await op('roles.create', async () => {
    assert.deepEqual(await kc.roles.create({ name: 'fidelity-deployer', description: 'deploys' }),
      { roleName: 'fidelity-deployer' });
    assert.deepEqual(await kc.roles.create({ name: 'fidelity-reader' }), { roleName: 'fidelity-reader' });
    await fails(() => kc.roles.create({ name: 'fidelity-deployer' }), 409,
      { errorMessage: 'Role with name fidelity-deployer already exists' });
  });
  let deployer;
  let reader;
  await op('roles.findOneByName', async () => {
    deployer = await kc.roles.findOneByName({ name: 'fidelity-deployer' });
    assert.deepEqual(deployer, {
      id: deployer.id, name: 'fidelity-deployer', description: 'deploys', composite: false,
      clientRole: false, containerId: deployer.containerId, attributes: {},
    });
    reader = await kc.roles.findOneByName({ name: 'fidelity-reader' });
    assert.equal(reader.description, undefined);
    assert.equal(await kc.roles.findOneByName({ name: 'no-such-role' }), null);
  });
  await op('roles.find', async () => {
    const all = names(await kc.roles.find());
    for (const name of ['fidelity-deployer', 'fidelity-reader', 'offline_access', `default-roles-${settings.realm}`]) {
      assert.ok(all.includes(name), `${name} not listed`);
    }
    assert.deepEqual(names(await kc.roles.find({ search: 'fidelity-' })), ['fidelity-deployer', 'fidelity-reader']);
  });
  await op('roles.updateByName', async () => {
    await kc.roles.updateByName({ name: 'fidelity-deployer' },
      { name: 'fidelity-deployer', description: 'ships releases', attributes: { team: ['platform'] } });
    const updated = await kc.roles.findOneByName({ name: 'fidelity-deployer' });
    assert.equal(updated.id, deployer.id);
    assert.equal(updated.description, 'ships releases');
    assert.deepEqual(updated.attributes, { team: ['platform'] });
    await fails(() => kc.roles.updateByName({ name: 'no-such-role' }, { name: 'x' }), 404,
      { error: 'Could not find role' });
    await fails(() => kc.roles.updateByName({ name: 'fidelity-reader' }, { name: 'fidelity-deployer' }), 409,
      { errorMessage: 'Role with name fidelity-deployer already exists' });
  });
  await op('roles.findOneById and updateById', async () => {
    const byId = await kc.roles.findOneById({ id: reader.id });
    assert.equal(byId.name, 'fidelity-reader');
    await kc.roles.updateById({ id: reader.id }, { name: 'fidelity-reader', description: 'reads' });
    assert.equal((await kc.roles.findOneById({ id: reader.id })).description, 'reads');
    assert.equal(await kc.roles.findOneById({ id: 'no-such-id' }), null);
  });

  // --- client roles ----------------------------------------------------------------------
  await op('clients.createRole', async () => {
    assert.deepEqual(await kc.clients.createRole({ id: service.id, name: 'fidelity-publish' }),
      { roleName: 'fidelity-publish' });
    await kc.clients.createRole({ id: service.id, name: 'fidelity-scratch', description: 'temporary' });
    await fails(() => kc.clients.createRole({ id: service.id, name: 'fidelity-publish' }), 409,
      { errorMessage: 'Role with name fidelity-publish already exists' });
  });
  let publish;
  await op('clients.findRole', async () => {
    publish = await kc.clients.findRole({ id: service.id, roleName: 'fidelity-publish' });
    assert.equal(publish.clientRole, true);
    assert.equal(publish.containerId, service.id);
    assert.equal(await kc.clients.findRole({ id: service.id, roleName: 'no-such-role' }), null);
  });
  await op('clients.listRoles', async () => {
    const listed = names(await kc.clients.listRoles({ id: service.id }));
    assert.ok(listed.includes('fidelity-publish') && listed.includes('fidelity-scratch'));
    // A substring search, as the Keycloak node's role_list sends it.
    assert.deepEqual(names(await kc.clients.listRoles({ id: service.id, search: 'fidelity-pub' })),
      ['fidelity-publish']);
  });
  await op('clients.updateRole', async () => {
    await kc.clients.updateRole({ id: service.id, roleName: 'fidelity-scratch' },
      { name: 'fidelity-scratch', description: 'still temporary' });
    const role = await kc.clients.findRole({ id: service.id, roleName: 'fidelity-scratch' });
    assert.equal(role.description, 'still temporary');
  });
  await op('clients.delRole', async () => {
    await kc.clients.delRole({ id: service.id, roleName: 'fidelity-scratch' });
    assert.equal(await kc.clients.findRole({ id: service.id, roleName: 'fidelity-scratch' }), null);
    await fails(() => kc.clients.delRole({ id: service.id, roleName: 'fidelity-scratch' }), 404,
      { error: 'Could not find role' });
    await fails(() => kc.clients.listRoles({ id: 'no-such-client' }), 404, { error: 'Could not find client' });
  });

  // --- composites ------------------------------------------------------------------------
  await op('roles.createComposite', async () => {
    await kc.roles.createComposite({ roleId: deployer.id }, [reader, publish]);
    assert.equal((await kc.roles.findOneById({ id: deployer.id })).composite, true);
    await fails(() => kc.roles.createComposite({ roleId: deployer.id }, [{ id: 'no-such-id' }]), 404,
      { error: 'Could not find composite role' });
  });
  await op('roles.getCompositeRoles', async () => {
    assert.deepEqual(names(await kc.roles.getCompositeRoles({ id: deployer.id })),
      ['fidelity-publish', 'fidelity-reader']);
    assert.deepEqual(names(await kc.roles.getCompositeRolesForRealm({ id: deployer.id })), ['fidelity-reader']);
    assert.deepEqual(names(await kc.roles.getCompositeRolesForClient({ id: deployer.id, clientId: service.id })),
      ['fidelity-publish']);
  });

  // --- role mappings of a user -----------------------------------------------------------
  await op('users.addRealmRoleMappings', async () => {
    await kc.users.addRealmRoleMappings({ id: user.id, roles: [{ id: deployer.id, name: deployer.name }] });
    await fails(() => kc.users.addRealmRoleMappings({ id: user.id, roles: [{ id: reader.id, name: 'fidelity-deployer' }] }),
      404, { error: 'Role not found' });
    await fails(() => kc.users.addRealmRoleMappings({ id: 'no-such-user', roles: [] }), 404,
      { error: 'User not found' });
  });
  await op('users.listRealmRoleMappings', async () => {
    const direct = names(await kc.users.listRealmRoleMappings({ id: user.id }));
    assert.ok(direct.includes('fidelity-deployer'));
    assert.ok(!direct.includes('fidelity-reader')); // only through the composite
  });
  await op('users.listCompositeRealmRoleMappings', async () => {
    const effective = names(await kc.users.listCompositeRealmRoleMappings({ id: user.id }));
    for (const name of ['fidelity-deployer', 'fidelity-reader', 'offline_access']) assert.ok(effective.includes(name), name);
  });
  await op('users.listAvailableRealmRoleMappings', async () => {
    const available = names(await kc.users.listAvailableRealmRoleMappings({ id: user.id }));
    assert.ok(!available.includes('fidelity-deployer'));
    assert.ok(available.includes('fidelity-reader')); // not directly mapped
  });
  await op('users.listRoleMappings', async () => {
    const all = await kc.users.listRoleMappings({ id: user.id });
    assert.ok(names(all.realmMappings).includes('fidelity-deployer'));
  });
  await op('users.addClientRoleMappings', async () => {
    await kc.users.addClientRoleMappings({ id: user.id, clientUniqueId: service.id, roles: [publish] });
    await fails(() => kc.users.addClientRoleMappings({ id: user.id, clientUniqueId: 'no-such-client', roles: [publish] }),
      404, { error: 'Client not found' });
  });
  await op('users.listClientRoleMappings', async () => {
    assert.deepEqual(names(await kc.users.listClientRoleMappings({ id: user.id, clientUniqueId: service.id })),
      ['fidelity-publish']);
    const all = await kc.users.listRoleMappings({ id: user.id });
    assert.deepEqual(names(all.clientMappings[settings.serviceClientId].mappings), ['fidelity-publish']);
  });
  await op('users.listCompositeClientRoleMappings', async () => {
    const effective = names(await kc.users.listCompositeClientRoleMappings({ id: user.id, clientUniqueId: service.id }));
    assert.ok(effective.includes('fidelity-publish'));
  });
  await op('users.listAvailableClientRoleMappings', async () => {
    const available = names(await kc.users.listAvailableClientRoleMappings({ id: user.id, clientUniqueId: service.id }));
    assert.ok(!available.includes('fidelity-publish'));
  });
  await op('users.delClientRoleMappings', async () => {
    await kc.users.delClientRoleMappings({ id: user.id, clientUniqueId: service.id, roles: [publish] });
    assert.deepEqual(await kc.users.listClientRoleMappings({ id: user.id, clientUniqueId: service.id }), []);
  });
  await op('users.delRealmRoleMappings', async () => {
    await kc.users.delRealmRoleMappings({ id: user.id, roles: [{ id: deployer.id, name: deployer.name }] });
    assert.ok(!names(await kc.users.listRealmRoleMappings({ id: user.id })).includes('fidelity-deployer'));
    assert.ok(!names(await kc.users.listCompositeRealmRoleMappings({ id: user.id })).includes('fidelity-reader'));
  });

  // --- role mappings of a client's service account ---------------------------------------
  await op('service account: realm and client role mappings', async () => {
    const id = serviceAccount.id;
    await kc.users.addRealmRoleMappings({ id, roles: [reader] });
    await kc.users.addClientRoleMappings({ id, clientUniqueId: service.id, roles: [publish] });
    assert.ok(names(await kc.users.listRealmRoleMappings({ id })).includes('fidelity-reader'));
    assert.ok(names(await kc.users.listClientRoleMappings({ id, clientUniqueId: service.id })).includes('fidelity-publish'));
    assert.ok(names(await kc.users.listCompositeClientRoleMappings({ id, clientUniqueId: service.id })).includes('fidelity-publish'));
    await kc.users.delRealmRoleMappings({ id, roles: [reader] });
    await kc.users.delClientRoleMappings({ id, clientUniqueId: service.id, roles: [publish] });
    assert.ok(!names(await kc.users.listCompositeRealmRoleMappings({ id })).includes('fidelity-reader'));
    assert.ok(!names(await kc.users.listClientRoleMappings({ id, clientUniqueId: service.id })).includes('fidelity-publish'));
  });

  // --- groups ----------------------------------------------------------------------------
  let group;
  await op('groups.create', async () => {
    group = await kc.groups.create({ name: 'fidelity-operators' });
    assert.ok(group.id);
    await fails(() => kc.groups.create({ name: 'fidelity-operators' }), 409,
      { errorMessage: "Top level group named 'fidelity-operators' already exists." });
    await fails(() => kc.groups.create({ name: ' ' }), 400, { errorMessage: 'Group name is missing' });
  });
  await op('groups.find', async () => {
    const found = await kc.groups.find({ search: 'fidelity-op' });
    assert.deepEqual(found.map((g) => [g.id, g.name, g.path]), [[group.id, 'fidelity-operators', '/fidelity-operators']]);
    assert.ok((await kc.groups.find()).some((g) => g.id === group.id));
    assert.deepEqual(await kc.groups.count({ search: 'fidelity-op' }), { count: 1 });
  });
  await op('groups.findOne', async () => {
    const one = await kc.groups.findOne({ id: group.id });
    assert.deepEqual([one.name, one.realmRoles, one.clientRoles], ['fidelity-operators', [], {}]);
    assert.equal(await kc.groups.findOne({ id: 'no-such-group' }), null);
  });
  await op('groups: realm role mappings', async () => {
    await kc.groups.addRealmRoleMappings({ id: group.id, roles: [{ id: deployer.id, name: deployer.name }] });
    assert.deepEqual(names(await kc.groups.listRealmRoleMappings({ id: group.id })), ['fidelity-deployer']);
    const effective = names(await kc.groups.listCompositeRealmRoleMappings({ id: group.id }));
    assert.ok(effective.includes('fidelity-reader'));
    assert.ok(!names(await kc.groups.listAvailableRealmRoleMappings({ id: group.id })).includes('fidelity-deployer'));
    assert.deepEqual((await kc.groups.findOne({ id: group.id })).realmRoles, ['fidelity-deployer']);
  });
  await op('groups: client role mappings', async () => {
    await kc.groups.addClientRoleMappings({ id: group.id, clientUniqueId: service.id, roles: [publish] });
    assert.deepEqual(names(await kc.groups.listClientRoleMappings({ id: group.id, clientUniqueId: service.id })),
      ['fidelity-publish']);
    assert.ok(names(await kc.groups.listCompositeClientRoleMappings({ id: group.id, clientUniqueId: service.id }))
      .includes('fidelity-publish'));
    assert.ok(!names(await kc.groups.listAvailableClientRoleMappings({ id: group.id, clientUniqueId: service.id }))
      .includes('fidelity-publish'));
    const all = await kc.groups.listRoleMappings({ id: group.id });
    assert.deepEqual(names(all.realmMappings), ['fidelity-deployer']);
    assert.deepEqual(names(all.clientMappings[settings.serviceClientId].mappings), ['fidelity-publish']);
  });
  await op('users.addToGroup and members', async () => {
    await kc.users.addToGroup({ id: user.id, groupId: group.id });
    assert.deepEqual((await kc.groups.listMembers({ id: group.id })).map((u) => u.id), [user.id]);
    assert.deepEqual((await kc.users.listGroups({ id: user.id })).map((g) => g.id), [group.id]);
    assert.deepEqual(await kc.users.countGroups({ id: user.id }), { count: 1 });
    await fails(() => kc.users.addToGroup({ id: user.id, groupId: 'no-such-group' }), 404, { error: 'Group not found' });
  });
  await op('effective mappings include the groups roles', async () => {
    assert.ok(!names(await kc.users.listRealmRoleMappings({ id: user.id })).includes('fidelity-deployer'));
    const realmRoles = names(await kc.users.listCompositeRealmRoleMappings({ id: user.id }));
    assert.ok(realmRoles.includes('fidelity-deployer') && realmRoles.includes('fidelity-reader'));
    const clientRoles = names(await kc.users.listCompositeClientRoleMappings({ id: user.id, clientUniqueId: service.id }));
    assert.ok(clientRoles.includes('fidelity-publish'));
  });
  await op('groups: remove role mappings', async () => {
    await kc.groups.delClientRoleMappings({ id: group.id, clientUniqueId: service.id, roles: [publish] });
    await kc.groups.delRealmRoleMappings({ id: group.id, roles: [{ id: deployer.id, name: deployer.name }] });
    assert.deepEqual(await kc.groups.listRoleMappings({ id: group.id }), {});
  });
  await op('users.delFromGroup', async () => {
    await kc.users.delFromGroup({ id: user.id, groupId: group.id });
    assert.deepEqual(await kc.groups.listMembers({ id: group.id }), []);
    assert.deepEqual(await kc.users.listGroups({ id: user.id }), []);
  });
  await op('groups.del', async () => {
    await kc.groups.del({ id: group.id });
    assert.equal(await kc.groups.findOne({ id: group.id }), null);
    await fails(() => kc.groups.del({ id: group.id }), 404, { error: 'Could not find group by id' });
  });

  // --- composites removed, roles deleted -------------------------------------------------
  await op('roles.delCompositeRoles', async () => {
    await kc.roles.delCompositeRoles({ id: deployer.id }, [reader]);
    assert.deepEqual(names(await kc.roles.getCompositeRoles({ id: deployer.id })), ['fidelity-publish']);
  });
  await op('roles.delByName', async () => {
    await kc.roles.delByName({ name: 'fidelity-deployer' });
    assert.equal(await kc.roles.findOneByName({ name: 'fidelity-deployer' }), null);
    await fails(() => kc.roles.delByName({ name: 'fidelity-deployer' }), 404, { error: 'Could not find role' });
    await fails(() => kc.roles.delByName({ name: `default-roles-${settings.realm}` }), 400,
      { errorMessage: `default-roles-${settings.realm} is default role of the realm and cannot be removed.` });
  });
  await op('roles.delById', async () => {
    await kc.roles.delById({ id: reader.id });
    assert.equal(await kc.roles.findOneById({ id: reader.id }), null);
    await kc.clients.delRole({ id: service.id, roleName: 'fidelity-publish' });
  });

  // --- who may do what -------------------------------------------------------------------
  await op('403 without the admin role', async () => {
    // view-users and view-realm: reads are allowed, writes are not.
    assert.ok((await viewer.roles.find()).length > 0);
    assert.deepEqual((await viewer.users.find({ username: settings.user.username, exact: true })).map((u) => u.id), [user.id]);
    assert.deepEqual(await viewer.clients.find({ clientId: settings.serviceClientId }), []); // listed only if viewable
    await fails(() => viewer.roles.create({ name: 'fidelity-forbidden' }), 403, FORBIDDEN);
    await fails(() => viewer.clients.createRole({ id: service.id, name: 'fidelity-forbidden' }), 403, FORBIDDEN);
    await fails(() => viewer.clients.findRole({ id: service.id, roleName: 'fidelity-publish' }), 403, FORBIDDEN);
    const role = await viewer.roles.findOneByName({ name: 'offline_access' });
    await fails(() => viewer.users.addRealmRoleMappings({ id: user.id, roles: [role] }), 403, FORBIDDEN);
    await fails(() => viewer.groups.create({ name: 'fidelity-forbidden' }), 403, FORBIDDEN);
    await fails(() => viewer.clients.getServiceAccountUser({ id: service.id }), 403, FORBIDDEN);
    // No admin role at all: nothing, and no telling which ids exist (403, not 404).
    await fails(() => nobody.roles.find(), 403, FORBIDDEN);
    await fails(() => nobody.users.find({ username: settings.user.username, exact: true }), 403, FORBIDDEN);
    await fails(() => nobody.users.findOne({ id: 'no-such-user' }), 403, FORBIDDEN);
    await fails(() => nobody.clients.findOne({ id: 'no-such-client' }), 403, FORBIDDEN);
    await fails(() => nobody.groups.find(), 403, FORBIDDEN);
  });
  await op('401 without a valid token', async () => {
    const anonymous = new KcAdminClient({ baseUrl: settings.baseUrl, realmName: settings.realm });
    anonymous.setAccessToken('not-a-token');
    await fails(() => anonymous.roles.find(), 401, { error: 'HTTP 401 Unauthorized' });
    const [head, body] = kc.accessToken.split('.');
    anonymous.setAccessToken(`${head}.${body}.${Buffer.from('forged').toString('base64url')}`);
    await fails(() => anonymous.users.find(), 401, { error: 'HTTP 401 Unauthorized' });
  });
  await op('404 for another realm', async () => {
    const elsewhere = new KcAdminClient({ baseUrl: settings.baseUrl, realmName: 'no-such-realm' });
    elsewhere.setAccessToken(kc.accessToken);
    await fails(() => elsewhere.roles.find(), 404, { error: 'Realm not found.' });
  });
}

try {
  await main();
  console.log(JSON.stringify({ operations }));
} catch (err) {
  console.error(`FAILED at ${current}:`, err);
  process.exit(1);
}
