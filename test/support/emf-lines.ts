import { afterAll, beforeAll, vi } from 'vitest';

/**
 * Turns the metrics on for this test file and collects every Embedded Metric Format line written to stdout. Call it
 * before the file's own beforeAll, which then imports the modules under test (reloaded, so they see metrics on).
 */
export function emfLines(): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  beforeAll(() => {
    delete process.env.POWERTOOLS_METRICS_DISABLED; // the metrics module reads it when it loads
    vi.resetModules();
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      for (const line of String(chunk).split('\n')) if (line.startsWith('{') && line.includes('_aws')) lines.push(JSON.parse(line));
      return true;
    });
  });
  afterAll(() => {
    vi.restoreAllMocks();
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  });
  return lines;
}
