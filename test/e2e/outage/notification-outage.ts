import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { LocalRuntime } from '../../../lib/local/runtime';
import type { Fault, RecordedCall } from '../../../lib/local/sandboxes';
import {
  breakerState,
  breakerWindow,
  callsBetween,
  client,
  countBy,
  eventually,
  expectCrudUnaffected,
  expectOpenHalfOpenClosed,
  expectSpacedTries,
  settled,
  startOutageRuntime,
  watchBreaker,
  type OutageRuntime,
} from '../../support/outage';
import { printSloReport } from '../../support/slo-report';

// Issue 6 (review C4), end to end on the local runtime, for the notification integrations: Slack and SendGrid,
// each in turn down (the connection drops), slow (answers only after the read timeout) and rate-limiting (429
// with Retry-After). In each case:
// - task CRUD answers as before (no API call waits on an integration);
// - the faulted integration's breaker opens (≥ 50 % failures over ≥ 10 calls), GET /health/integrations says so
//   (breaker, last failure and its reason, backlog) and X-Degraded-Integrations names exactly it on reads and
//   mutations; while open the service is not called (a call or two under way excepted);
// - the other integration goes on delivering meanwhile (a bulkhead);
// - once the service answers again, the breaker half-opens after 30 s, the trial closes it, the header goes, and
//   every notification waiting is delivered exactly once (successful calls counted per notification).
//
// Rate limits: a 429 from Slack or SendGrid counts as a failure of the service (the HTTP layer's default, unlike
// GitHub's rate limit): it is retried within a delivery no sooner than its Retry-After, and it opens the breaker.
//
// The timeouts are scaled by 0.2 (INTEGRATION_TIMEOUT_SCALE): connect 1 s, read 2 s instead of 5 s and 10 s, so
// "slower than the read timeout" takes seconds. The breaker's 30 s are the real ones.

const TIMEOUT_SCALE = 0.2;
const READ_TIMEOUT_MS = 10_000 * TIMEOUT_SCALE;
const RETRY_AFTER_SECONDS = 2;
/** Assignments made during each outage: one Slack message and one e-mail each. */
const NOTIFICATIONS = 12;
/** Made first, alone, so their retries meet the fault while the breaker is still closed. */
const FIRST_WAVE = 2;

type Service = 'slack' | 'sendgrid';
type Mode = 'down' | 'slow' | 'rate-limit';

const FAULTS: Record<Mode, Fault> = {
  down: { mode: 'down' },
  slow: { mode: 'slow', latencyMs: 3 * READ_TIMEOUT_MS },
  'rate-limit': { mode: 'rate-limit', retryAfterSeconds: RETRY_AFTER_SECONDS },
};
/** What the health endpoint gives as the last failure's reason. */
const REASONS: Record<Mode, RegExp> = {
  down: /socket hang up|ECONNRESET|EPIPE|ECONNREFUSED/i,
  slow: new RegExp(`no answer within ${READ_TIMEOUT_MS} ms`),
  'rate-limit': /HTTP 429/,
};
/**
 * The service back, at first a little sluggish (well inside the read timeout) until the breaker has closed: the
 * half-open trial then lasts long enough for the health endpoint to be seen saying so.
 */
const RECOVERING: Fault = { mode: 'slow', latencyMs: 600 };

let outage: OutageRuntime;
let runtime: LocalRuntime;
let api: ReturnType<typeof client>;


/** A successful delivery through the service: the notification it carried, and its text. */
function delivery(service: Service, call: RecordedCall): { notificationId: string; text: string } | null {
  const body = call.body as any;
  if (service === 'slack') {
    if (call.path !== '/chat.postMessage' || call.status !== 200) return null;
    return { notificationId: body.metadata.event_payload.notification_id, text: body.text };
  }
  if (call.path !== '/v3/mail/send' || call.status !== 202) return null;
  return { notificationId: body.personalizations[0].custom_args.notification_id, text: body.content[0].value };
}

/** This scenario's deliveries through the service: the task (`n<i>`) each was about, and its notification id. */
function delivered(service: Service, tag: string): { task: string; notificationId: string }[] {
  const marker = new RegExp(`${tag} (n\\d+)`);
  return runtime.sandboxes.calls(service).flatMap((call) => {
    const sent = delivery(service, call);
    const task = sent && marker.exec(sent.text)?.[1];
    return sent && task ? [{ task, notificationId: sent.notificationId }] : [];
  });
}

