import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalServices } from '../../lib/capabilities/capability';

// Issue 13: the local runtime runs many functions' invocations at once in one process, where TaskFlow's handlers
// share one logger. Each invocation's lines must carry its own function's name and correlation id (the runbooks
// search logs by them), also while invocations of different functions overlap.

let local: typeof import('../../lib/local/functions');
let proxy: typeof import('../../lib/local/proxy-event');
let lines: Record<string, unknown>[];

// A function without capabilities or queues reads nothing else of the services.
const services = { sqs: { names: [] } } as unknown as LocalServices;

beforeAll(async () => {
  // The logger takes its level from the environment when the function's modules load, as in Lambda.
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  vi.resetModules();
  local = await import('../../lib/local/functions');
  proxy = await import('../../lib/local/proxy-event');
});

afterEach(() => {
  vi.restoreAllMocks();
  globalThis.loggingProbeGate = undefined;
});

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
});
