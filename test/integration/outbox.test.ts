import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { taskflow } from '../../lib/app';
import { startSqs, type LocalSqs } from '../../lib/local/sqs';
import { bodyOf, drain } from '../support/queues';
import { sql } from '../support/sql';
import { tcpProxy } from '../support/tcp-proxy';

// Review C1: a change and its messages commit together or not at all; what the fast path cannot
// publish, the relay does, within 5 s; relays running at once never publish an entry twice.
let sqs: LocalSqs;
let proxy: Awaited<ReturnType<typeof tcpProxy>>;
let api: typeof import('../support/api');
let relay: typeof import('../../functions/domain/outbox-relay');
let db: typeof import('../../functions/shared/db');

beforeAll(async () => {
  sqs = await startSqs(taskflow, { visibilityTimeoutSeconds: 2 });
  Object.assign(process.env, sqs.environment);
  const url = new URL(inject('databaseUrl'));
  proxy = await tcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(proxy.port);
  process.env.DATABASE_URL = url.href;
  vi.resetModules();
  api = await import('../support/api');
  relay = await import('../../functions/domain/outbox-relay');
  db = await import('../../functions/shared/db');
});

afterAll(async () => {
  await db.closeDatabase();
  await proxy.close();
  await sqs.stop();
});

// The notifications queue's entries (every event also has one for the feed's broadcast queue).
const unpublished = (eventIds: string[]) =>
  sql<{ n: number }>(
    "SELECT count(*)::int AS n FROM outbox WHERE event_id = ANY($1::uuid[]) AND destination = 'notifications' AND published_at IS NULL",
    [eventIds],
  ).then((r) => r[0]!.n);
const eventIdsOf = (subjectId: string) =>
  sql<{ id: string }>('SELECT id FROM event_log WHERE subject_id = $1 ORDER BY seq', [subjectId]).then((rows) => rows.map((r) => r.id));

/** Creates `count` tasks while SQS refuses every send: their events wait in the outbox. */
async function eventsLeftToTheRelay(count: number): Promise<string[]> {
  const alice = api.newCaller();
  const project = await api.createProject(alice);
  await drain(sqs, 'notifications');
  sqs.faults.failSends = true;
  // Made by several members: one user may make 100 requests a minute (rate limits, review S1).
  const members = Array.from({ length: Math.ceil(count / 50) }, () => api.memberOf(alice));
  const tasks = await Promise.all(Array.from({ length: count }, (_, i) => api.createTask(members[i % members.length]!, project.id, { title: `t${i}` })));
  // One query, not one connection per task: the suite shares the server with other files.
  const eventIds = (await sql<{ id: string }>('SELECT id FROM event_log WHERE subject_id = ANY($1::uuid[])', [tasks.map((task) => task.id)])).map((r) => r.id);
  expect(await unpublished(eventIds)).toBe(count);
  return eventIds;
}

/** Runs the relay until `done` holds (at most `ms`), as the scheduled function would. */
async function relayUntil(done: () => Promise<boolean>, ms = 8_000) {
  const started = Date.now();
  let finished = false;
  const running = relay.runRelay({ remainingMs: () => (finished ? 0 : ms - (Date.now() - started) + 5_000), idleMs: 100 });
  while (!(await done()) && Date.now() - started < ms) await new Promise((resolve) => setTimeout(resolve, 50));
  finished = true;
  await running;
}

