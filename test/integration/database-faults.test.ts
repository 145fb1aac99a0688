import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inject } from 'vitest';
import { tcpProxy } from '../support/tcp-proxy';

// Review M8: a connection that breaks is replaced, a read is retried once, a write answers 503
// with Retry-After (never a hang or a 500), and the next request is served normally.
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

  it('reports the database unavailable on /health when it cannot be reached (503)', async () => {
    const ok = await api.invoke('getHealth', null);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ status: 'ok', dependencies: { database: { status: 'ok', latencyMs: expect.any(Number) } } });

    process.env.DATABASE_URL = 'postgres://postgres@127.0.0.1:1/none';
    process.env.DB_CONNECT_TIMEOUT_MS = '500';
    vi.resetModules();
    const down = await import('../support/api');
    const response = await down.invoke('getHealth', null);
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.body.dependencies.database.status).toBe('unavailable');
  });
});
