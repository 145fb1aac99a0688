import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { syntheticProjectId } from '../../functions/domain/synthetic-transaction';
import type { CanaryOutcome } from '../../functions/workers/synthetic-canary';
import { taskflow } from '../../lib/app';
import { localHandler } from '../../lib/local/functions';
import { invokeRoute } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';

// The scheduled canary runs the synthetic transaction over the REST API of the local runtime, signed in at the local
// issuer as the probe's client (its own organization, `feed-probe` here): it passes and leaves nothing behind, and a
// route that answers 500 (behind a proxy on loopback) makes it report the failing step.

let runtime: LocalRuntime;
let dataDir: string;
let proxy: Server;
/** `METHOD path-prefix` the proxy answers 500 for, instead of the runtime. */
let broken: string | undefined;
let canary: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<CanaryOutcome>;
let faultyCanary: typeof canary;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-canary-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: inject('databaseUrl'), schedules: false });
  const api = new URL(runtime.services.api.url);
  proxy = createServer((req, res) => {
    if (broken && `${req.method} ${req.url}`.startsWith(broken)) {
      req.resume();
      res.writeHead(500, { 'Content-Type': 'application/problem+json' });
      return res.end(JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500 }));
    }
    const forwarded = httpRequest({ host: api.hostname, port: api.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(forwarded);
  });
  const proxyUrl = await new Promise<string>((done) => proxy.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`)));
  const declaration = taskflow.schedules.syntheticCanary.function;
  canary = localHandler('SyntheticCanary', declaration, runtime.services);
  faultyCanary = localHandler('SyntheticCanary', declaration, { ...runtime.services, api: { url: proxyUrl } });
});

afterAll(async () => {
  await new Promise((done) => proxy?.close(done));
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const run = (handler: typeof canary) => handler({}, lambdaContext('SyntheticCanary', 60_000));
const tasksLeft = async () => {
  const page = await invokeRoute(taskflow.routes.find((route) => route.operationId === 'listTasks')!, { orgId: 'feed-probe', userId: 'observer' }, { params: { projectId: syntheticProjectId('feed-probe') } });
  return page.status === 404 ? [] : (page.body.items as unknown[]);
};

describe('the scheduled synthetic canary', () => {
  it('passes against the running API, in the probe\'s organization, and removes what it made', async () => {
    const outcome = await run(canary);
    expect(outcome).toMatchObject({ ok: true });
    expect(await tasksLeft()).toEqual([]);
  }, 60_000);

  it('reports the step that failed when a route answers 500, and still cleans up', async () => {
    broken = 'POST /tasks/';
    try {
      const outcome = await run(faultyCanary);
      expect(outcome).toEqual({ ok: false, reason: expect.stringMatching(/^comment: POST \/tasks\/\{taskId\}\/comments answered 500/) });
    } finally {
      broken = undefined;
    }
    expect(await tasksLeft()).toEqual([]);
  }, 60_000);
});
