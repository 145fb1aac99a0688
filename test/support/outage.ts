import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { BREAKER_POLICY, parsePolicy, readStatuses, snapshotOf, type BreakerState } from '../../functions/integrations/breaker-state';
import { dynamoDb, type AttributeValue } from '../../functions/shared/dynamodb';
import { tableNameVariable } from '../../functions/shared/resource-variables';
import type { IntegrationName } from '../../functions/integrations/services';
import { taskflow } from '../../lib/app';
import { withEnvironment } from '../../lib/local/environment';
import { functionEnvironment } from '../../lib/local/functions';
import { startLocalRuntime, type LocalRuntime } from '../../lib/local/runtime';
import { ownDatabase } from './own-database';
import type { RecordedCall } from '../../lib/local/sandboxes';

// What the outage scenarios (e2e/outage/notification-outage.ts: Slack and SendGrid; sync-outage.ts: GitHub and
// Google Calendar) share: a local runtime whose integration timeouts are scaled down, callers, timed API calls,
// bounded polling, the health endpoint and the breaker's own state, and CRUD timing.

export interface OutageRuntime {
  runtime: LocalRuntime;
  /** What the runtime logged (failed invocations, with their errors), for a failed test's report. */
  logs: string[];
  stop(): Promise<void>;
}

/**
 * The local runtime on a database of its own, with no timers (the tests run the schedules), a short visibility
 * timeout (longer than any handler runs in the test, as in AWS, where it is six times the function's timeout: a
 * message is not handled twice at once), every integration's connect and read timeouts times `timeoutScale`
 * (INTEGRATION_TIMEOUT_SCALE, read by the HTTP layer at each call, so set before anything calls), and the API's rate limits ×10: the tests poll the health
 * endpoint and the links several times a second for minutes, more than one user may (our own 429s would only
 * hide what is tested).
 */
