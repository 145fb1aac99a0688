import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';
import type { SloStatus } from '../../lib/slo/report';
import { ownDatabase } from '../support/own-database';
import { tcpProxy } from '../support/tcp-proxy';

// `npm run slo` against the local runtime (review M1): real requests, a notification and a feed frame, a mutation
// answered 503 (a database answer lost), and the figures the report prints are those of what was served.

const root = resolve(import.meta.dirname, '../..');
let runtime: LocalRuntime;
let proxy: Awaited<ReturnType<typeof tcpProxy>>;
let dataDir: string;
let database: Awaited<ReturnType<typeof ownDatabase>>;

beforeAll(async () => {
  // A database of its own: the relay runs on its timer and must not publish other files' outbox entries.
  database = await ownDatabase('taskflow_e2e_slo');
  const url = new URL(database.url);
  proxy = await tcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(proxy.port);
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-slo-'));
  // The relay on its timer: it reports the outbox's age every 10 s (the outbox-lag SLI).
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: url.href, schedules: ['outboxRelay'] });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
  await proxy?.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** `npm run slo -- …` as an operator runs it: a child process (async: the runtime it reads runs in this one). */
function slo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(join(root, 'node_modules/.bin/tsx'), ['bin/slo.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { code: null as number | null, stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (run.stdout += chunk));
  child.stderr.on('data', (chunk) => (run.stderr += chunk));
  return new Promise((done) => child.on('close', (code) => done({ ...run, code })));
}

async function eventually(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 40_000): Promise<void> {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

describe('npm run slo against the local runtime', () => {
  it('prints each SLO\'s compliance and budget left from the requests, feed frames and notifications the runtime served', async () => {
    const org = `org_slo_${randomUUID()}`;
    const person = async (user: string) => {
      const email = `${user}.${randomUUID().slice(0, 8)}@example.com`;
      return { user, email, token: await runtime.issuer.mint({ org, user, email, name: user }) };
    };
    const [ann, bob] = [await person('ann'), await person('bob')];
    const statuses: Record<'reads' | 'mutations', number[]> = { reads: [], mutations: [] };
    const call = async (who: { token: string }, method: string, path: string, body?: unknown) => {
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${who.token}`, 'Content-Type': 'application/json', ...(method === 'GET' ? {} : { 'Idempotency-Key': randomUUID() }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      statuses[method === 'GET' ? 'reads' : 'mutations'].push(response.status);
      return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
    };

    for (const who of [ann, bob]) expect((await call(who, 'GET', '/projects')).status).toBe(200); // members, with their e-mail
    const project = (await call(ann, 'POST', '/projects', { name: 'SLO' })).body;
    expect((await call(ann, 'GET', `/projects/${project.id}`)).status).toBe(200);

    // A feed connection subscribed to the organization: its handshake and messages are the feed's SLI, the frame it gets
    // the feed-delivery one.
    const socket = new WebSocket(`${runtime.websocketUrl}/?token=${ann.token}&clientId=slo`);
    const frames: any[] = [];
    socket.on('message', (data) => frames.push(JSON.parse(String(data))));
    await new Promise((done, fail) => socket.once('open', done).once('error', fail));
    socket.send(JSON.stringify({ action: 'subscribe' }));
    await eventually('subscribed', () => frames.some((frame) => frame.type === 'subscribed'));

    // Bob is assigned a task: a Slack message and an e-mail (the notification-delivery SLI), and a frame on the feed.
    const task = (await call(ann, 'POST', `/projects/${project.id}/tasks`, { title: 'Measured', assigneeId: bob.user })).body;
    await eventually('the task on the feed', () => frames.some((frame) => frame.type === 'events' && frame.events.some((e: any) => e.subjectId === task.id)));
    await eventually('the notification sent by Slack and by e-mail', () =>
      runtime.sandboxes.calls('slack').some((c) => c.path === '/chat.postMessage' && c.status === 200) && runtime.sandboxes.calls('sendgrid').some((c) => c.status === 202),
    );
    socket.close();

    // A mutation whose database answer is lost answers 503 (it is not retried: the client retries with its key): a
    // server error of the mutations. The relay may take the lost answer instead; what our calls answered is what counts.
    for (let attempt = 0; attempt < 10 && !statuses.mutations.includes(503); attempt += 1) {
      proxy.dropNextAnswer();
      await call(ann, 'POST', '/projects', { name: `Lost ${attempt}` });
    }
    expect(statuses.mutations).toContain(503);
    await eventually('the relay\'s outbox age and both deliveries counted', () => {
      const counted = Object.fromEntries(runtime.slos().map((s) => [s.name, s]));
      return counted.outboxLag!.total > 0 && counted.notificationDelivery!.total === 2;
    });

    const run = await slo(['--url', runtime.url, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { source: string; slos: SloStatus[] };
    const of = (name: string) => report.slos.find((s) => s.name === name)!;
    const count = (list: number[]) => ({ good: list.filter((status) => status < 500).length, total: list.length });

    expect(of('readErrors')).toMatchObject({ good: statuses.reads.length, total: statuses.reads.length, errorBudgetRemaining: 1 });
    expect(of('mutationErrors')).toMatchObject(count(statuses.mutations));
    const bad = statuses.mutations.filter((status) => status >= 500).length;
    expect(of('mutationErrors').compliance).toBeCloseTo(1 - bad / statuses.mutations.length, 6);
    // 99.9 %: one error in a handful of mutations is far more than the budget.
    expect(of('mutationErrors').errorBudgetRemaining).toBeLessThan(0);
    // $connect, subscribe (and $disconnect, once the close is handled) are the feed's.
    expect(of('feedErrors').total).toBeGreaterThanOrEqual(2);
    expect(of('feedErrors').good).toBe(of('feedErrors').total);
    expect(of('availability').total).toBe(statuses.reads.length + statuses.mutations.length + of('feedErrors').total);
    expect(of('availability').good).toBe(of('availability').total - bad);
    expect(of('readLatency').total).toBe(statuses.reads.length);
    expect(of('feedDelivery').total).toBeGreaterThanOrEqual(1);
    expect(of('feedDelivery').good).toBe(of('feedDelivery').total);
    expect(of('notificationDelivery')).toMatchObject({ good: 2, total: 2, compliance: 1, errorBudgetRemaining: 1 });
    expect(of('outboxLag').total).toBeGreaterThanOrEqual(1);

    // The table an operator reads.
    const table = await slo(['--url', runtime.url]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`SLOs from the local runtime at ${runtime.url}`);
    expect(table.stdout).toMatch(/mutationErrors\s+99\.9 %\s+\d+\.\d{3} %\s+-\d+\.\d %\s+\d+\/\d+\s+over budget: docs\/runbooks\/api-errors\.md/);
    expect(table.stdout).toMatch(/notificationDelivery\s+99\.0 %\s+100\.000 %\s+100\.0 %\s+2\/2/);
  }, 120_000);

  it('says so, exit 1, when no local runtime answers', async () => {
    const run = await slo(['--url', 'http://127.0.0.1:9']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Could not read the SLOs');
  }, 30_000);
});
