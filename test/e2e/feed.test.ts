import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { subscribedConnections } from '../../functions/domain/feed-registry';
import { createActivityFeed, type ActivityFeed, type FeedEvent, type FeedRefusal, type WebSocketConstructor } from '../../lib/client/activity-feed';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';
import { ownDatabase } from '../support/own-database';
import { printSloReport } from '../support/slo-report';
import { sqlAt } from '../support/sql';

// Issue 5's guarantee, end to end on the local runtime (the same WebSocket routes, broadcast queue and
// worker, and @connections API as in AWS), with the client module a frontend imports: 50 clients subscribed
// while 2,000 events are produced over REST, with connections dropped at random (mid-replay too), all end
// with the same gap-free sequence; a client away past the replay window converges through GET /activity;
// a connection that is gone leaves the registry on the first 410.
const CLIENTS = 50;
const EVENTS = 2_000;
// Small, so the test can go past it; the replay window in AWS is 10,000 events.
const REPLAY_WINDOW = 300;

let runtime: LocalRuntime;
let database: Awaited<ReturnType<typeof ownDatabase>>;
let dataDir: string;
const sql: ReturnType<typeof sqlAt> = (text, params) => sqlAt(database.url)(text, params);
const windowBefore = process.env.FEED_REPLAY_WINDOW;

beforeAll(async () => {
  process.env.FEED_REPLAY_WINDOW = String(REPLAY_WINDOW);
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-feed-'));
  // A load test: a few users make 2,000 requests within a minute, more than one user may (review S1).
  database = await ownDatabase('taskflow_e2e_feed');
  runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: database.url, schedules: false, rateLimitScale: 10 });
}, 120_000);

afterAll(async () => {
  printSloReport(runtime, 'dropped WebSocket connections and gone connections');
  await runtime?.stop();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
  if (windowBefore === undefined) delete process.env.FEED_REPLAY_WINDOW;
  else process.env.FEED_REPLAY_WINDOW = windowBefore;
});

interface Person { org: string; token: string }

async function organization(): Promise<Person[]> {
  const org = `org_${randomUUID()}`;
  const people = await Promise.all(['ann', 'bob', 'cy', 'di'].map(async (name) => ({ org, token: await runtime.issuer.mint({ org, user: `${name}_${randomUUID().slice(0, 8)}` }) })));
  // Its first request makes the organization; 2,000 changes an hour are an enterprise plan's (review M4).
  await call(people[0]!, 'GET', '/projects');
  await sql("UPDATE organizations SET plan = 'enterprise' WHERE id = $1", [org]);
  return people;
}

/**
 * One call as the API asks a client to make it: a mutation with an Idempotency-Key, and a 503 ("retry shortly": on a
 * loaded machine a request can pass its deadline) or a 409 REQUEST_IN_PROGRESS (that first try still running) tried
 * again after its Retry-After with the same key, a few times, so a change is made once whatever the first try did.
 */