export async function startOutageRuntime(prefix: string, { timeoutScale, visibilityTimeoutSeconds }: { timeoutScale: number; visibilityTimeoutSeconds: number }): Promise<OutageRuntime> {
  const scaleBefore = process.env.INTEGRATION_TIMEOUT_SCALE;
  const restore = () => {
    if (scaleBefore === undefined) delete process.env.INTEGRATION_TIMEOUT_SCALE;
    else process.env.INTEGRATION_TIMEOUT_SCALE = scaleBefore;
  };
  process.env.INTEGRATION_TIMEOUT_SCALE = String(timeoutScale);
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const database = await ownDatabase(prefix);
  const logs: string[] = [];
  let runtime: LocalRuntime;
  try {
    runtime = await startLocalRuntime({
      port: 0,
      dataDir,
      databaseUrl: database.url,
      schedules: false,
      visibilityTimeoutSeconds,
      rateLimitScale: 10,
      log: (line) => logs.push(`${new Date().toISOString()} ${line}`),
    });
  } catch (error) {
    restore();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    runtime,
    logs,
    async stop() {
      try {
        await runtime.stop();
      } finally {
        restore();
        await database.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

export interface Person {
  org: string;
  user: string;
  email: string;
  token: string;
}

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
  /** Wall time of the call, as the client saw it. */
  ms: number;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `intervalMs` until it holds; throws after `timeoutMs` (with the last value seen, if any). */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, { timeoutMs = 60_000, intervalMs = 250 } = {}): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!;
};

export interface HealthEntry {
  integration: string;
  breaker: BreakerState;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastFailureReason: string | null;
  backlog: number | null;
  deadLetters: number | null;
}

export interface CrudSample {
  op: 'create' | 'get' | 'update' | 'delete';
  status: number;
  ms: number;
  degraded: string | null;
}

/** Callers and timed calls against one runtime. */
export function client(runtime: LocalRuntime) {
  async function person(org: string, first: string, role: 'member' | 'admin' = 'member'): Promise<Person> {
    const id = randomUUID().slice(0, 8);
    const user = `user_${first}_${id}`;
    const email = `${first}.${id}@example.com`;
    return { org, user, email, token: await runtime.issuer.mint({ org, user, email, name: first, role }) };
  }

  /** One call; never throws for a status (see `call`). */
  async function request(who: Person, method: string, path: string, body?: unknown): Promise<Answer> {
    const started = performance.now();
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${who.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const ms = performance.now() - started;
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed, headers: response.headers, ms };
  }

  /** One call that must succeed (2xx). */
  async function call(who: Person, method: string, path: string, body?: unknown): Promise<Answer> {
    const answer = await request(who, method, path, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer;
  }

  async function health(who: Person): Promise<{ degraded: string[]; integrations: HealthEntry[] }> {
    return (await call(who, 'GET', '/health/integrations')).body;
  }

  async function breakerOf(who: Person, name: IntegrationName): Promise<HealthEntry> {
    const entry = (await health(who)).integrations.find((i) => i.integration === name);
    if (!entry) throw new Error(`GET /health/integrations does not list ${name}`);
    return entry;
  }

  /** The X-Degraded-Integrations header on a read. */
  async function degradedHeader(who: Person): Promise<string | null> {
    return (await call(who, 'GET', '/projects')).headers.get('x-degraded-integrations');
  }

  /**
   * `rounds` × (create, get, update, delete) of a task without assignee or due date (nothing to notify or sync),
   * each timed, with its status and X-Degraded-Integrations header.
   */
  async function crud(who: Person, projectId: string, rounds: number): Promise<CrudSample[]> {
    const samples: CrudSample[] = [];
    const note = (op: CrudSample['op'], answer: Answer) => {
      samples.push({ op, status: answer.status, ms: answer.ms, degraded: answer.headers.get('x-degraded-integrations') });
      return answer;
    };
    for (let i = 0; i < rounds; i += 1) {
      const created = note('create', await request(who, 'POST', `/projects/${projectId}/tasks`, { title: `crud ${i}` }));
      if (created.status !== 201) continue;
      const id = created.body.id as string;
      note('get', await request(who, 'GET', `/tasks/${id}`));
      note('update', await request(who, 'PATCH', `/tasks/${id}`, { version: created.body.version, title: `crud ${i} renamed` }));
      note('delete', await request(who, 'DELETE', `/tasks/${id}`));
    }
    return samples;
  }

  return { person, request, call, health, breakerOf, degradedHeader, crud };
}

/**
 * Nothing left of an earlier scenario (only after a failed one is there anything to wait for): every breaker
 * closed, no header, the integrations' queues empty.
 */
export async function settled(api: ReturnType<typeof client>, who: Person): Promise<void> {
  await eventually(
    'every breaker closed, no header, the integrations\' queues empty',
    async () => {
      const health = await api.health(who);
      return health.degraded.length === 0 && health.integrations.every((i) => !i.backlog) && (await api.degradedHeader(who)) === null;
    },
    { timeoutMs: 240_000, intervalMs: 1_000 },
  );
}

/**
 * The core is not held up: every CRUD call answered (2xx, no 5xx), each under a loose bound, and the median
 * during the outage not far above the one before (an API call waiting on the integration would add at least a
 * read timeout, and retries several).
 */
export function expectCrudUnaffected(before: readonly CrudSample[], during: readonly CrudSample[]): { beforeMs: number; duringMs: number; maxMs: number } {
  const expected = { create: 201, get: 200, update: 200, delete: 204 } as const;
  expect(during).toHaveLength(before.length);
  expect([...before, ...during].filter((s) => s.status !== expected[s.op])).toEqual([]);
  const maxMs = Math.max(...during.map((s) => s.ms));
  expect(maxMs).toBeLessThan(2_000);
  const beforeMs = median(before.map((s) => s.ms));
  const duringMs = median(during.map((s) => s.ms));
  expect(duringMs).toBeLessThan(beforeMs + 500);
  return { beforeMs, duringMs, maxMs };
}

/**
 * What GET /health/integrations sees on this runtime (its function's own environment: the runtime's dynalite, not
 * the test process's), to read the integrations table as that function does.
 */
function asHealthEndpoint<T>(runtime: LocalRuntime, read: () => Promise<T>): Promise<T> {
  const route = taskflow.routes.find((r) => r.operationId === 'getIntegrationsHealth')!;
  return withEnvironment(functionEnvironment('IntegrationsHealth', route.function, runtime.services)(), read);
}

/** The breaker's own state (the integrations table, read as the health endpoint reads it), with `openedAt`. */
export async function breakerState(runtime: LocalRuntime, name: IntegrationName) {
  const status = (await asHealthEndpoint(runtime, () => readStatuses())).find((s) => s.integration === name);
  if (!status) throw new Error(`no breaker status for ${name}`);
  return status;
}

/**
 * The breaker's window as stored (cockatiel's samples, in the integrations table): how many call outcomes it
 * holds and how many of them are failures. Outcomes of calls made while it is open are not added, so read just
 * after it opened, it is the window that opened it.
 */
export async function breakerWindow(runtime: LocalRuntime, name: IntegrationName): Promise<{ calls: number; failures: number }> {
  const { Item } = await asHealthEndpoint(runtime, () =>
    dynamoDb(process.env)<{ Item?: Record<string, AttributeValue> }>('GetItem', {
      TableName: process.env[tableNameVariable('integrations')],
      Key: { id: { S: name } },
      ConsistentRead: true,
    }),
  );
  const samples = parsePolicy(snapshotOf(Item).policy)?.breakerState?.samples ?? [];
  return { calls: samples.filter((s) => s !== null).length, failures: samples.filter((s) => s === false).length };
}

/** The breaker as GET /health/integrations showed it over time. */
export interface BreakerWatch {
  seen: { at: number; state: BreakerState }[];
  stop(): Promise<void>;
  /** The states in the order seen, repeats folded: e.g. ['open', 'half-open', 'closed']. */
  sequence(): BreakerState[];
  /** Whether it was seen closed after it was seen open. */
  closedAgain(): boolean;
  /** When a poll first answered this state (epoch ms, when the answer came). */
  firstSeen(state: BreakerState): number | undefined;
}

/** Polls the health endpoint (every ~100 ms) and records the integration's breaker until stopped. */
export function watchBreaker(api: ReturnType<typeof client>, who: Person, name: IntegrationName): BreakerWatch {
  const seen: { at: number; state: BreakerState }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const entry = await api.breakerOf(who, name);
        seen.push({ at: Date.now(), state: entry.breaker });
      } catch {
        // A failed poll is a gap in the record, not a state.
      }
      await sleep(100);
    }
  })();
  return {
    seen,
    async stop() {
      stopped = true;
      await loop;
    },
    sequence: () => seen.map((s) => s.state).filter((state, i, all) => i === 0 || all[i - 1] !== state),
    firstSeen: (state) => seen.find((s) => s.state === state)?.at,
    closedAgain: () => {
      const opened = seen.findIndex((s) => s.state === 'open');
      return opened >= 0 && seen.slice(opened).some((s) => s.state === 'closed');
    },
  };
}

