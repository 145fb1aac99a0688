import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inject } from 'vitest';
import { tcpProxy } from '../support/tcp-proxy';

// Review M8: a connection that breaks is replaced, a read is retried once, a write answers 503
// with Retry-After, a database that stops answering gets a 503 before the function's deadline —
// never a hang or a 500 — and the next request is served normally.
let proxy: Awaited<ReturnType<typeof tcpProxy>>;
let api: typeof import('../support/api');
let db: typeof import('../../functions/shared/db');

beforeAll(async () => {
  const url = new URL(inject('databaseUrl'));
  proxy = await tcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(proxy.port);
  process.env.DATABASE_URL = url.href;
  vi.resetModules(); // fresh handler modules, whose pool goes through the proxy
  api = await import('../support/api');
  db = await import('../../functions/shared/db');
});

afterAll(async () => {
  await db.closeDatabase();
  await proxy.close();
});

describe('database connection faults', () => {
  it('retries a read whose connection dropped mid-request', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    proxy.dropNextStatement();
    const before = db.roundTrips.count;
    const response = await api.invoke('getProject', alice, { params: { projectId: project.id } });
    expect(response.status).toBe(200);
    expect(response.body.id).toBe(project.id);
    expect(db.roundTrips.count - before).toBe(2); // the dropped attempt and its retry
  });

  it('answers a write whose connection dropped with 503 and Retry-After, then recovers', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    proxy.dropNextStatement();
    const failed = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'lost?' } });
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toBe('1');
    expect(failed.body.code).toBe('DATABASE_UNAVAILABLE');
    // The statement never reached the server, so nothing was written; the next request works.
    const list = await api.invoke('listTasks', alice, { params: { projectId: project.id } });
    expect(list.body.items).toEqual([]);
    expect((await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'ok' } })).status).toBe(201);
  });

  it('runs a retry with the same Idempotency-Key again after a 5xx: errors are not stored', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    const headers = { 'Idempotency-Key': `retry-after-5xx-${project.id}` };
    proxy.dropNextStatement();
    const failed = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'eventually' }, headers });
    expect(failed.status).toBe(503);
    const retried = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'eventually' }, headers });
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    const replayed = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'eventually' }, headers });
    expect(replayed).toMatchObject({ status: 201, body: retried.body });
    expect(replayed.headers['idempotent-replayed']).toBe('true');
  });

  it('finds, not repeats, a keyed create whose answer was lost after it committed', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    const headers = { 'Idempotency-Key': `lost-answer-${project.id}` };
    proxy.dropNextAnswer();
    const lost = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'committed' }, headers });
    expect(lost.status).toBe(503); // the client cannot know the task was made
    const retried = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'committed' }, headers });
    expect(retried.status).toBe(201);
    const list = await api.invoke('listTasks', alice, { params: { projectId: project.id } });
    expect(list.body.items).toEqual([expect.objectContaining({ id: retried.body.id, title: 'committed' })]);
  });

  it('gives a key reused for a different request, after an ambiguous failure, its own resource', async () => {
    const alice = api.newCaller();
    const [p1, p2] = [await api.createProject(alice, 'P1'), await api.createProject(alice, 'P2')];
    const headers = { 'Idempotency-Key': `reused-${p1.id}` };
    proxy.dropNextAnswer(); // "First" is committed, the answer lost, the key released
    expect((await api.invoke('createTask', alice, { params: { projectId: p1.id }, body: { title: 'First' }, headers })).status).toBe(503);
    const second = await api.invoke('createTask', alice, { params: { projectId: p2.id }, body: { title: 'Second' }, headers });
    expect(second).toMatchObject({ status: 201, body: { projectId: p2.id, title: 'Second' } });
  });

  it('answers before the function deadline when the database stops answering', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    proxy.stall(true);
    try {
      const started = Date.now();
      const response = await api.invoke('getProject', alice, { params: { projectId: project.id }, headers: { 'x-request-id': 'stalled-1' }, timeoutMs: 2_000 });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(response.status).toBe(503);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.headers['x-request-id']).toBe('stalled-1');
      expect(response.headers['retry-after']).toBe('1');
      expect(response.body.code).toBe('TIMEOUT');

      const health = await api.invoke('getHealth', null);
      expect(health.status).toBe(503);
      expect(health.body.dependencies.database.status).toBe('unavailable');
      expect(health.body.dependencies.database.latencyMs).toBeLessThan(3_000);
    } finally {
      proxy.stall(false);
    }
  });

  it('reports the database unavailable on /health when it cannot be reached (503)', async () => {
    const ok = await api.invoke('getHealth', null);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      status: 'ok',
      dependencies: {
        database: { status: 'ok', latencyMs: expect.any(Number) },
        // No probe has run against this suite's registry: nothing says the feed is failing.
        websocket: { status: 'ok', latencyMs: expect.any(Number), lastProbe: null },
      },
    });

    const url = process.env.DATABASE_URL;
    process.env.DATABASE_URL = 'postgres://postgres@127.0.0.1:1/none';
    vi.resetModules();
    const down = await import('../support/api');
    try {
      const response = await down.invoke('getHealth', null);
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.body.dependencies.database.status).toBe('unavailable');
    } finally {
      await (await import('../../functions/shared/db')).closeDatabase();
      process.env.DATABASE_URL = url;
    }
  });
});
