import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayRequestAuthorizerEvent, ScheduledEvent } from 'aws-lambda';
import type { LocalServices } from '../../lib/capabilities/capability';
import type { FunctionDeclaration } from '../../lib/declaration';

// Issue 13: the local runtime runs many functions' invocations at once in one process, where TaskFlow's handlers
// share one logger. Each invocation's lines must carry its own function's name and correlation id (the runbooks
// search logs by them), also while invocations of different functions overlap.

let local: typeof import('../../lib/local/functions');
let proxy: typeof import('../../lib/local/proxy-event');
let app: typeof import('../../lib/app');
let declaration: typeof import('../../lib/declaration');
let lines: Record<string, unknown>[];

// Every service where nothing listens: an invocation that reaches out fails at once.
const nowhere = 'http://127.0.0.1:9';
let services: LocalServices;

beforeAll(async () => {
  // The logger takes its level from the environment when the function's modules load, as in Lambda.
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  vi.resetModules();
  local = await import('../../lib/local/functions');
  proxy = await import('../../lib/local/proxy-event');
  app = await import('../../lib/app');
  declaration = await import('../../lib/declaration');
  const { queues } = app.taskflow;
  services = {
    database: { url: 'postgres://taskflow@127.0.0.1:9/taskflow' },
    dynamodb: { endpoint: nowhere, tableName: (name) => `TaskFlow-${name}`, callTimeoutMs: '1000' },
    sqs: {
      endpoint: nowhere,
      queueUrl: (name, deadLetter) => `${nowhere}/000000000000/${declaration.queueName('TaskFlow', name, deadLetter)}`,
      routes: declaration.outboxRoutes(queues),
      integrations: declaration.queueIntegrations(queues),
      names: Object.keys(queues),
    },
    s3: { endpoint: nowhere, bucket: 'files' },
    sandboxes: {
      urls: { slack: nowhere, sendgrid: nowhere, github: nowhere, googleCalendar: nowhere },
      credentials: { slack: 'x', sendgrid: 'x', github: 'x', googleCalendar: 'x' },
      notificationFromEmail: 'taskflow@example.com',
    },
    websocket: { url: 'ws://127.0.0.1:9', managementUrl: nowhere },
    api: { url: nowhere },
    lambda: { endpoint: nowhere },
    auth: { issuer: 'https://issuer.test/', audience: 'taskflow', jwksUrl: `${nowhere}/.well-known/jwks.json` },
    feedProbeCredentials: JSON.stringify({ tokenUrl: `${nowhere}/oauth/token`, clientId: 'probe', clientSecret: 'secret', audience: 'taskflow' }),
  };
});

afterEach(() => {
  vi.restoreAllMocks();
  globalThis.loggingProbeGate = undefined;
});

/** Every JSON line written from now on (Powertools writes each log line whole; WARN and ERROR lines to stderr). */
function captureLines(): Record<string, unknown>[] {
  const captured: Record<string, unknown>[] = [];
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n')) if (line.startsWith('{') && line.endsWith('}')) captured.push(JSON.parse(line));
      return true;
    });
  }
  return captured;
}

/** Every function the declaration declares, wherever in it (routes, WebSocket routes, queues, schedules, the others), by where. */
function declaredFunctions(node: unknown, path: string[] = []): [string, FunctionDeclaration][] {
  if (typeof node !== 'object' || node === null) return [];
  if (typeof (node as Partial<FunctionDeclaration>).entry === 'string' && Array.isArray((node as Partial<FunctionDeclaration>).needs)) {
    return [[path.join('.'), node as FunctionDeclaration]];
  }
  return Object.entries(node).flatMap(([key, value]) => declaredFunctions(value, [...path, key]));
}

