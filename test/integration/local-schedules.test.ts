import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { AppDeclaration, FunctionDeclaration } from '../../lib/declaration';
import { taskflow } from '../../lib/app';
import { functionEnvironment } from '../../lib/local/functions';
import { startLocalRuntime } from '../../lib/local/runtime';
import { scheduleRunEndpoint, startSchedules, UnknownSchedule, type Schedules } from '../../lib/local/schedules';
import { runs } from '../support/fake-scheduled';

// EventBridge rate schedules, locally: the Scheduled Event, an honest remaining time that drops to 0 when the
// runtime stops (so a relay that polls until its deadline ends), overlapping runs, and the run-now endpoint.
// The scheduled function is a test double (test/support/fake-scheduled.ts) that polls until ~1 s is left.

const fn = (timeoutSeconds: number): FunctionDeclaration => ({ entry: 'test/support/fake-scheduled.ts', description: 'fake', timeoutSeconds, needs: [] });
const app = (everyMinutes = 1, timeoutSeconds = 2) =>
  ({ name: 'ScheduleTest', schedules: { tick: { description: 'tick', function: fn(timeoutSeconds), everyMinutes } } }) satisfies Pick<AppDeclaration, 'name' | 'schedules'>;

let schedules: Schedules | undefined;

beforeEach(() => {
  runs().length = 0;
});

afterEach(async () => {
  await schedules?.stop();
  schedules = undefined;
});

describe('schedules', () => {
  it('runs a schedule now with the Scheduled Event a rule sends, resolving when the run ends', async () => {
    schedules = startSchedules({ app: app(1, 2), timers: false, region: 'eu-west-1' });
    expect(runs()).toHaveLength(0); // no timers: nothing ran at start
    const started = Date.now();
    await schedules.run('tick');
    const [run] = runs();
    expect(run!.ended! - started).toBeGreaterThanOrEqual(900); // polled until about 1 s of its 2 s was left
    expect(run!.functionName).toBe('Tick');
    expect(run!.remainingAtStart).toBeGreaterThan(1_800);
    expect(run!.remainingAtStart).toBeLessThanOrEqual(2_000);
    expect(run!.event).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '000000000000',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      region: 'eu-west-1',
      resources: ['arn:aws:events:eu-west-1:000000000000:rule/ScheduleTest-Tick'],
      detail: {},
    });
    await expect(schedules.run('nope')).rejects.toBeInstanceOf(UnknownSchedule);
  });

  it('tells a running function there is no time left once stopping, and stop() waits for it to end', async () => {
    schedules = startSchedules({ app: app(1, 90), timers: false });
    const running = schedules.run('tick');
    await new Promise((r) => setTimeout(r, 200));
    expect(runs()[0]!.polls).toBeGreaterThan(0);
    expect(runs()[0]!.ended).toBeUndefined();
    const stopping = Date.now();
    await schedules.stop();
    schedules = undefined;
    expect(runs()[0]!.ended).toBeDefined();
    expect(Date.now() - stopping).toBeLessThan(1_000);
    await running;
  });

  it('runs at start and then on the rate, whether or not the previous run has ended', async () => {
    // 0.005 min = 300 ms, with runs of about 1 s: they overlap, as the outbox relay's do in AWS.
    schedules = startSchedules({ app: app(0.005, 2), timers: true });
    await new Promise((r) => setTimeout(r, 100));
    expect(runs()).toHaveLength(1); // the first at start
    const deadline = Date.now() + 5_000;
    while (runs().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(runs().length).toBeGreaterThanOrEqual(3);
    expect(runs()[0]!.ended).toBeUndefined(); // the first is still running: they overlap
    await schedules.stop();
    schedules = undefined;
    expect(runs().every((run) => run.ended !== undefined)).toBe(true);
    const count = runs().length;
    await new Promise((r) => setTimeout(r, 400));
    expect(runs()).toHaveLength(count); // no timer left
  });

  describe('POST /_local/schedules/{name}', () => {
    let server: Server;
    let base: string;

    beforeEach(async () => {
      schedules = startSchedules({ app: app(1, 2), timers: false });
      server = createServer(scheduleRunEndpoint(schedules, (_req, res) => res.writeHead(418).end()));
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });

    afterEach(async () => {
      await new Promise((done) => server.close(done));
    });

    it('answers 202 and runs the schedule in the background', async () => {
      const response = await fetch(`${base}/_local/schedules/tick`, { method: 'POST', headers: { 'X-Request-Id': 'req-run-now' } });
      expect(response.status).toBe(202);
      expect(response.headers.get('x-request-id')).toBe('req-run-now');
      expect(await response.json()).toEqual({ schedule: 'tick', status: 'started' });
      await new Promise((r) => setTimeout(r, 100));
      expect(runs()).toHaveLength(1);
      expect(runs()[0]!.ended).toBeUndefined(); // still running: the answer did not wait for it
    });

    it('answers 404 problem+json for an undeclared schedule, and leaves other requests to the gateway', async () => {
      const response = await fetch(`${base}/_local/schedules/nope`, { method: 'POST' });
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({ status: 404, code: 'NOT_FOUND', detail: expect.stringContaining('tick') });
      expect((await fetch(`${base}/_local/schedules/tick`)).status).toBe(418); // GET: not ours
      expect((await fetch(`${base}/projects`, { method: 'POST' })).status).toBe(418);
      expect(runs()).toHaveLength(0);
    });
  });
});

describe('the local runtime', () => {
  it('serves the run-now endpoint for the declared schedules, and exposes SQS, the sandboxes and runSchedule', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-schedules-'));
    const logged: string[] = [];
    const runtime = await startLocalRuntime({ port: 0, dataDir, databaseUrl: inject('databaseUrl'), schedules: false, log: (line) => logged.push(line) });
    try {
      // Each function sees what it declares (lib/local/functions.ts): the relay the queues, the senders their sandbox.
      const environmentOf = (declaration: FunctionDeclaration) => functionEnvironment('Probe', declaration, runtime.services)();
      const relay = environmentOf(taskflow.schedules.outboxRelay.function);
      expect(relay.AWS_ENDPOINT_URL_SQS).toBe(runtime.sqs.endpoint);
      expect(relay.NOTIFICATIONS_QUEUE_URL).toBe(runtime.sqs.queueUrl('notifications'));
      expect({ ...environmentOf(taskflow.queues.slack.consumer), ...environmentOf(taskflow.queues.email.consumer) }).toMatchObject({
        SLACK_API_URL: `${runtime.sandboxes.url}/slack/api`,
        SENDGRID_API_URL: `${runtime.sandboxes.url}/sendgrid`,
        SLACK_BOT_TOKEN: 'xoxb-local-sandbox',
        SENDGRID_API_KEY: 'SG.local-sandbox',
        NOTIFICATION_FROM_EMAIL: 'notifications@taskflow.local',
      });
      const unknown = await fetch(`${runtime.url}/_local/schedules/nope`, { method: 'POST' });
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('content-type')).toBe('application/problem+json');
      await expect(runtime.runSchedule('nope')).rejects.toBeInstanceOf(UnknownSchedule);

      // The real outbox relay runs (whatever it finds); stop() below must end it early.
      const run = await fetch(`${runtime.url}/_local/schedules/outboxRelay`, { method: 'POST' });
      expect(run.status).toBe(202);
      expect((await fetch(`${runtime.url}/health`)).status).toBe(200); // the gateway still answers the rest
    } finally {
      const stopping = Date.now();
      await runtime.stop();
      expect(Date.now() - stopping).toBeLessThan(15_000);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