async function call(who: Person, method: string, path: string, body?: unknown): Promise<any> {
  const idempotencyKey = method === 'GET' ? undefined : randomUUID();
  for (let attempt = 1; ; attempt += 1) {
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${who.token}`,
        'Content-Type': 'application/json',
        'If-Match': '*',
        ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer = (await response.json().catch(() => undefined)) as any;
    const retryLater = response.status === 503 || (response.status === 409 && answer?.code === 'REQUEST_IN_PROGRESS');
    if (retryLater && attempt < 10) {
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get('retry-after') ?? 1)));
      continue;
    }
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
    return answer;
  }
}

/** A client of the feed as a browser tab would run it, recording what it delivers. */
function feedClient(who: Person, options: { clientId?: string; afterSeq?: number; projectId?: string } = {}) {
  const delivered: FeedEvent[] = [];
  const feed: ActivityFeed = createActivityFeed({
    url: runtime.websocketUrl,
    token: who.token,
    apiUrl: runtime.url,
    clientId: options.clientId ?? `tab-${randomUUID().slice(0, 8)}`,
    afterSeq: options.afterSeq ?? 0,
    ...(options.projectId ? { projectId: options.projectId } : {}),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    backoff: { initialMs: 50, maxMs: 1_000 },
    gapTimeoutMs: 500,
    keepaliveMs: 2_000,
    onEvent: (event) => void delivered.push(event),
  });
  return { feed, delivered };
}

/** The organization's events as the REST API has them: the sequence every client must end with. */
async function eventLog(who: Person): Promise<{ seq: number; id: string; projectId: string | null }[]> {
  const events: { seq: number; id: string; projectId: string | null }[] = [];
  for (let afterSeq = 0, more = true; more; ) {
    const page = await call(who, 'GET', `/activity?afterSeq=${afterSeq}&limit=200`);
    events.push(...page.events.map((event: FeedEvent) => ({ seq: event.seq, id: event.id, projectId: event.projectId ?? null })));
    ({ more, throughSeq: afterSeq } = page);
  }
  return events;
}

async function until(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('activity feed, end to end', () => {
  it(`${CLIENTS} clients with random drops all end with the same gap-free sequence of ${EVENTS} events`, async () => {
    const people = await organization();
    // Two projects: one client in five follows only the first, and must get exactly its events.
    const [project, other] = [await call(people[0]!, 'POST', '/projects', { name: 'Feed load' }), await call(people[0]!, 'POST', '/projects', { name: 'Other' })];
    const tasks = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(people[i % 4]!, 'POST', `/projects/${(i % 2 ? other : project).id}/tasks`, { title: `Task ${i}` })),
    );
    const clients = Array.from({ length: CLIENTS }, (_, i) => ({
      ...feedClient(people[i % 4]!, i % 5 === 0 ? { projectId: project.id } : {}),
      projectId: i % 5 === 0 ? (project.id as string) : null,
    }));
    for (const { feed } of clients) feed.start();
    await until(() => runtime.websocket.connections().length === CLIENTS, 20_000, 'every client to connect');

    // Drops at random while the events are made: a client that reconnects resumes, often mid-replay.
    let producing = true;
    let drops = 0;
    const dropping = (async () => {
      while (producing) {
        const open = runtime.websocket.connections();
        if (open.length > 0) {
          await runtime.websocket.dropConnection(open[Math.floor(Math.random() * open.length)]!);
          drops += 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    // 22 events so far (the projects and their tasks); 16 writers make the rest, changing the tasks.
    const remaining = EVENTS - 22;
    const WRITERS = 16;
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, writer) => {
        for (let i = writer; i < remaining; i += WRITERS) {
          await call(people[writer % people.length]!, 'PATCH', `/tasks/${tasks[i % tasks.length].id}`, { description: `change ${i}` });
        }
      }),
    );
    producing = false;
    await dropping;

    const log = await eventLog(people[0]!);
    expect(log.map((event) => event.seq)).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
    const expected = (projectId: string | null) => log.filter((event) => projectId === null || event.projectId === projectId).map((event) => [event.seq, event.id]);
    await until(() => clients.every(({ delivered, projectId }) => delivered.length >= expected(projectId).length), 90_000, 'every client to catch up');
    for (const { feed } of clients) feed.stop();
    expect(drops).toBeGreaterThan(50);
    expect(expected(project.id).length).toBeLessThan(EVENTS * 0.6);
    for (const { delivered, projectId } of clients) {
      // Exactly the log (or the project's part of it): every event once, in order, nothing else.
      expect(delivered.map((event) => [event.seq, event.id])).toEqual(expected(projectId));
    }
    // A load test in one process (the runtime, its dynalite and 50 clients) beside the other tiers on 2 cores: about
    // 4 minutes alone, more while the rest of the suite runs. Its figures are the benchmark's, not this limit's.
  }, 600_000);

  it('lets a client away past the replay window converge through GET /activity', async () => {
    const people = await organization();
    const project = await call(people[0]!, 'POST', '/projects', { name: 'Away' });
    const away = feedClient(people[1]!, { clientId: 'laptop' });
    away.feed.start();
    await until(() => away.delivered.length === 1, 10_000, 'the first event');
    away.feed.stop();
    // More events than the replay keeps while the laptop is shut.
    for (let i = 0; i < REPLAY_WINDOW + 50; i += 1) await call(people[i % 4]!, 'POST', `/projects/${project.id}/tasks`, { title: `While away ${i}` });
    const log = await eventLog(people[0]!);
    let resyncs = 0;
    const back = createActivityFeed({
      url: runtime.websocketUrl,
      token: people[1]!.token,
      apiUrl: runtime.url,
      clientId: 'laptop',
      afterSeq: 1,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onEvent: (event) => void away.delivered.push(event),
      onStateChange: (state) => void (state.toString().includes('resync') && (resyncs += 1)),
    });
    back.start();
    await until(() => away.delivered.length >= log.length, 30_000, 'the laptop to catch up');
    back.stop();
    expect(away.delivered.map((event) => event.seq)).toEqual(log.map((event) => event.seq));
    expect(resyncs).toBeGreaterThan(0);
  }, 120_000);

  it('tells a refused handshake\'s reasons apart over REST: an expired token is replaced at once, the connection cap waits longer', async () => {
    const [ann] = await organization();
    const expired = await runtime.issuer.mint({ org: ann!.org, user: 'eve', expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const tokens = [expired, ann!.token];
    const refusals: FeedRefusal[] = [];
    const options = {
      url: runtime.websocketUrl,
      apiUrl: runtime.url,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      onEvent: () => undefined,
      onRefused: (refusal: FeedRefusal) => void refusals.push(refusal),
    };
    const renewed = createActivityFeed({ ...options, clientId: 'renewed', token: () => tokens.shift() ?? ann!.token });
    renewed.start();
    await until(() => renewed.state === 'live', 10_000, 'the feed live with a fresh token');
    expect(refusals).toEqual([{ reason: 'token', retryInMs: 0 }]);

    const capBefore = process.env.FEED_CONNECTION_CAP;
    process.env.FEED_CONNECTION_CAP = '1';
    try {
      const second = createActivityFeed({ ...options, clientId: 'second', token: ann!.token, capBackoff: { initialMs: 60_000 } });
      second.start();
      await until(() => refusals.length === 2, 10_000, 'the second client refused at the cap');
      second.stop();
      expect(refusals[1]).toMatchObject({ reason: 'connection-cap', connections: { connections: 1, cap: 1 } });
      expect(refusals[1]!.retryInMs).toBeGreaterThanOrEqual(30_000);
    } finally {
      renewed.stop();
      if (capBefore === undefined) delete process.env.FEED_CONNECTION_CAP;
      else process.env.FEED_CONNECTION_CAP = capBefore;
    }
  }, 60_000);

  it('removes a connection that is gone on the first 410', async () => {
    const people = await organization();
    const before = new Set(runtime.websocket.connections());
    const client = feedClient(people[0]!);
    client.feed.start();
    await until(async () => (await subscribedConnections(people[0]!.org)).length === 1, 10_000, 'the subscription');
    const [connectionId] = runtime.websocket.connections().filter((id) => !before.has(id));
    // API Gateway has lost it, and no $disconnect came: the registry still lists it.
    expect(runtime.websocket.forget(connectionId!)).toBe(true);
    client.feed.stop();
    expect((await subscribedConnections(people[0]!.org)).map((c) => c.connectionId)).toEqual([connectionId]);
    await call(people[0]!, 'POST', '/projects', { name: 'After the loss' });
    await until(async () => (await subscribedConnections(people[0]!.org)).length === 0, 10_000, 'the gone connection to leave the registry');
  }, 60_000);

  it('runs the synthetic probe against the feed and reports it on GET /health', async () => {
    await runtime.runSchedule('feedProbe');
    const health = (await (await fetch(`${runtime.url}/health`)).json()) as any;
    expect(health.dependencies.websocket).toMatchObject({ status: 'ok', lastProbe: { ok: true, deliveryMs: expect.any(Number) } });
    expect(health.dependencies.websocket.lastProbe.deliveryMs).toBeLessThan(5_000);
  }, 60_000);
});
