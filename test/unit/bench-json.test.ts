import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeBenchJson, type BenchFigures } from '../../bin/bench-json';

const figures: BenchFigures = {
  operations: {
    createTask: { p50Ms: 8.123456, p95Ms: 12, trips: 2, barePgP50Ms: 0.7 },
    getTask: { p50Ms: 1.2, p95Ms: 2, trips: 1, barePgP50Ms: 0.4 },
    updateTask: { p50Ms: 9, p95Ms: 14, trips: 2 },
  },
  costPerMillion: { read: 4.1, mutation: 5.2, mutationNotifying: 6.3, feedEvent100: 101.4, floor: 3.5 },
  rateLimitWritesPerRequest: 0.25,
  feed: [
    { connections: 1000, p50Ms: 100, p99Ms: 300, maxMs: 400 },
    { connections: 10000, p50Ms: 200, p99Ms: 800, maxMs: 900 },
  ],
  stacks: [{ name: 'TaskFlow-Data', resources: 158, templateKb: 88.94 }],
  bundles: [{ name: 'ApiGetTask', kb: 180.2, initMs: 40.1 }],
};

// The keys the README's benchmark section documents (issue 16's contract), each a number.
const DOCUMENTED = [
  'ratio.getTask', 'ratio.createTask',
  'costPerMillion.read', 'costPerMillion.mutation', 'costPerMillion.mutationNotifying', 'costPerMillion.feedEvent100', 'costPerMillion.floor',
  'rateLimitWritesPerRequest',
  'feed.c1000.p50Ms', 'feed.c1000.p99Ms', 'feed.c1000.maxMs', 'feed.c10000.p99Ms',
  'stacks.TaskFlow-Data.resources', 'stacks.TaskFlow-Data.templateKb',
  'bundles.ApiGetTask.kb', 'bundles.ApiGetTask.initMs',
  'operations.createTask.p50Ms', 'operations.createTask.barePgP50Ms', 'operations.getTask.trips',
];

const at = (document: unknown, path: string) => path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], document);

describe('npm run bench -- --json FILE', () => {
  it('writes every documented key as a number, nested, the ratio TaskFlow p50 over bare pg p50', async () => {
    const file = join(tmpdir(), `bench-json-${process.pid}.json`);
    try {
      await writeBenchJson(file, figures);
      const document = JSON.parse(await readFile(file, 'utf8')) as unknown;
      for (const path of DOCUMENTED) expect(typeof at(document, path), path).toBe('number');
      expect(at(document, 'ratio.getTask')).toBe(3);
      expect(at(document, 'ratio.createTask')).toBe(11.6);
      // No bare statement, no ratio.
      expect(at(document, 'ratio.updateTask')).toBeUndefined();
      expect(at(document, 'feed.c10000.p99Ms')).toBe(800);
    } finally {
      await rm(file, { force: true });
    }
  });
});
