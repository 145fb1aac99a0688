import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { loadMigrations } from '../../functions/db/migrator';
import { runRestoreChecks, type CheckResult } from '../../functions/domain/restore-checks';
import { createActivityFeed, type FeedEvent, type WebSocketConstructor } from '../client/activity-feed';
import { sqlAt, startDatabase, withClient } from './database';
import { readBackup, restoreBackup, takeBackup, writeBackup } from './logical-backup';
import { startLocalRuntime, type LocalRuntime } from './runtime';

export interface DrillOptions {
  /** The local runtime's data folder (its embedded database is the one destroyed, unless `databaseUrl`). */
  dataDir: string;
  /** A PostgreSQL database to drill on instead: its `public` schema is destroyed and restored. */
  databaseUrl?: string;
  /** Concurrent writers (each creates tasks as fast as the API answers). Default 4. */
  writers?: number;
  /** How long the writes run before the backup, and after it until the disaster. Default 5 s each. */
  writeMs?: number;
  log?: (line: string) => void;
}

export interface DrillReport {
  /** The backup's snapshot time: the recovery point. */
  recoveryPoint: string;
  disasterAt: string;
  /** Measured RPO: the recovery point's age at the disaster, and the events committed in between (lost). */
  rpoSeconds: number;
  lostEvents: number;
  /** Measured RTO: from the disaster to the runtime answering /health on the restored database. */
  rtoSeconds: number;
  phases: { restoreSeconds: number; checksSeconds: number; restartSeconds: number };
  backup: { file: string; bytes: number; events: number };
  writes: { made: number; refused: number };
  checks: CheckResult[];
  /**
   * Entries the recovery point had not published (SQS refuses sends for the second before the backup), and whether the
   * restarted runtime published them all.
   */
  outbox: { unpublishedAtRestore: number; publishedAfterRestore: boolean };
  /** A feed client that had events the restore lost: ahead of the server, then back in step. */
  feed: { clientSeqAtDisaster: number; headSeqAfterRestore: number; newEventsAfterRestore: number; newEventsDelivered: number; resynced: boolean };
}

const seconds = (from: number, to: number) => Math.round(to - from) / 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(100);
  }
  return false;
}

/**
 * The restore drill (review M9), on this machine: writes run through the API while a backup is taken (a logical one,
 * lib/local/logical-backup.ts), the database is destroyed, restored from the backup into a fresh one, checked
 * (functions/domain/restore-checks.ts), and the runtime restarted on it; what was measured and what a client saw is
 * returned. Everything but PostgreSQL (DynamoDB, S3) keeps its data, as it would in AWS where they have their own backups.
 */
