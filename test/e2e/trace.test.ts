import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localIssuer } from '../../lib/local/issuer';

// Issue 14 §3 (review M2): `npm run trace -- <requestId>` against a running local runtime shows one real request's
// path through every function it reached — the API, the outbox, the queues, the workers and the outbound calls — in
// order, with timings. The runtime runs as `npm start` does (its own process, free ports, its own data directory).

const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');
let child: ChildProcess;
let output = '';
let dataDir: string;
let url: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-trace-'));
  const { DATABASE_URL: _, AWS_ENDPOINT_URL_DYNAMODB: __, IDEMPOTENCY_TABLE_NAME: ___, ...env } = process.env;
  child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
    cwd: root,
    // INFO: the level functions run at in AWS (span lines are INFO).
    env: { ...env, PORT: '0', SQS_PORT: '0', SANDBOX_PORT: '0', S3_PORT: '0', WS_PORT: '0', TASKFLOW_DATA_DIR: dataDir, POWERTOOLS_LOG_LEVEL: 'INFO' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Press Ctrl-C') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  url = /TaskFlow is running at (http:\/\/\S+)/.exec(output)?.[1] ?? '';
  if (!url) throw new Error('the local runtime did not start');
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((done) => child.once('close', done));
    child.kill('SIGINT');
    await exited;
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const trace = (requestId: string) => spawnSync(tsx, ['bin/trace.ts', requestId], { cwd: root, env: { ...process.env, TASKFLOW_DATA_DIR: dataDir }, encoding: 'utf8' });

/** The waterfall's rows: offset and duration in ms, function, kind and name. */
function rows(text: string) {
  return text
    .split('\n')
    .map((line) => /^\s*\+(\d+) ms\s+(\d+) ms \|.*\| (\S+)\s+(\w+)\s+(.*)$/u.exec(line))
    .filter((match) => match !== null)
    .map(([, offset, took, fn, kind, name]) => ({ offset: Number(offset), took: Number(took), fn: fn!, kind: kind!, name: name! }));
}

describe('npm run trace', () => {
  it('prints the waterfall of a task assignment: API, outbox, queues, workers and the Slack and SendGrid calls, in order, with timings', async () => {
    const issuer = await localIssuer(dataDir);
    const org = `org_${randomUUID().slice(0, 8)}`;
    const ann = await issuer.mint({ org, user: 'ann', role: 'admin', name: 'Ann Lee', email: 'ann@example.com' });
    const bob = await issuer.mint({ org, user: 'bob', role: 'member', name: 'Bob Stone', email: 'bob@example.com' });
    const call = (token: string, path: string, body?: object, headers: Record<string, string> = {}) =>
      fetch(`${url}${path}`, {
        method: body ? 'POST' : 'GET',
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    expect((await call(bob, '/projects')).status).toBe(200); // Bob is a member with an e-mail address
    const project = (await (await call(ann, '/projects', { name: 'Launch' })).json()) as { id: string };
    const requestId = `trace-${randomUUID()}`;
    const created = await call(ann, `/projects/${project.id}/tasks`, { title: 'Write the press release', assigneeId: 'bob' }, { 'X-Request-Id': requestId });
    expect(created.status).toBe(201);

    // The workers run on their own: wait until the waterfall reaches both outbound calls.
    let printed = '';
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      printed = trace(requestId).stdout;
      if (/chat\.postMessage/.test(printed) && /mail\/send/.test(printed)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const waterfall = rows(printed);
    const at = (predicate: (row: (typeof waterfall)[number]) => boolean, what: string) => {
      const index = waterfall.findIndex(predicate);
      expect(index, `${what} in\n${printed}`).toBeGreaterThanOrEqual(0);
      return index;
    };
    const api = at((row) => row.kind === 'invocation' && row.name.startsWith('POST /projects/{projectId}/tasks'), 'the API request');
    const statement = at((row) => row.kind === 'db' && /INSERT|WITH/.test(row.name), 'its database statement');
    const outbox = at((row) => row.kind === 'outbox' && row.name.includes('notifications'), 'the outbox publish');
    const queued = at((row) => row.kind === 'sqs' && /^waited in \S*notifications$/.test(row.name), 'the wait in the notifications queue');
    const worker = at((row) => row.kind === 'message' && /^\S*notifications message$/.test(row.name), 'the notifications worker');
    const slack = at((row) => row.kind === 'http' && row.name.includes('/slack/api/chat.postMessage'), 'the Slack call');
    const email = at((row) => row.kind === 'http' && row.name.includes('/sendgrid/v3/mail/send'), 'the SendGrid call');
    expect(api).toBe(0);
    expect(api).toBeLessThan(statement);
    expect(statement).toBeLessThan(outbox);
    expect(outbox).toBeLessThan(queued);
    expect(queued).toBeLessThan(worker);
    expect(worker).toBeLessThan(Math.min(slack, email));
    // Timings: offsets from the request's start never go back, and the outbound calls came after the request began.
    expect(waterfall[slack]!.offset).toBeGreaterThanOrEqual(waterfall[worker]!.offset);
    expect(waterfall[api]!.took).toBeGreaterThan(0);
    expect(waterfall.map((row) => row.offset)).toEqual([...waterfall.map((row) => row.offset)].sort((a, b) => a - b));
    // Every function it touched is named: the API's, the notifications worker's and the Slack and e-mail workers'.
    expect(new Set(waterfall.map((row) => row.fn)).size).toBeGreaterThanOrEqual(4);
    expect(printed).toMatch(new RegExp(`^Request ${requestId}: \\d+ ms across \\d+ functions`));
  }, 90_000);

  it('says so when a request left nothing in the logs', () => {
    const run = trace('no-such-request');
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('No spans of request no-such-request.');
  });
});
