// A Keycloak-compatible OpenID Provider for tests, built on panva's certified `oidc-provider`.
//
//   node server.mjs CONFIG.json        (or OIDC_SERVER_CONFIG=CONFIG.json node server.mjs)
//
// One realm is mounted at /realms/{realm} with Keycloak's endpoint paths, so a Keycloak client
// library works against it unchanged:
//
//   /realms/{realm}/.well-known/openid-configuration
//   /realms/{realm}/protocol/openid-connect/{token,certs,token/introspect,userinfo,logout,revoke}
//
// oidc-provider does the OAuth work: client authentication, the client_credentials and
// refresh_token grants, discovery, JWKS, ID tokens, refresh-token introspection/revocation.
// This file adds what Keycloak has and oidc-provider does not:
//   * the password grant (a custom grant type issuing the provider's own token models);
//   * RS256 JWT access tokens carrying Keycloak's claims (formats.customizers.jwt);
//   * introspection, revocation and userinfo for those JWT access tokens (oidc-provider
//     refuses structured tokens there; Keycloak accepts them);
//   * Keycloak's back-channel logout: POST client credentials + refresh_token ends the session
//     (the oidc-provider Grant), so its refresh token and access tokens stop working;
//   * a loopback-only test hook, POST /_harness/rotate-keys, that swaps in a new signing key;
//   * Keycloak's role model (realm.mjs: realm and client roles, composites, groups, role
//     mappings; tokens carry the effective roles at the time they are issued) and the part of
//     its Admin REST API that manages it, under /admin/realms/{realm} (admin.mjs).
//
// The config format is documented in services/oidc.py (the Python side writes it).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

import { createAdminApi } from './admin.mjs';
import { Realm } from './realm.mjs';

const OIDC = '/protocol/openid-connect';
const RESOURCE = 'urn:omnibase-infra-testing:keycloak'; // the one resource server of the realm

// ---------------------------------------------------------------------------------------------
// Configuration

const configPath = process.argv[2] ?? process.env.OIDC_SERVER_CONFIG;
if (!configPath) {
  console.error('usage: node server.mjs CONFIG.json  (or set OIDC_SERVER_CONFIG)');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));

const realmName = config.realm ?? 'omnibase';
const lifespans = {
  access: config.access_token_lifespan ?? 300,
  refresh: config.refresh_token_lifespan ?? 1800,
  session: config.sso_session_max_lifespan ?? 36000,
};
const defaultScopes = config.default_scopes ?? ['profile', 'email'];
const optionalScopes = config.optional_scopes ?? ['address', 'phone', 'offline_access', 'microprofile-jwt'];
const knownScopes = ['openid', ...defaultScopes, ...optionalScopes];