/** Each of the scenario's notifications delivered once, and only those. */
function expectExactlyOnce(deliveries: { task: string; notificationId: string }[]): void {
  const perTask = countBy(deliveries, (d) => d.task);
  expect(Object.fromEntries(perTask)).toEqual(Object.fromEntries(Array.from({ length: NOTIFICATIONS }, (_, i) => [`n${i}`, 1])));
  expect(new Set(deliveries.map((d) => d.notificationId)).size).toBe(NOTIFICATIONS);
}


/** The scenario of one service and fault: a test file of its own (they run side by side), with its own runtime and database. */
export function notificationOutage(service: Service, mode: Mode): void {
  beforeAll(async () => {
    // A delivery's tries take 10 s at most here (four of 2 s, or three 2 s Retry-Afters); a failed one is back after 15 s.
    outage = await startOutageRuntime('taskflow-outage-', { timeoutScale: TIMEOUT_SCALE, visibilityTimeoutSeconds: 15 });
    runtime = outage.runtime;
    api = client(runtime);
  }, 120_000);

  afterAll(async () => {
    printSloReport(outage?.runtime, `${service} ${mode}`);
    await outage?.stop();
  });

  describe('a notification integration outage', () => {
    it(`${service} ${mode}: the core goes on, the breaker opens and says so, the other integration delivers, and after recovery everything arrives once`, async () => {
      const other: Service = service === 'slack' ? 'sendgrid' : 'slack';
      runtime.sandboxes.clearCalls();
      const org = `org_${randomUUID()}`;
      const [ann, bob] = [await api.person(org, 'ann'), await api.person(org, 'bob')];
      await api.call(bob, 'GET', '/projects'); // Bob's first request makes him a member
      await settled(api, ann);
      const logsFrom = outage.logs.length;
      onTestFailed(() => console.error(`the runtime's log during the test:\n${outage.logs.slice(logsFrom).join('\n')}`));
      const project = (await api.call(ann, 'POST', '/projects', { name: `${service} ${mode}` })).body;

      // Before: both breakers closed, no header; the CRUD times to compare with.
      const healthBefore = await api.health(ann);
      expect(healthBefore.degraded).toEqual([]);
      expect(healthBefore.integrations.find((i) => i.integration === service)).toMatchObject({ breaker: 'closed' });
      const before = await api.crud(ann, project.id, 3);
      expect(before.map((s) => s.degraded)).toEqual(before.map(() => null));

      const watch = watchBreaker(api, ann, service);
      const tag = `${service}-${mode}-${randomUUID().slice(0, 6)}`;
      try {
        const faultAt = Date.now();
        runtime.sandboxes.setFault(service, FAULTS[mode]);
        const assign = async (i: number) => (await api.call(ann, 'POST', `/projects/${project.id}/tasks`, { title: `${tag} n${i}`, assigneeId: bob.user })).ms;
        const assignMs: number[] = [];
        for (let i = 0; i < FIRST_WAVE; i += 1) assignMs.push(await assign(i));
        // Retried (each message several tries) while the breaker is still closed.
        await eventually('the first notifications\' tries', () => runtime.sandboxes.calls(service).length >= 3 * FIRST_WAVE, { timeoutMs: 60_000 });
        for (let i = FIRST_WAVE; i < NOTIFICATIONS; i += 1) assignMs.push(await assign(i));

        // The breaker opens.
        await eventually(`the ${service} breaker to open`, async () => (await api.breakerOf(ann, service)).breaker === 'open', { timeoutMs: 60_000 });
        const opened = await breakerState(runtime, service);
        expect(opened.state).toBe('open');
        const openedAt = Date.parse(opened.openedAt!);
        // On the policy's terms: at least 10 calls in its window, at least half of them failures (each one a call the
        // fault refused since it began: the successes are the calls before).
        const opening = await breakerWindow(runtime, service);
        expect(opening.calls).toBeGreaterThanOrEqual(10);
        expect(opening.failures * 2).toBeGreaterThanOrEqual(opening.calls);
        const beforeOpen = callsBetween(runtime.sandboxes.calls(service), faultAt, openedAt + 1);
        expect(beforeOpen.filter((c) => c.status !== null && c.status < 400)).toEqual([]);
        expect(beforeOpen.length).toBeGreaterThanOrEqual(opening.failures);

        // The health endpoint tells the truth.
        const health = await api.health(ann);
        expect(health.degraded).toEqual([service]);
        const entry = health.integrations.find((i) => i.integration === service)!;
        expect(entry).toMatchObject({ breaker: 'open', lastFailureAt: expect.any(String), lastFailureReason: expect.stringMatching(REASONS[mode]) });
        expect(Date.parse(entry.lastFailureAt!)).toBeGreaterThanOrEqual(faultAt);
        expect(entry.backlog).toBeGreaterThan(0);
        expect(health.integrations.find((i) => i.integration === other)).toMatchObject({ breaker: 'closed' });

        // So does the header (refreshed every 10 s), on reads and mutations alike; and the core is not held up.
        await eventually('the degraded header', async () => (await api.degradedHeader(ann)) === service, { timeoutMs: 20_000 });
        const during = await api.crud(ann, project.id, 3);
        expect(during.map((s) => `${s.op}: ${s.degraded}`)).toEqual(during.map((s) => `${s.op}: ${service}`));
        const timing = expectCrudUnaffected(before, during);
        expect(Math.max(...assignMs)).toBeLessThan(2_000);

        // A bulkhead: the other integration delivered every notification of the outage, while this breaker is open.
        await eventually(`every ${other} delivery`, () => delivered(other, tag).length >= NOTIFICATIONS, { timeoutMs: 25_000 });
        expect((await api.breakerOf(ann, service)).breaker).toBe('open');

        if (mode === 'rate-limit') {
          // 429 is a failure here, retried within a delivery no sooner than its Retry-After (one message's tries of one path).
          const tries = callsBetween(runtime.sandboxes.calls(service), faultAt, openedAt + 1);
          expect(tries.every((c) => c.status === 429)).toBe(true);
          const gaps = expectSpacedTries(tries, (c) => `${c.headers['x-request-id']} ${c.path}`, RETRY_AFTER_SECONDS * 1000 - 50);
          expect(gaps).toBeGreaterThanOrEqual(FIRST_WAVE * 2);
        }

        // The service answers again: after 30 s the breaker half-opens, the trial call closes it.
        runtime.sandboxes.setFault(service, RECOVERING);
        await eventually(`the ${service} breaker to close`, () => watch.closedAgain(), { timeoutMs: 120_000 });
        runtime.sandboxes.setFault(service, { mode: 'ok' });
        await watch.stop();
        expectOpenHalfOpenClosed(watch, openedAt);
        // Open, the service is not called: none from when the health endpoint said open until it half-opened (a call
        // or two under way excepted: the breaker decides at `openedAt`, its write lands a moment later).
        expect(callsBetween(runtime.sandboxes.calls(service), watch.firstSeen('open')!, openedAt + 30_000).length).toBeLessThanOrEqual(2);

        // Every notification waiting arrives, exactly once; nothing is left in the queues or dead-lettered.
        await eventually(`every ${service} delivery`, () => delivered(service, tag).length >= NOTIFICATIONS, { timeoutMs: 180_000, intervalMs: 500 });
        await eventually('both queues drained', async () => {
          const { integrations } = await api.health(ann);
          return integrations.filter((i) => i.integration === 'slack' || i.integration === 'sendgrid').every((i) => i.backlog === 0);
        }, { timeoutMs: 60_000, intervalMs: 500 });
        expectExactlyOnce(delivered(service, tag));
        expectExactlyOnce(delivered(other, tag));
        const after = await api.health(ann);
        for (const name of [service, other]) expect(after.integrations.find((i) => i.integration === name)).toMatchObject({ breaker: 'closed', deadLetters: 0 });
        expect(Date.parse(after.integrations.find((i) => i.integration === service)!.lastSuccessAt!)).toBeGreaterThan(openedAt);
        await eventually('the degraded header to go', async () => (await api.degradedHeader(ann)) === null, { timeoutMs: 20_000 });

        console.info(
          `${service} ${mode}: opened ${openedAt - faultAt} ms after the fault; CRUD median ${timing.beforeMs.toFixed(0)} ms before, ` +
            `${timing.duringMs.toFixed(0)} ms during (max ${timing.maxMs.toFixed(0)} ms); breaker seen ${watch.sequence().join(' → ')} (calls between its decision and the first open seen: ` +
            `${callsBetween(runtime.sandboxes.calls(service), openedAt, watch.firstSeen('open')!).length}); ` +
            `all delivered ${Date.now() - openedAt} ms after it opened`,
        );
      } finally {
        await watch.stop();
        runtime.sandboxes.setFault(service, { mode: 'ok' });
      }
    }, 360_000);
  });
}