/**
 * The breaker opened, half-opened after 30 s and closed: the watch saw open, then half-open, then closed, in that
 * order and nothing else after the first open; and nothing closed before 30 s had passed since `openedAt`.
 */
export function expectOpenHalfOpenClosed(watch: BreakerWatch, openedAt: number): void {
  const sequence = watch.sequence();
  const fromOpen = sequence.slice(sequence.indexOf('open'));
  expect(fromOpen).toEqual(['open', 'half-open', 'closed']);
  const opened = watch.seen.findIndex((s) => s.state === 'open');
  const firstClosed = watch.seen.slice(opened).find((s) => s.state === 'closed');
  expect(firstClosed!.at).toBeGreaterThanOrEqual(openedAt + BREAKER_POLICY.halfOpenAfterMs);
  const firstHalfOpen = watch.seen.find((s) => s.state === 'half-open');
  expect(firstHalfOpen!.at).toBeGreaterThanOrEqual(openedAt + BREAKER_POLICY.halfOpenAfterMs);
}

/** The sandbox calls that arrived in [from, to) (epoch ms). */
export const callsBetween = (calls: readonly RecordedCall[], from: number, to: number) =>
  calls.filter((c) => {
    const at = Date.parse(c.at);
    return at >= from && at < to;
  });

/**
 * Every pair of consecutive calls of the same group (one message's tries of one path) is at least `minGapMs`
 * apart; answers how many gaps were checked.
 */
export function expectSpacedTries(calls: readonly RecordedCall[], groupOf: (call: RecordedCall) => string, minGapMs: number): number {
  const groups = new Map<string, number[]>();
  for (const c of calls) groups.set(groupOf(c), [...(groups.get(groupOf(c)) ?? []), Date.parse(c.at)]);
  const gaps = [...groups.values()].flatMap((times) => times.sort((a, b) => a - b).slice(1).map((t, i) => t - times[i]!));
  expect(Math.min(...gaps)).toBeGreaterThanOrEqual(minGapMs);
  return gaps.length;
}

/** How many times each key occurs. */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}