describe('transactional outbox', () => {
  it('publishes a mutation\'s event at once after commit, with the request id and the trace it continues', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await api.invoke('createTask', alice, {
      params: { projectId: project.id },
      body: { title: 'Ship it' },
      headers: { 'X-Request-Id': 'req-outbox-1', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(response.status).toBe(201);
    const [eventId] = await eventIdsOf(response.body.id);
    expect(await unpublished([eventId!])).toBe(0);
    const messages = (await drain(sqs, 'notifications')).filter((m) => bodyOf(m).eventId === eventId);
    expect(messages).toHaveLength(1);
    expect(bodyOf(messages[0]!)).toMatchObject({ type: 'task.created', subjectId: response.body.id, organizationId: alice.orgId, payload: { title: 'Ship it' } });
    expect(messages[0]!.MessageAttributes!.requestId!.StringValue).toBe('req-outbox-1');
    expect(messages[0]!.MessageAttributes!.traceparent!.StringValue).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it('writes no message for a change that did not happen', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    const before = await sql('SELECT count(*)::int AS n FROM outbox');
    const missing = await api.invoke('updateTask', alice, { params: { taskId: crypto.randomUUID() }, body: { version: 1, title: 'x' } });
    expect(missing.status).toBe(404);
    const invalid = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: '' } });
    expect(invalid.status).toBe(400);
    expect(await sql('SELECT count(*)::int AS n FROM outbox')).toEqual(before);
  });

  it('still answers 201 when SQS refuses, and the relay publishes the event within 5 s of commit', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    await drain(sqs, 'notifications');
    sqs.faults.failSends = true;
    const created = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'SQS is down' } });
    expect(created.status).toBe(201);
    const eventIds = await eventIdsOf(created.body.id);
    expect(await unpublished(eventIds)).toBe(1);
    sqs.faults.failSends = false;
    await relayUntil(async () => (await unpublished(eventIds)) === 0);
    const [row] = await sql<{ lag: number }>(
      'SELECT extract(epoch FROM published_at - created_at)::float8 AS lag FROM outbox WHERE event_id = $1',
      [eventIds[0]],
    );
    expect(row!.lag).toBeLessThan(5);
    expect((await drain(sqs, 'notifications')).filter((m) => bodyOf(m).eventId === eventIds[0])).toHaveLength(1);
  });

  it('publishes the event of a write whose answer was lost with the connection', async () => {
    const alice = api.newCaller();
    const project = await api.createProject(alice);
    await drain(sqs, 'notifications');
    proxy.dropNextAnswer();
    const lost = await api.invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'committed, unanswered' } });
    expect(lost.status).toBe(503);
    const [task] = await sql<{ id: string }>('SELECT id FROM tasks WHERE project_id = $1', [project.id]);
    const eventIds = await eventIdsOf(task!.id);
    expect(await unpublished(eventIds)).toBe(1);
    await relayUntil(async () => (await unpublished(eventIds)) === 0);
    expect((await drain(sqs, 'notifications')).filter((m) => bodyOf(m).eventId === eventIds[0])).toHaveLength(1);
  });

  it('publishes each entry once with three relays running at once, retrying failed sends with backoff', async () => {
    const eventIds = await eventsLeftToTheRelay(60);
    // The relays start while SQS still refuses: their failed sends back off and are retried.
    const relays = [0, 1, 2].map(() => relayUntil(async () => (await unpublished(eventIds)) === 0, 20_000));
    const retried = async () =>
      ((await sql('SELECT min(attempts)::int AS attempts FROM outbox WHERE event_id = ANY($1::uuid[])', [eventIds])) as [{ attempts: number }])[0].attempts > 1;
    const since = Date.now();
    while (!(await retried()) && Date.now() - since < 10_000) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await retried()).toBe(true);
    sqs.faults.failSends = false;
    await Promise.all(relays);
    expect(await unpublished(eventIds)).toBe(0);
    const received = (await drain(sqs, 'notifications')).map((m) => bodyOf(m).eventId).filter((id) => eventIds.includes(id));
    expect(received.sort()).toEqual([...eventIds].sort());
  });

  it('publishes each entry once with two relays at once when SQS is slow: a round ends well inside its lease', async () => {
    const eventIds = await eventsLeftToTheRelay(150);
    sqs.faults.failSends = false;
    // Each send takes 1.5 s: 100 entries sent one batch after another would outlast the 10 s lease.
    sqs.faults.sendLatencyMs = 1_500;
    try {
      await Promise.all([0, 1].map(() => relayUntil(async () => (await unpublished(eventIds)) === 0, 30_000)));
    } finally {
      sqs.faults.sendLatencyMs = 0;
    }
    const received = (await drain(sqs, 'notifications')).map((m) => bodyOf(m).eventId).filter((id) => eventIds.includes(id));
    expect(received.sort()).toEqual([...eventIds].sort());
  }, 60_000);
});