describe('local logs', () => {
  it('carry each invocation\'s own function name and correlation id while invocations of different functions overlap', async () => {
    lines = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n')) if (/"message":"(started|finished)"/.test(line)) lines.push(JSON.parse(line));
      return true;
    });
    let open!: () => void;
    globalThis.loggingProbeGate = new Promise((resolve) => (open = resolve));
    const invoke = (name: string, correlationId: string) =>
      local.localHandler<{ correlationId: string }, void>(name, { entry: 'test/support/logging-probe.ts', description: 'probe', needs: [] }, services)(
        { correlationId },
        proxy.lambdaContext(name, 10_000),
      );
    const running = [invoke('IntegrationSync', 'sync-1'), invoke('AttachmentSweep', 'sweep-1'), invoke('WeeklyReport', 'report-1')];
    // Every one has logged its first line before any logs its second: they overlap.
    await vi.waitFor(() => expect(lines).toHaveLength(3));
    open();
    await Promise.all(running);

    expect(lines.map((line) => [line.message, line.function_name, line.correlation_id]).sort()).toEqual([
      ['finished', 'AttachmentSweep', 'sweep-1'],
      ['finished', 'IntegrationSync', 'sync-1'],
      ['finished', 'WeeklyReport', 'report-1'],
      ['started', 'AttachmentSweep', 'sweep-1'],
      ['started', 'IntegrationSync', 'sync-1'],
      ['started', 'WeeklyReport', 'report-1'],
    ]);
    // And each its own request id (the context Lambda gave that invocation).
    for (const name of ['IntegrationSync', 'AttachmentSweep', 'WeeklyReport']) {
      expect(new Set(lines.filter((line) => line.function_name === name).map((line) => line.function_request_id)).size).toBe(1);
    }
    expect(new Set(lines.map((line) => line.function_request_id)).size).toBe(3);
  });

  it('of every declared function carry its name: its handler puts its Lambda context in the logger before anything else', async () => {
    const functions = declaredFunctions(app.taskflow);
    // The routes, the WebSocket routes, every queue's consumer, every schedule's function and the others.
    expect(functions.length).toBeGreaterThanOrEqual(app.taskflow.routes.length + app.taskflow.websocket.routes.length + 4);
    const captured = captureLines();
    // A line is written as soon as the handler gives the logger its context, and the invocation stops there: none of
    // the function's own work runs on this test's empty event.
    const stop = new Error('stopped once the context is in the logger');
    const addContext = Logger.prototype.addContext;
    vi.spyOn(Logger.prototype, 'addContext').mockImplementation(function (this: Logger, context) {
      addContext.call(this, context);
      this.info('context loaded');
      throw stop;
    });
    // Should a handler run on regardless, it reaches nothing outside this machine either.
    vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('no network in this test'));
    const missing: string[] = [];
    for (const [name, fn] of functions) {
      const before = captured.length;
      const invocation = local.localHandler<unknown, unknown>(name, fn, services)({}, proxy.lambdaContext(name, 5_000)).then(
        () => 'returned',
        (error: unknown) => (error === stop ? 'stopped' : 'failed'),
      );
      const outcome = await Promise.race([invocation, new Promise<string>((resolve) => setTimeout(() => resolve('timed out'), 5_000).unref())]);
      const loaded = captured.slice(before).find((line) => line.message === 'context loaded');
      if (outcome !== 'stopped' || loaded?.function_name !== name) missing.push(`${name} (${fn.entry}): ${outcome}, ${loaded ? `function_name ${String(loaded.function_name)}` : 'no context'}`);
    }
    expect(missing, 'every handler is built with lambdaHandler (functions/shared/handler.ts) or a wrapper on it').toEqual([]);
  });

  it('of the authorizer and of a scheduled function carry its name and the correlation id its event gives', async () => {
    const captured = captureLines();
    const authorizer = local.localHandler<APIGatewayRequestAuthorizerEvent, unknown>('Authorizer', app.taskflow.functions.authorizer, services);
    const connect = {
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:local:000000000000:api/local/$connect',
      queryStringParameters: { token: 'not-a-jwt' },
      requestContext: { requestId: 'connect-request-1', connectionId: 'connection-1' },
    } as unknown as APIGatewayRequestAuthorizerEvent;
    await expect(authorizer(connect, proxy.lambdaContext('Authorizer', 10_000))).rejects.toThrow('Unauthorized');
    const canary = local.localHandler<ScheduledEvent, unknown>('SyntheticCanary', app.taskflow.schedules.syntheticCanary.function, services);
    const run = { id: 'canary-run-1', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} } as ScheduledEvent;
    // Nothing answers at the token endpoint: the run fails, and says so.
    await expect(canary(run, proxy.lambdaContext('SyntheticCanary', 60_000))).resolves.toMatchObject({ ok: false });

    const logged = (message: string) => captured.filter((line) => line.message === message).map((line) => [line.function_name, line.correlation_id]);
    expect(logged('token refused')).toEqual([['Authorizer', 'connect-request-1']]);
    expect(logged('synthetic transaction failed')).toEqual([['SyntheticCanary', 'canary-run-1']]);
  });
});
