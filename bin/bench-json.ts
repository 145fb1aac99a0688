// `npm run bench -- --json FILE`: every figure of the run as one JSON document, to compare between commits.
// The shape is documented in the README's benchmark section; test/unit/bench-json.test.ts holds it to that.
import { writeFile } from 'node:fs/promises';
import type { FeedLatency } from './bench-feed';

export interface OperationFigures {
  p50Ms: number;
  p95Ms: number;
  /** Database round trips, the most any one request made. */
  trips: number;
  /** The equivalent statement on a bare `pg` client, same server, same minute (not every operation has one). */
  barePgP50Ms?: number;
}

export interface BenchFigures {
  operations: Record<string, OperationFigures>;
  costPerMillion: { read: number; mutation: number; mutationNotifying: number; feedEvent100: number; floor: number };
  rateLimitWritesPerRequest: number;
  feed: FeedLatency[];
  stacks: { name: string; resources: number; templateKb: number }[];
  bundles: { name: string; kb: number; initMs: number }[];
}

const round = (n: number, digits = 3) => Number(n.toFixed(digits));

/** The document `--json` writes: nested objects, every figure a number (ms, KB, US dollars per million requests). */
export function benchJson(figures: BenchFigures) {
  const ratio = Object.fromEntries(
    Object.entries(figures.operations).flatMap(([name, op]) => (op.barePgP50Ms ? [[name, round(op.p50Ms / op.barePgP50Ms, 2)]] : [])),
  );
  return {
    operations: Object.fromEntries(
      Object.entries(figures.operations).map(([name, op]) => [name, { p50Ms: round(op.p50Ms), p95Ms: round(op.p95Ms), trips: op.trips, ...(op.barePgP50Ms ? { barePgP50Ms: round(op.barePgP50Ms) } : {}) }]),
    ),
    ratio,
    costPerMillion: Object.fromEntries(Object.entries(figures.costPerMillion).map(([kind, dollars]) => [kind, round(dollars, 4)])),
    rateLimitWritesPerRequest: round(figures.rateLimitWritesPerRequest),
    feed: Object.fromEntries(figures.feed.map(({ connections, p50Ms, p99Ms, maxMs }) => [`c${connections}`, { p50Ms: round(p50Ms, 1), p99Ms: round(p99Ms, 1), maxMs: round(maxMs, 1) }])),
    stacks: Object.fromEntries(figures.stacks.map(({ name, resources, templateKb }) => [name, { resources, templateKb: round(templateKb, 1) }])),
    bundles: Object.fromEntries(figures.bundles.map(({ name, kb, initMs }) => [name, { kb: round(kb, 1), initMs: round(initMs, 1) }])),
  };
}

export async function writeBenchJson(file: string, figures: BenchFigures): Promise<void> {
  await writeFile(file, `${JSON.stringify(benchJson(figures), null, 2)}\n`);
}
