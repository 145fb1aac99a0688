import type { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { publicHttpHandler } from '../../functions/shared/http';
import { logger } from '../../functions/shared/logger';
import { recordFor, span, traced } from '../../functions/shared/spans';
import { continueTrace, isSampled, sampledRequest } from '../../functions/shared/trace';
import { lambdaContext, proxyEvent } from '../../lib/local/proxy-event';

// Issue 14 §3 (review M2): which requests' spans are written, and that a failed or slow request is written down
// (with its spans) whatever the sampling decided.

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SAMPLED = `00-${TRACE_ID}-b7ad6b7169203331-01`;
const UNSAMPLED = `00-${TRACE_ID}-b7ad6b7169203331-00`;

/** A logger that keeps what it is given. */
function recordingLogger() {
  const lines: { level: 'info' | 'warn'; message: string; extra: Record<string, any> }[] = [];
  const log = {
    info: (message: string, extra: Record<string, any>) => lines.push({ level: 'info', message, extra }),
    warn: (message: string, extra: Record<string, any>) => lines.push({ level: 'warn', message, extra }),
  } as unknown as Logger;
  return { log, lines, spans: () => lines.filter((line) => line.message === 'span').map((line) => line.extra.span) };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('the sampling decision', () => {
  it('follows X-Ray, except that the debug header and the canary are always traced', () => {
    const notSampled = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=0';
    const sampled = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=1';
    expect(sampledRequest({}, notSampled)).toBe(false);
    expect(sampledRequest({}, sampled)).toBe(true);
    expect(sampledRequest({ 'x-debug-trace': '1' }, notSampled)).toBe(true);
    expect(sampledRequest({ 'x-debug-trace': 'yes' }, notSampled)).toBe(false);
    expect(sampledRequest({ 'user-agent': 'TaskFlow-Canary/1.0 (synthetic transaction)' }, notSampled)).toBe(true);
    expect(sampledRequest({ 'user-agent': 'curl/8.5' }, notSampled)).toBe(false);
    // No X-Ray at all (the local runtime): every request.
    expect(sampledRequest({}, undefined)).toBe(true);
  });

  it('travels in the traceparent flags, so the workers a request reaches follow it', () => {
    const dropped = continueTrace(SAMPLED, false);
    expect(dropped).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
    expect(isSampled(dropped)).toBe(false);
    // A worker continues the message's traceparent with its flags as they are.
    expect(isSampled(continueTrace(dropped))).toBe(false);
    expect(isSampled(continueTrace(UNSAMPLED, true))).toBe(true);
    // A new trace, with our decision.
    expect(continueTrace(undefined, false)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});

describe('spans', () => {
  it('of a sampled request are written as they end, each the child of the request\'s own span', async () => {
    const { log, spans } = recordingLogger();
    await traced({ requestId: 'r1', traceparent: SAMPLED }, log, async (finish) => {
      await span('db', 'SELECT 1', { statement: 'SELECT 1' }, async () => ({ rowCount: 1 }), (result) => ({ rows: result.rowCount }));
      expect(spans()).toHaveLength(1);
      finish({ kind: 'invocation', name: 'GET /tasks', failed: false, facts: { status: 200 } });
    });
    expect(spans()).toEqual([
      expect.objectContaining({ kind: 'db', name: 'SELECT 1', rows: 1, outcome: 'ok', parentSpanId: 'b7ad6b7169203331' }),
      expect.objectContaining({ kind: 'invocation', name: 'GET /tasks', status: 200, spanId: 'b7ad6b7169203331' }),
    ]);
  });

  it('of an unsampled request are not written when it went well and fast', async () => {
    const { log, lines } = recordingLogger();
    await traced({ requestId: 'r2', traceparent: UNSAMPLED }, log, async (finish) => {
      await span('dynamodb', 'dynamodb GetItem', {}, async () => ({}));
      finish({ kind: 'invocation', name: 'GET /tasks', failed: false });
    });
    expect(lines).toEqual([]);
  });

  it('of an unsampled request that failed are written after all, with an attention line naming its trace', async () => {
    const { log, lines, spans } = recordingLogger();
    await traced({ requestId: 'r3', traceparent: UNSAMPLED }, log, async (finish) => {
      await span('db', 'UPDATE tasks', {}, () => Promise.reject(new Error('deadlock detected'))).catch(() => undefined);
      finish({ kind: 'invocation', name: 'PATCH /tasks/{taskId}', failed: true, facts: { status: 500 } });
    });
    expect(spans()).toEqual([
      expect.objectContaining({ kind: 'db', name: 'UPDATE tasks', outcome: 'error', error: 'deadlock detected' }),
      expect.objectContaining({ kind: 'invocation', outcome: 'error', status: 500 }),
    ]);
    expect(lines.at(-1)).toEqual({
      level: 'warn',
      message: 'attention',
      extra: expect.objectContaining({ attention: 'failed', traceId: TRACE_ID, sampled: false, status: 500 }),
    });
  });

  it('of an unsampled request slower than a second are written, with an attention line', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { log, lines, spans } = recordingLogger();
    await traced({ requestId: 'r4', traceparent: UNSAMPLED }, log, async (finish) => {
      await span('http', 'POST slack.com/api/chat.postMessage', {}, async () => vi.advanceTimersByTime(1_200));
      finish({ kind: 'message', name: 'slack message', failed: false });
    });
    expect(spans().map((each) => each.kind)).toEqual(['http', 'message']);
    expect(spans()[0].durationMs).toBe(1_200);
    expect(lines.at(-1)!.extra).toMatchObject({ attention: 'slow', durationMs: 1_200 });
  });

  it('of another request\'s work (the relay publishing its entry) go on that request\'s line when it is sampled', () => {
    const child = { info: vi.fn(), setCorrelationId: vi.fn(), appendKeys: vi.fn() };
    const log = { createChild: () => child } as unknown as Logger;
    recordFor({ requestId: 'r5', traceparent: UNSAMPLED }, log, 'outbox', 'relayed to notifications', 0, 10);
    expect(child.info).not.toHaveBeenCalled();
    recordFor({ requestId: 'r5', traceparent: SAMPLED }, log, 'outbox', 'relayed to notifications', 0, 10);
    expect(child.setCorrelationId).toHaveBeenCalledWith('r5');
    expect(child.info).toHaveBeenCalledWith('span', { span: expect.objectContaining({ name: 'relayed to notifications', parentSpanId: 'b7ad6b7169203331' }) });
  });
});

describe('a REST handler', () => {
  it('writes every 5xx answer\'s request id and trace id on an attention line, sampled or not', async () => {
    // Each warning with the correlation id (the request id) the logger puts on its line.
    const warnings: [unknown, unknown, string | undefined][] = [];
    vi.spyOn(logger, 'warn').mockImplementation((...args: unknown[]) => void warnings.push([args[0], args[1], logger.getCorrelationId() as string | undefined]));
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=557abcec3ee5a047;Sampled=0');
    const handler = publicHttpHandler(async () => {
      throw new Error('bug');
    });
    const event = proxyEvent({ route: { method: 'GET', path: '/health' }, path: '/health', pathParameters: null, headers: { 'X-Request-Id': 'req-500', traceparent: SAMPLED }, query: new URLSearchParams(), body: null, sourceIp: '127.0.0.1' });
    const answer = await handler(event, lambdaContext('Health', 5_000));
    vi.unstubAllEnvs();
    expect(answer.statusCode).toBe(500);
    expect(answer.headers?.['X-Request-Id']).toBe('req-500');
    const attention = warnings.find(([message]) => message === 'attention');
    expect(attention?.[1]).toMatchObject({ attention: 'failed', name: 'GET /health', status: 500, traceId: TRACE_ID, sampled: false });
    expect(attention?.[2]).toBe('req-500');
  });
});