// Stable ids, like Keycloak's UUIDs, so a user keeps its `sub` across server restarts.
const stableId = (name) => {
  const h = crypto.createHash('sha256').update(`${realmName}/${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

// The OAuth clients (config entries by client_id) and the realm's role model: users, service
// accounts (what a token is about), roles, groups.
const clients = new Map((config.clients ?? []).map((c) => [c.client_id, c]));
const realm = new Realm({ ...config, realm: realmName }, stableId);

// ---------------------------------------------------------------------------------------------
// Storage shared by every provider instance (a key rotation builds a new instance)

const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const grantMembers = new Map(); // grantId -> Set of store keys
const byUid = new Map();
const revokedAccessTokens = new Map(); // jti -> exp (JWT access tokens are not stored)

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(key, { payload: structuredClone(payload), expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
    if (payload.uid) byUid.set(payload.uid, id);
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  async findByUid(uid) {
    return byUid.has(uid) ? this.find(byUid.get(uid)) : undefined;
  }

  async findByUserCode() {
    return undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

// ---------------------------------------------------------------------------------------------
// Signing keys

async function newSigningKey(jwk) {
  const key = jwk ?? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const kid = key.kid ?? await jose.calculateJwkThumbprint(key);
  return { ...key, kid, alg: 'RS256', use: 'sig' };
}

let signingKeys = [await newSigningKey(config.signing_key)]; // first one signs
const publicJwks = () => ({
  keys: signingKeys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })),
});

// ---------------------------------------------------------------------------------------------
// Keycloak's token contents

// Keycloak's `scope` claim: openid when asked for, the realm's default scopes, and any optional
// scope asked for.
function keycloakScope(requested) {
  const asked = new Set((requested ?? '').split(' ').filter(Boolean));
  const scopes = asked.has('openid') ? ['openid', ...defaultScopes] : [...defaultScopes];
  for (const s of optionalScopes) if (asked.has(s) && !scopes.includes(s)) scopes.push(s);
  return scopes.join(' ');
}

function profileClaims(p, scope) {
  const scopes = new Set(scope.split(' '));
  const claims = { sub: p.id };
  if (scopes.has('profile')) {
    claims.preferred_username = p.username;
    const name = [p.firstName, p.lastName].filter(Boolean).join(' ');
    if (name) claims.name = name;
    if (p.firstName) claims.given_name = p.firstName;
    if (p.lastName) claims.family_name = p.lastName;
  }
  if (scopes.has('email') && p.email) {
    claims.email = p.email;
    claims.email_verified = p.emailVerified;
  }
  return claims;
}

// Access token claims as Keycloak issues them. `aud` is Keycloak's "audience resolve": every
// client the principal holds roles of, except the requesting client itself, plus the client's
// configured extra audiences (a hardcoded audience mapper).
function keycloakAccessClaims(token, payload) {
  const client = clients.get(token.clientId);
  const p = token.accountId
    ? realm.users.get(token.accountId)
    : realm.serviceAccount(realm.clientIds.get(client.client_id));
  const scope = keycloakScope(token.scope);
  const { realmRoles, clientRoles } = realm.tokenRoles(p); // as of now: grants apply to new tokens
  const resourceAccess = Object.fromEntries(
    Object.entries(clientRoles).map(([id, roles]) => [id, { roles }]),
  );
  const aud = [...new Set([
    ...Object.keys(resourceAccess).filter((id) => id !== client.client_id),
    ...(client.audience ?? []),
  ])];
  Object.assign(payload, {
    aud: aud.length === 0 ? client.client_id : aud.length === 1 ? aud[0] : aud,
    sub: p.id,
    typ: 'Bearer',
    azp: client.client_id,
    sid: token.sid,
    acr: '1',
    realm_access: { roles: realmRoles },
    resource_access: Object.keys(resourceAccess).length ? resourceAccess : undefined,
    scope,
    ...profileClaims(p, scope),
    preferred_username: p.username,
  });
}

// ---------------------------------------------------------------------------------------------
// The password grant (Resource Owner Password Credentials), as Keycloak has it

const invalidUserCredentials = () => {
  const err = new errors.CustomOIDCProviderError('invalid_grant', 'Invalid user credentials');
  err.status = err.statusCode = 401; // Keycloak answers 401 here
  return err;
};

async function passwordGrant(ctx) {
  const { client, params, provider } = ctx.oidc;
  if (!params.username) throw new errors.InvalidRequest('Missing parameter: username');
  const user = realm.userByUsername(params.username);
  if (!user?.password || !params.password || !safeEqual(params.password, user.password)) {
    throw invalidUserCredentials();
  }
  const scope = keycloakScope(params.scope);
  const sid = crypto.randomUUID(); // Keycloak's session id; here the Grant's id

  const grant = new provider.Grant({ jti: sid, accountId: user.id, clientId: client.clientId });
  grant.addOIDCScope(scope);
  grant.addResourceScope(RESOURCE, scope);
  await grant.save();
  ctx.oidc.entity('Grant', grant);
  ctx.oidc.entity('Account', accountFor(user));

  const at = new provider.AccessToken({
    accountId: user.id, client, grantId: sid, gty: 'password', scope, sid,
  });
  at.resourceServer = new provider.ResourceServer(RESOURCE, resourceServerInfo(client.clientId));
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken;
  if (client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: user.id, client, grantId: sid, gty: 'password', resource: RESOURCE, rotations: 0, scope, sid,
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken;
  if (scope.split(' ').includes('openid')) {
    const token = new provider.IdToken(profileClaims(user, scope), { ctx });
    token.scope = scope;
    token.set('sid', sid);
    idToken = await token.issue({ use: 'idtoken' });
  }

  ctx.body = {
    access_token: accessToken,
    expires_in: at.expiration,
    refresh_token: refreshToken,
    token_type: 'Bearer',
    id_token: idToken,
    scope,
  };
}

function accountFor(p) {
  return {
    accountId: p.id,
    claims: (use, scope) => profileClaims(p, keycloakScope(scope)),
  };
}

function resourceServerInfo(clientId) {
  return {
    scope: knownScopes.join(' '),
    audience: clientId, // replaced by Keycloak's aud in the JWT customizer
    accessTokenFormat: 'jwt',
    accessTokenTTL: clients.get(clientId)?.access_token_lifespan ?? lifespans.access,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// ---------------------------------------------------------------------------------------------
// JWT access tokens at introspection, revocation, userinfo

async function verifyAccessToken(value) {
  try {
    const { payload } = await jose.jwtVerify(value, jose.createLocalJWKSet(publicJwks()), {
      issuer: issuer(),
      algorithms: ['RS256'],
    });
    return payload;
  } catch {
    return undefined;
  }
}

async function isActive(provider, payload) {
  if (!payload || payload.typ !== 'Bearer' || revokedAccessTokens.has(payload.jti)) return false;
  // A user's token lives as long as its session (the Grant); logout destroys the Grant.
  return !payload.sid || Boolean(await provider.Grant.find(payload.sid));
}

async function introspectAccessToken(ctx, provider) {
  const payload = await verifyAccessToken(ctx.oidc.params.token);
  ctx.status = 200;
  ctx.body = (await isActive(provider, payload))
    ? { ...payload, client_id: payload.azp, username: payload.preferred_username, token_type: 'Bearer', active: true }
    : { active: false };
}

async function revokeAccessToken(ctx) {
  const payload = await verifyAccessToken(ctx.oidc.params.token);
  if (payload && payload.azp !== ctx.oidc.client.clientId) {
    ctx.status = 400;
    ctx.body = { error: 'unauthorized_client', error_description: 'Unmatching clients' };
    return;
  }
  if (payload?.jti) revokedAccessTokens.set(payload.jti, payload.exp);
  ctx.status = 200;
  ctx.body = '';
}

async function userinfo(ctx, provider) {
  const auth = ctx.get('authorization');
  let value = /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
  if (!value && ctx.method === 'POST') value = (await readForm(ctx)).get('access_token');
  const payload = value ? await verifyAccessToken(value) : undefined;
  if (!(await isActive(provider, payload))) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer realm="' + realmName + '", error="invalid_token", error_description="Token verification failed"');
    ctx.body = { error: 'invalid_token', error_description: 'Token verification failed' };
    return;
  }
  if (!payload.scope?.split(' ').includes('openid')) {
    ctx.status = 403;
    ctx.body = { error: 'insufficient_scope', error_description: 'Missing openid scope' };
    return;
  }
  ctx.set('Cache-Control', 'no-store');
  ctx.body = profileClaims(realm.users.get(payload.sub), payload.scope);
}

// ---------------------------------------------------------------------------------------------
// Keycloak's back-channel logout: POST client credentials + refresh_token

async function logout(ctx, provider) {
  const form = await readForm(ctx);
  const client = authenticateClient(ctx, form);
  if (!client) {
    ctx.status = 401;
    ctx.body = { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' };
    return;
  }
  const value = form.get('refresh_token');
  if (!value) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'No refresh token' };
    return;
  }
  const rt = await provider.RefreshToken.find(value);
  if (!rt || !rt.isValid || rt.clientId !== client.client_id) {
    ctx.status = 400;
    ctx.body = { error: 'invalid_grant', error_description: 'Invalid refresh token' };
    return;
  }
  await Promise.all([
    provider.AccessToken.revokeByGrantId(rt.grantId),
    provider.RefreshToken.revokeByGrantId(rt.grantId),
    provider.Grant.adapter.destroy(rt.grantId),
  ]);
  ctx.status = 204;
}

function authenticateClient(ctx, form) {
  let id = form.get('client_id');
  let secret = form.get('client_secret');
  const auth = ctx.get('authorization');
  if (/^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const unform = (s) => decodeURIComponent(s.replace(/\+/g, '%20'));
    try {
      [id, secret] = [unform(decoded.slice(0, i)), unform(decoded.slice(i + 1))];
    } catch {
      return undefined;
    }
  }
  const client = clients.get(id);
  if (!client) return undefined;
  if (client.public) return client;
  return secret && client.secret && safeEqual(secret, client.secret) ? client : undefined;
}

function safeEqual(a, b) {
  const h = (s) => crypto.createHash('sha256').update(String(s)).digest();
  return crypto.timingSafeEqual(h(a), h(b));
}

async function readForm(ctx) {
  if (ctx.state.form) return ctx.state.form;
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new errors.InvalidRequest('request entity too large');
    chunks.push(chunk);
  }
  ctx.state.form = ctx.is('application/x-www-form-urlencoded')
    ? new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
    : new URLSearchParams();
  return ctx.state.form;
}

// ---------------------------------------------------------------------------------------------
// The provider

let issuer = () => { throw new Error('not listening yet'); };

function buildProvider() {
  const provider = new Provider(issuer(), {
    adapter: MemoryAdapter,
    jwks: { keys: structuredClone(signingKeys) },
    clients: [...clients.values()].map((c) => ({
      client_id: c.client_id,
      ...(c.public ? { token_endpoint_auth_method: 'none' } : { client_secret: c.secret }),
      grant_types: c.grant_types ?? ['client_credentials', 'password', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    })),
    clockTolerance: 0,
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: knownScopes,
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
      sid: null,
      acr: null,
      auth_time: null,
      iss: null,
    },
    findAccount: (ctx, sub) => (realm.users.has(sub) ? accountFor(realm.users.get(sub)) : undefined),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource, client) => resourceServerInfo(client.clientId),
      },
    },
    formats: {
      customizers: {
        jwt: async (ctx, token, jwt) => {
          keycloakAccessClaims(token, jwt.payload);
          jwt.header = { typ: 'JWT' };
        },
      },
    },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: Boolean(config.revoke_refresh_token),
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? lifespans.access,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? lifespans.access,
      IdToken: lifespans.access,
      RefreshToken: lifespans.refresh,
      Grant: lifespans.session,
      Session: lifespans.session,
      Interaction: 3600,
      AuthorizationCode: 60,
    },
    routes: {
      authorization: `${OIDC}/auth`,
      token: `${OIDC}/token`,
      jwks: `${OIDC}/certs`,
      introspection: `${OIDC}/token/introspect`,
      userinfo: `${OIDC}/userinfo`,
      end_session: `${OIDC}/logout`,
      revocation: `${OIDC}/revoke`,
      pushed_authorization_request: `${OIDC}/ext/par/request`,
    },
  });

  provider.registerGrantType('password', passwordGrant, ['username', 'password', 'scope']);

  // Pre- and post-processing around oidc-provider's own routes (paths are relative to the realm).
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === `${OIDC}/logout`) return logout(ctx, provider);
    if (ctx.path === `${OIDC}/userinfo` && ['GET', 'POST'].includes(ctx.method)) return userinfo(ctx, provider);

    await next();

    const route = ctx.oidc?.route;
    if (ctx.body?.error === 'invalid_client') {
      ctx.body.error_description = 'Invalid client or Invalid client credentials'; // Keycloak's words
    }
    const structured = ctx.body?.error === 'unsupported_token_type' && ctx.oidc?.client;
    if (route === 'introspection' && structured) await introspectAccessToken(ctx, provider);
    if (route === 'revocation' && structured) await revokeAccessToken(ctx);
    if (route === 'token' && ctx.status === 200 && ctx.body?.access_token) {
      // Keycloak's token response fields.
      const claims = jose.decodeJwt(ctx.body.access_token);
      const rt = ctx.body.refresh_token ? ctx.oidc.entities.RefreshToken : undefined;
      Object.assign(ctx.body, {
        refresh_expires_in: rt ? rt.remainingTTL : 0,
        'not-before-policy': 0,
        session_state: claims.sid,
        scope: claims.scope,
      });
    }
  });

  provider.on('server_error', (ctx, err) => console.error('server_error', ctx.path, err));
  return provider;
}

// ---------------------------------------------------------------------------------------------
// HTTP: /realms/{realm}/... to the provider, /_harness/... test hooks (loopback only)

const prefix = `/realms/${encodeURIComponent(realmName)}`;
let provider; // the current provider (a key rotation builds a new one)
let handler; // its request handler

// The Admin REST API accepts an active Bearer access token of this realm.
const admin = createAdminApi({
  realm,
  authenticate: async (token) => {
    const payload = await verifyAccessToken(token);
    return (await isActive(provider, payload)) ? payload : undefined;
  },
});

function serveProvider() {
  provider = buildProvider();
  handler = provider.callback();
}

async function rotateKeys(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
  const key = await newSigningKey(body.signing_key);
  signingKeys = body.keep_previous === false ? [key] : [key, ...signingKeys];
  serveProvider();
  console.log(`rotated signing keys: ${signingKeys.map((k) => k.kid).join(', ')}`);
  sendJson(res, 200, { kid: key.kid, kids: signingKeys.map((k) => k.kid) });
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const loopback = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

const server = http.createServer((req, res) => {
  const [started, url] = [Date.now(), req.url];
  res.on('finish', () => console.log(`${req.method} ${url} ${res.statusCode} ${Date.now() - started}ms`));
  const { pathname } = new URL(req.url, 'http://localhost');
  if (pathname.startsWith('/_harness/')) {
    if (!loopback.has(req.socket.remoteAddress)) return sendJson(res, 403, { error: 'loopback only' });
    if (req.method === 'POST' && pathname === '/_harness/rotate-keys') {
      return rotateKeys(req, res).catch((err) => sendJson(res, 400, { error: String(err) }));
    }
    if (req.method === 'GET' && pathname === '/_harness/health') {
      return sendJson(res, 200, { realm: realmName, issuer: issuer(), kids: signingKeys.map((k) => k.kid) });
    }
    return sendJson(res, 404, { error: 'not found' });
  }
  if (pathname === '/admin/realms' || pathname.startsWith('/admin/realms/')) {
    return admin(req, res);
  }
  if (pathname.startsWith(`${prefix}/`)) {
    req.originalUrl = req.url; // how oidc-provider learns its mount path
    req.url = req.url.slice(prefix.length);
    return handler(req, res);
  }
  return sendJson(res, 404, { error: 'Realm does not exist' });
});

server.listen(config.port ?? 0, config.host ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  issuer = () => `http://${address}:${port}${prefix}`;
  serveProvider();
  console.log(`oidc server ready: issuer ${issuer()} kid ${signingKeys[0].kid}`);
  if (config.port_file) {
    fs.writeFileSync(`${config.port_file}.tmp`, String(port));
    fs.renameSync(`${config.port_file}.tmp`, config.port_file);
  }
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// Never outlive the process that started us (the harness stops us by PID; this covers SIGKILL).
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
