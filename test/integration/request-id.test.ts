import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

let api: typeof import('../support/api');
let lines: Record<string, unknown>[];

beforeAll(async () => {
  // The logger takes its level from the environment when the function's modules load, as in Lambda.
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
  vi.resetModules();
  api = await import('../support/api');
});

beforeEach(() => {
  lines = [];
  const capture = (chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line.startsWith('{')) lines.push(JSON.parse(line));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('X-Request-Id', () => {
  it('echoes the caller\'s id on success and on errors, and every log line carries it', async () => {
    const alice = api.newCaller();
    const ok = await api.invoke('listProjects', alice, { headers: { 'X-Request-Id': 'client-req-1' } });
    const bad = await api.invoke('createProject', alice, { body: '{', headers: { 'x-request-id': 'client-req-2' } });
    expect(ok.headers['x-request-id']).toBe('client-req-1');
    expect(bad.headers['x-request-id']).toBe('client-req-2');
    expect(bad.body.requestId).toBe('client-req-2');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(['client-req-1', 'client-req-2']).toContain(line.correlation_id);
    expect(lines.find((l) => l.correlation_id === 'client-req-2')).toMatchObject({ level: 'INFO', code: 'MALFORMED_JSON' });
  });

  it('replaces a caller id that is not a sane token (too long, spaces, control characters)', async () => {
    const alice = api.newCaller();
    for (const sent of ['x'.repeat(129), 'has spaces', 'line\nbreak']) {
      const response = await api.invoke('listProjects', alice, { headers: { 'x-request-id': sent } });
      expect(response.headers['x-request-id']).not.toBe(sent);
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('generates an id when the caller sends none and logs every line under it', async () => {
    const alice = api.newCaller();
    const response = await api.invoke('listProjects', alice);
    const generated = response.headers['x-request-id'];
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.correlation_id).toBe(generated);
  });
});
