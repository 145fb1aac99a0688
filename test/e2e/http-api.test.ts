import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskflow } from '../../lib/app';
import { LOCAL_AUDIENCE, LOCAL_ISSUER } from '../../lib/local/issuer';
import { openApiDocument } from '../../lib/openapi';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';
import { ownDatabase } from '../support/own-database';

type SigningKey = Parameters<SignJWT['sign']>[0];

let runtime: LocalRuntime;
let database: Awaited<ReturnType<typeof ownDatabase>>;
let dataDir: string;
let token: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-e2e-'));
  // No schedules: nothing here waits on them.
  database = await ownDatabase('taskflow_e2e_http');
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: database.url, schedules: false });
  token = await runtime.issuer.mint({ org: `org_e2e_${Date.now()}`, user: 'alice' });
});

afterAll(async () => {
  await runtime.stop();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, options: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const bearer = options.token === undefined ? token : options.token;
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: {
      ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
      ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

describe('the API over HTTP on the local runtime', () => {
  it('runs a whole project/task/comment/search flow', async () => {
    const project = await call('POST', '/projects', { body: { name: 'Website' } });
    expect(project.status).toBe(201);
    const task = await call('POST', `/projects/${project.body.id}/tasks`, { body: { title: 'Fix the login page', priority: 'high' } });
    expect(task.status).toBe(201);
    expect(task.headers.get('etag')).toBe('"1"');

    const patched = await call('PATCH', `/tasks/${task.body.id}`, { headers: { 'If-Match': task.headers.get('etag')! }, body: { status: 'in_review' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ status: 'in_review', version: 2 });
    const stale = await call('PATCH', `/tasks/${task.body.id}`, { headers: { 'If-Match': '"1"' }, body: { status: 'done' } });
    expect(stale.status).toBe(409);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    expect(stale.body.current.status).toBe('in_review');

    expect((await call('POST', `/tasks/${task.body.id}/comments`, { body: { body: 'Reproduced on Safari' } })).status).toBe(201);
    expect((await call('GET', `/tasks/${task.body.id}/comments`)).body.items).toHaveLength(1);
    const found = await call('GET', `/search?q=${encodeURIComponent('safari')}`);
    expect(found.body.items).toEqual([expect.objectContaining({ type: 'comment' })]);
    const listed = await call('GET', `/projects/${project.body.id}/tasks?status=in_review&limit=10`);
    const { merged, ...patchedTask } = patched.body;
    expect(merged).toBe(false);
    expect(listed.body).toEqual({ items: [patchedTask], nextCursor: null });

    expect((await call('DELETE', `/tasks/${task.body.id}`)).status).toBe(204);
    expect((await call('GET', `/tasks/${task.body.id}`)).status).toBe(404);
  });

  it('replays a retried create with the same Idempotency-Key (the local runtime\'s own DynamoDB)', async () => {
    const headers = { 'Idempotency-Key': `e2e-${Date.now()}` };
    const first = await call('POST', '/projects', { body: { name: 'Retried' }, headers });
    const retry = await call('POST', '/projects', { body: { name: 'Retried' }, headers });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(first.body);
    const reused = await call('POST', '/projects', { body: { name: 'Other' }, headers });
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('echoes X-Request-Id, or generates one, on every response including gateway errors', async () => {
    const echoed = await call('GET', '/projects', { headers: { 'X-Request-Id': 'e2e-trace-1' } });
    expect(echoed.headers.get('x-request-id')).toBe('e2e-trace-1');
    const refused = await call('GET', '/projects', { token: null, headers: { 'X-Request-Id': 'e2e-trace-2' } });
    expect(refused.headers.get('x-request-id')).toBe('e2e-trace-2');
    expect(refused.body.requestId).toBe('e2e-trace-2');
    for (const response of [await call('GET', '/health'), await call('GET', '/nowhere')]) {
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('replaces an X-Request-Id that is not a sane token in the gateway\'s own answers too (401, 404), as the handlers do', async () => {
    for (const sent of ['x'.repeat(10_000), 'has spaces', '<script>alert(1)</script>']) {
      for (const response of [await call('GET', '/projects', { token: null, headers: { 'X-Request-Id': sent } }), await call('GET', '/nowhere', { headers: { 'X-Request-Id': sent } })]) {
        expect([401, 404]).toContain(response.status);
        expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
        expect(response.body.requestId).toBe(response.headers.get('x-request-id'));
      }
      const handled = await call('GET', '/projects', { headers: { 'X-Request-Id': sent } });
      expect(handled.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('serves health without a token, the OpenAPI document, and CORS preflights', async () => {
    const health = await call('GET', '/health', { token: null });
    expect(health.status).toBe(200);
    expect(health.body.dependencies.database.status).toBe('ok');
    const openapi = await call('GET', '/openapi.json', { token: null });
    expect(openapi.status).toBe(200);
    expect(openapi.body).toEqual(JSON.parse(JSON.stringify(openApiDocument(taskflow))));
    const preflight = await fetch(`${runtime.url}/tasks/x`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('If-Match');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, PATCH, DELETE');
  });

  it('lets a page on another origin in: trace context headers, the OpenAPI document, and a readable 404 for an unknown path', async () => {
    const origin = { Origin: 'https://app.example' };
    // What a browser running OpenTelemetry for the web asks before a call.
    const traced = await fetch(`${runtime.url}/projects`, {
      method: 'OPTIONS',
      headers: { ...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,traceparent,tracestate' },
    });
    expect(traced.status).toBe(204);
    const allowed = traced.headers.get('access-control-allow-headers')!.toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'traceparent', 'tracestate']));

    const document = await fetch(`${runtime.url}/openapi.json`, { headers: origin });
    expect(document.status).toBe(200);
    expect(document.headers.get('access-control-allow-origin')).toBe('*');

    // An unknown path: the preflight passes (any status but 2xx is a network error to the page), then the request
    // answers its 404 problem, which the page may read.
    const preflight = await fetch(`${runtime.url}/nowhere/at/all`, {
      method: 'OPTIONS',
      headers: { ...origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
    const missing = await fetch(`${runtime.url}/nowhere/at/all`, { headers: { ...origin, Authorization: `Bearer ${token}` } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
    expect(((await missing.json()) as { code: string }).code).toBe('NOT_FOUND');
  });

  it('answers unknown routes and methods with problem+json', async () => {
    const missing = await call('GET', '/nowhere');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('NOT_FOUND');
    const method = await call('PUT', '/projects'); // as API Gateway answers it
    expect(method.status).toBe(404);
    expect(method.body.code).toBe('NOT_FOUND');
  });

  it('treats the edges of HTTP as API Gateway does', async () => {
    expect((await call('GET', '/tasks/%E0%A4%A')).status).toBe(404); // not valid UTF-8: no such task
    const repeated = await call('GET', '/projects?limit=1&limit=abc'); // the last value counts
    expect(repeated.status).toBe(400);
    expect(repeated.body.errors[0].path).toBe('query.limit');
    const huge = await call('POST', '/projects', { body: 'x'.repeat(10 * 1024 * 1024 + 1) });
    expect(huge.status).toBe(413);
    expect(huge.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await call('GET', '/projects')).status).toBe(200); // the client carries on
  });

  it('refuses bad input over HTTP with 400 problems', async () => {
    expect((await call('POST', '/projects', { body: '{"name":' })).body.code).toBe('MALFORMED_JSON');
    const oversize = await call('POST', '/projects', { body: { name: 'x', description: 'y'.repeat(100_000) } });
    expect(oversize.status).toBe(400);
    expect(oversize.body.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('authentication', () => {
  const claims = { org_id: 'org_auth' };
  const sign = async (key: SigningKey, options: { issuer?: string; audience?: string; expires?: string | number; payload?: object; kid?: string } = {}) =>
    new SignJWT({ ...claims, ...options.payload })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? (runtime.issuer.jwks.keys[0]!.kid as string) })
      .setIssuer(options.issuer ?? LOCAL_ISSUER)
      .setAudience(options.audience ?? LOCAL_AUDIENCE)
      .setSubject('mallory')
      .setIssuedAt()
      .setExpirationTime(options.expires ?? '1h')
      .sign(key);
  const unsigned = () => {
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, sub: 'mallory', iss: LOCAL_ISSUER, aud: LOCAL_AUDIENCE, exp: now + 3600 })}.`;
  };

  it.each<[string, () => Promise<string | null>]>([
    ['no token', async () => null],
    ['a malformed token', async () => 'not-a-jwt'],
    ['an expired token', async () => runtime.issuer.mint({ org: 'org_auth', user: 'u', expiresIn: Math.floor(Date.now() / 1000) - 60 })],
    ['a token for another audience', async () => sign((await generateKeyPair('RS256')).privateKey, { audience: 'someone-else' })],
    ['a token signed by an unknown key', async () => sign((await generateKeyPair('RS256')).privateKey)],
    ['a token signed by an unknown key id', async () => sign((await generateKeyPair('RS256')).privateKey, { kid: 'other' })],
    ['an alg:none token', async () => unsigned()],
  ])('refuses %s with 401', async (_, make) => {
    const bearer = await make();
    const response = await call('GET', '/projects', { token: bearer });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
  });

  it('refuses a token signed by the right key but for another issuer, or without org_id', async () => {
    const privateJwk = JSON.parse(await readFile(join(dataDir, 'issuer-key.json'), 'utf8'));
    const key = await importJWK(privateJwk, 'RS256');
    expect((await call('GET', '/projects', { token: await sign(key) })).status).toBe(200); // the control
    expect((await call('GET', '/projects', { token: await sign(key, { issuer: 'https://evil.example/' }) })).status).toBe(401);
    expect((await call('GET', '/projects', { token: await sign(key, { payload: { org_id: undefined } }) })).status).toBe(401);
    expect((await call('GET', '/projects', { token: await runtime.issuer.mint({ org: '', user: 'u' }) })).status).toBe(401);
  });

  it('provisions a new organization and user on their first request', async () => {
    const fresh = await runtime.issuer.mint({ org: `org_new_${Date.now()}`, user: 'newcomer' });
    const response = await call('POST', '/projects', { token: fresh, body: { name: 'First' } });
    expect(response.status).toBe(201);
    expect(response.body.createdBy).toBe('newcomer');
  });
});
