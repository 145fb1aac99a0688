import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';

// Review C4, end to end on the local runtime: Slack goes down. Tasks keep being made as fast as before,
// Slack's circuit breaker opens (≥ 50 % failures over ≥ 10 calls) and stops the calls, GET
// /health/integrations and the X-Degraded-Integrations header say so, e-mail (another bulkhead) goes on;
// when Slack is back, the breaker half-opens after 30 s, closes, and every waiting Slack message is sent
// exactly once.
let runtime: LocalRuntime;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-outage-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: inject('databaseUrl'), schedules: false, visibilityTimeoutSeconds: 5 });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

interface Person { user: string; email: string; token: string }

async function person(org: string, first: string): Promise<Person> {
  const user = `user_${first}_${randomUUID().slice(0, 8)}`;
  const email = `${first}.${randomUUID().slice(0, 8)}@example.com`;
  return { user, email, token: await runtime.issuer.mint({ org, user, email, name: first }) };
}

async function call(who: Person, method: string, path: string, body?: unknown) {
  const started = performance.now();
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${who.token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await response.json().catch(() => undefined)) as any;
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return { answer, headers: response.headers, ms: performance.now() - started };
}

async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const slackOf = async (who: Person) => (await call(who, 'GET', '/health/integrations')).answer.integrations.find((i: any) => i.integration === 'slack');
const sentToSlack = () => runtime.sandboxes.calls('slack').filter((c) => c.path === '/chat.postMessage' && c.status === 200).map((c) => (c.body as { text: string }).text);
const sentByMail = () => runtime.sandboxes.calls('sendgrid').filter((c) => c.status === 202);

describe('an integration outage', () => {
  it('opens the breaker, says so, keeps the core and the other integrations going, and delivers everything once after', async () => {
    const org = `org_${randomUUID()}`;
    const [ann, bob] = [await person(org, 'ann'), await person(org, 'bob')];
    await call(bob, 'GET', '/projects'); // Bob's first request makes him a member
    const project = (await call(ann, 'POST', '/projects', { name: 'Outage' })).answer;
    expect(await slackOf(ann)).toMatchObject({ breaker: 'closed' });

    runtime.sandboxes.setFault('slack', { mode: 'down' });
    // Twelve assignments: twelve Slack messages to send, each failing.
    const during: number[] = [];
    for (let i = 0; i < 12; i += 1) during.push((await call(ann, 'POST', `/projects/${project.id}/tasks`, { title: `outage-${i}`, assigneeId: bob.user })).ms);
    await eventually('the Slack breaker to open', async () => (await slackOf(ann)).breaker === 'open');
    const callsAtOpen = runtime.sandboxes.calls('slack').length;
    const health = await slackOf(ann);
    expect(health).toMatchObject({ lastFailureAt: expect.any(String), lastFailureReason: expect.any(String) });
    expect(health.backlog).toBeGreaterThan(0);
    await eventually('the degraded header', async () => (await call(ann, 'GET', '/projects')).headers.get('x-degraded-integrations') === 'slack');

    // The core is not held up by Slack: creates answer as they did, while Slack is down and its breaker open.
    for (let i = 12; i < 15; i += 1) {
      const created = await call(ann, 'POST', `/projects/${project.id}/tasks`, { title: `outage-${i}`, assigneeId: bob.user });
      during.push(created.ms);
      // Mutations say it too.
      expect(created.headers.get('x-degraded-integrations')).toBe('slack');
    }
    expect(Math.max(...during)).toBeLessThan(2_000);
    // E-mail is another bulkhead: every assignment's e-mail went out meanwhile.
    await eventually('the e-mails', () => sentByMail().length === 15);
    // Open: Slack is not called any more (a retry already under way may still land).
    expect(runtime.sandboxes.calls('slack').length).toBeLessThanOrEqual(callsAtOpen + 2);

    runtime.sandboxes.setFault('slack', { mode: 'ok' });
    await eventually('every Slack message', () => sentToSlack().length >= 15, 120_000);
    // Exactly once each.
    const texts = sentToSlack().map((text) => /outage-\d+/.exec(text)![0]).sort();
    expect(texts).toEqual(Array.from({ length: 15 }, (_, i) => `outage-${i}`).sort());
    await eventually('the Slack breaker to close', async () => (await slackOf(ann)).breaker === 'closed');
    await eventually('the degraded header to go', async () => (await call(ann, 'GET', '/projects')).headers.get('x-degraded-integrations') === null, 20_000);
    expect((await slackOf(ann)).lastSuccessAt).toEqual(expect.any(String));
  }, 240_000);
});
