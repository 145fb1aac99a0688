import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDrill } from '../../lib/local/drill';
import { ownDatabase } from '../support/own-database';

// `npm run drill`, short: writes during a backup, the database destroyed and restored, the checks, a restart, the
// outbox published and a feed client ahead of the restored server brought back in step (review M9).
let database: Awaited<ReturnType<typeof ownDatabase>>;
let dataDir: string;

beforeAll(async () => {
  database = await ownDatabase('taskflow_e2e_drill');
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-drill-'));
});

afterAll(async () => {
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

it('restores a backup taken under writes, measures RTO and RPO, and a client ahead of the server resynchronizes', async () => {
  const report = await runDrill({ dataDir, databaseUrl: database.url, writers: 2, writeMs: 1_500 });
  console.log(`drill: RPO ${report.rpoSeconds} s (${report.lostEvents} events lost), RTO ${report.rtoSeconds} s`, report.phases, report.outbox, report.feed);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.checks.map((check) => check.name)).toEqual(['migrations', 'eventLog', 'outbox', 'counts']);
  expect(report.rpoSeconds).toBeGreaterThan(0);
  expect(report.rtoSeconds).toBeGreaterThan(0);
  expect(report.backup.events).toBeGreaterThan(0);
  // Writes went on after the backup: the client had events the restored database does not.
  expect(report.lostEvents).toBeGreaterThan(0);
  expect(report.feed.clientSeqAtDisaster).toBeGreaterThan(report.feed.headSeqAfterRestore);
  expect(report.feed).toMatchObject({ resynced: true, newEventsAfterRestore: 5, newEventsDelivered: 5 });
  expect(report.outbox.unpublishedAtRestore).toBeGreaterThan(0);
  expect(report.outbox.publishedAfterRestore).toBe(true);
}, 60_000);