export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const log = options.log ?? (() => undefined);
  const writers = options.writers ?? 4;
  const writeMs = options.writeMs ?? 5_000;
  await mkdir(join(options.dataDir, 'backups'), { recursive: true });
  // Where the database is: the data folder's embedded one, or DATABASE_URL's server.
  const where = { dataDir: options.dataDir, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) };
  const runtime: LocalRuntime = await startLocalRuntime({
    port: 0, wsPort: 0, ...where, schedules: false, rateLimitScale: 10,
  });
  let running = true;
  const ports = { port: Number(new URL(runtime.url).port), wsPort: Number(new URL(runtime.websocketUrl).port) };
  const org = `org_drill_${randomUUID().slice(0, 8)}`;
  const token = await runtime.issuer.mint({ org, user: 'user_drill', role: 'admin' });
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...(method === 'GET' ? {} : { 'Idempotency-Key': randomUUID() }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
  };
  const sql = sqlAt(runtime.databaseUrl);

  try {
    await api('GET', '/projects');
    // The drill's writes are many more than a free plan's tasks.
    await sql("UPDATE organizations SET plan = 'enterprise' WHERE id = $1", [org]);
    const project = await api('POST', '/projects', { name: 'Restore drill' });
    if (project.status !== 201) throw new Error(`creating the drill's project answered ${project.status}`);

    // A client of the feed, there before and after the disaster.
    const delivered: FeedEvent[] = [];
    const feedErrors = new Set<string>();
    const feed = createActivityFeed({
      url: runtime.websocketUrl,
      token,
      apiUrl: runtime.url,
      clientId: 'drill',
      afterSeq: 0,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      backoff: { initialMs: 100, maxMs: 1_000 },
      gapTimeoutMs: 500,
      onEvent: (event) => void delivered.push(event),
      // While the runtime is down it reports every reconnect: each kind of message once is enough.
      onError: (error) => {
        const message = (error as Error).message.replace(/\d+/g, 'N');
        if (!feedErrors.has(message)) log(`  feed client: ${(error as Error).message}`);
        feedErrors.add(message);
      },
    });
    feed.start();

    const writes = { made: 0, refused: 0 };
    let writing = true;
    const writeLoops = Array.from({ length: writers }, async (_, writer) => {
      for (let n = 0; writing; n += 1) {
        const answer = await api('POST', `/projects/${project.body.id}/tasks`, { title: `drill ${writer}.${n}` }).catch(() => ({ status: 0 }));
        if (answer.status === 201) writes.made += 1;
        else writes.refused += 1;
      }
    });

    log(`writing with ${writers} writers…`);
    await sleep(writeMs);
    // SQS refuses sends for the second before the backup (and no relay runs here): the writes of that second are in the
    // backup with their outbox entries unpublished, which the restored runtime must publish.
    runtime.sqs.faults.failSends = true;
    await sleep(1_000);
    const backup = await takeBackup(runtime.databaseUrl);
    runtime.sqs.faults.failSends = false;
    const file = join(options.dataDir, 'backups', `drill-${backup.takenAt.replace(/[:.]/g, '-')}.json.gz`);
    const bytes = await writeBackup(file, backup);
    const rowsOf = <R>(table: string) => JSON.parse(backup.tables.find((t) => t.name === table)!.rows) as R[];
    const backupEvents = rowsOf('event_log').length;
    log(`backup taken at ${backup.takenAt} while writing: ${(bytes / 1024).toFixed(0)} KB, ${backupEvents} events, ${file}`);
    await sleep(writeMs);
    writing = false;
    await Promise.all(writeLoops);
    const [{ events: liveEvents, head }] = await sql<{ events: string; head: string }>(
      'SELECT (SELECT count(*) FROM event_log) AS events, (SELECT event_seq FROM organizations WHERE id = $1) AS head',
      [org],
    ) as [{ events: string; head: string }];
    await waitFor('the feed client to catch up', () => (feed.lastSeq ?? 0) >= Number(head), 15_000);
    const clientSeqAtDisaster = feed.lastSeq ?? 0;

    // The disaster: the runtime goes down and its database with it.
    await runtime.stop();
    running = false;
    const disasterAt = Date.now();
    if (options.databaseUrl) {
      await withClient(options.databaseUrl, (c) => c.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public'));
    } else {
      await rm(join(options.dataDir, 'pgdata'), { recursive: true, force: true });
    }
    log(`database destroyed (${Number(liveEvents) - backupEvents} events committed after the backup are lost with it)`);

    // The restore, into a fresh database: migrated to the code's schema, then the backup's rows.
    const fresh = await startDatabase(where);
    let checks: CheckResult[];
    let restoredAt: number;
    let checkedAt: number;
    try {
      await restoreBackup(fresh.url, await readBackup(file));
      restoredAt = Date.now();
      const migrations = await loadMigrations();
      checks = await withClient(fresh.url, (c) => runRestoreChecks(c, migrations));
      checkedAt = Date.now();
    } finally {
      await fresh.stop();
    }
    for (const check of checks) log(`check ${check.name}: ${check.ok ? 'ok' : check.problems.join('; ')}`);
    const restoredHead = Number(rowsOf<{ id: string; event_seq: number }>('organizations').find((row) => row.id === org)!.event_seq);
    const unpublishedAtRestore = rowsOf<{ published_at: string | null }>('outbox').filter((entry) => entry.published_at === null).length;

    // Back in service: `npm start` in a process of its own (a restart is a new process; this one's function modules
    // keep the first runtime's clients), on the same ports, so the feed client finds it where it was.
    const restarted = await startRuntimeProcess({ ...ports, ...where });
    let recoveredAt: number;
    let newIds: Set<string>;
    let got: () => number;
    let resynced: boolean;
    try {
      if (!(await waitFor('/health', async () => (await fetch(`${runtime.url}/health`).catch(() => undefined))?.status === 200, 60_000))) {
        throw new Error(`the restarted runtime did not answer /health: ${restarted.output()}`);
      }
      recoveredAt = Date.now();
      log(`runtime back at ${runtime.url}`);
      // Writes after the restore take the numbers of the events that were lost: the client must get them all.
      for (let n = 0; n < 5; n += 1) {
        const answer = await api('POST', `/projects/${project.body.id}/tasks`, { title: `after restore ${n}` });
        if (answer.status !== 201) log(`a write after the restore answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      }
      const page = await api('GET', `/activity?afterSeq=${restoredHead}&limit=100`);
      newIds = new Set((page.body?.events ?? []).map((event: FeedEvent) => event.id));
      got = () => delivered.filter((event) => newIds.has(event.id)).length;
      resynced = newIds.size > 0 && (await waitFor('the feed client to resynchronize', () => got() === newIds.size, 30_000));
      feed.stop();
      // The relay ran at the restart; a few seconds more for an entry still leased by a fast path.
      await sleep(3_000);
    } finally {
      await restarted.stop();
    }
    // What the recovery point had not published, the restarted runtime's outbox relay did.
    const after = await startDatabase(where);
    const unpublishedLeft = await withClient(after.url, async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL')).rows[0]!.n)).finally(() => after.stop());
    const publishedAfterRestore = unpublishedLeft === 0;
    log(`outbox: ${unpublishedAtRestore} entries unpublished at the recovery point, ${unpublishedLeft} left after the restart`);

    return {
      recoveryPoint: backup.takenAt,
      disasterAt: new Date(disasterAt).toISOString(),
      rpoSeconds: seconds(Date.parse(backup.takenAt), disasterAt),
      lostEvents: Number(liveEvents) - backupEvents,
      rtoSeconds: seconds(disasterAt, recoveredAt),
      phases: { restoreSeconds: seconds(disasterAt, restoredAt), checksSeconds: seconds(restoredAt, checkedAt), restartSeconds: seconds(checkedAt, recoveredAt) },
      backup: { file, bytes, events: backupEvents },
      writes,
      checks,
      outbox: { unpublishedAtRestore, publishedAfterRestore },
      feed: { clientSeqAtDisaster, headSeqAfterRestore: restoredHead, newEventsAfterRestore: newIds.size, newEventsDelivered: got(), resynced },
    };
  } finally {
    if (running) await runtime.stop();
  }
}

/** `npm start` (bin/local.ts) in a child process on the given ports; `stop()` sends it SIGTERM and waits for it. */
async function startRuntimeProcess(options: { port: number; wsPort: number; dataDir: string; databaseUrl?: string }) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: {
      ...process.env,
      PORT: String(options.port),
      WS_PORT: String(options.wsPort),
      SQS_PORT: '0',
      S3_PORT: '0',
      SANDBOX_PORT: '0',
      TASKFLOW_DATA_DIR: options.dataDir,
      RATE_LIMIT_SCALE: '10',
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => void (errors = (errors + chunk.toString()).slice(-2_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    output: () => errors,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
