import type { Migration } from '../db/migrator';

/** What the checks need of a connection: `pg`'s Client and PoolClient both are one. */
export interface Queryable {
  query<R extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface CheckResult {
  name: RestoreCheck;
  ok: boolean;
  /** Empty when the check passed; otherwise what was found, a few examples at most. */
  problems: string[];
}

export type RestoreCheck = 'migrations' | 'eventLog' | 'outbox' | 'counts';

/** Examples per failed check: enough to start from, small enough for a log line and AWS Backup's message. */
const EXAMPLES = 5;

/**
 * TaskFlow's own checks of a restored database (review M9), beyond "PostgreSQL starts": a restore that loses a
 * table's tail, mixes two points in time or comes from the wrong schema fails here. Each reads the whole database in
 * aggregate queries, so a weekly run on a restored copy costs nothing to production. Run in one REPEATABLE READ
 * transaction by the caller when the database takes writes (the local drill checks a live copy).
 */
const RESTORE_CHECKS: Record<RestoreCheck, (db: Queryable, migrations: readonly Migration[]) => Promise<string[]>> = {
  /** The applied migrations are exactly the code's, with the same checksums: the restore is of this schema. */
  async migrations(db, migrations) {
    const { rows } = await db.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations ORDER BY version');
    const applied = new Map(rows.map((row) => [row.version, row.checksum]));
    const problems: string[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.version);
      if (checksum === undefined) problems.push(`migration ${migration.version} is not applied`);
      else if (checksum !== migration.checksum) problems.push(`migration ${migration.version} was applied from another file`);
      applied.delete(migration.version);
    }
    for (const version of applied.keys()) problems.push(`migration ${version} is applied but not in the code`);
    return problems;
  },

  /**
   * Each organization's event_log is 1..n without a hole, and its counter (organizations.event_seq, taken in the same
   * statement as the event) is n: a counter behind the log would hand out numbers already used (every write of the
   * organization fails), ahead of it a lost tail. Nothing deletes from event_log, so a hole is a lost row.
   */
  async eventLog(db) {
    const { rows } = await db.query<{ organization_id: string; counter: string; events: string; first_seq: string | null; last_seq: string | null }>(
      `SELECT o.id AS organization_id, o.event_seq AS counter, count(e.seq) AS events, min(e.seq) AS first_seq, max(e.seq) AS last_seq
         FROM organizations o LEFT JOIN event_log e ON e.organization_id = o.id
        GROUP BY o.id, o.event_seq
       HAVING count(e.seq) <> o.event_seq OR coalesce(max(e.seq), 0) <> o.event_seq OR coalesce(min(e.seq), 1) <> 1
        ORDER BY o.id LIMIT ${EXAMPLES}`,
    );
    const orphans = await db.query<{ organization_id: string }>(
      `SELECT DISTINCT e.organization_id FROM event_log e LEFT JOIN organizations o ON o.id = e.organization_id
        WHERE o.id IS NULL LIMIT ${EXAMPLES}`,
    );
    return [
      ...rows.map(
        (row) =>
          `organization ${row.organization_id}: counter at ${row.counter}, ${row.events} events from ${row.first_seq ?? '-'} to ${row.last_seq ?? '-'}`,
      ),
      ...orphans.rows.map((row) => `events of organization ${row.organization_id}, which does not exist`),
    ];
  },

  /**
   * Every outbox entry is about an event that exists, of the same organization (an orphan would be published
   * about nothing, or the restore holds an outbox newer than its log), and its bookkeeping is possible: published
   * after it was written, never a negative count of attempts. Order across entries is not checked: the outbox never
   * promised it (the fast path publishes as requests finish; consumers take each event once by its id).
   */
  async outbox(db) {
    const orphans = await db.query<{ id: string; event_id: string }>(
      `SELECT x.id, x.event_id FROM outbox x
         LEFT JOIN event_log e ON e.id = x.event_id AND e.organization_id = x.organization_id
        WHERE e.id IS NULL ORDER BY x.created_at LIMIT ${EXAMPLES}`,
    );
    const impossible = await db.query<{ id: string }>(
      `SELECT id FROM outbox WHERE attempts < 0 OR published_at < created_at ORDER BY created_at LIMIT ${EXAMPLES}`,
    );
    return [
      ...orphans.rows.map((row) => `outbox entry ${row.id} refers to event ${row.event_id}, which its organization does not have`),
      ...impossible.rows.map((row) => `outbox entry ${row.id} was published before it was written, or has negative attempts`),
    ];
  },

  /**
   * Each organization's quota counters (the plan's limits are enforced on them) are not negative and equal the rows
   * they count: projects not deleted, tasks (a deleted project's too until they are removed), attachments' bytes.
   * A table restored to another point in time than the organizations table shows up here.
   */
  async counts(db) {
    const { rows } = await db.query<{ id: string; project_count: string; projects: string; task_count: string; tasks: string; storage_bytes: string; bytes: string }>(
      `SELECT o.id, o.project_count, p.projects, o.task_count, t.tasks, o.storage_bytes, a.bytes
         FROM organizations o
         CROSS JOIN LATERAL (SELECT count(*) AS projects FROM projects WHERE organization_id = o.id AND deleted_at IS NULL) p
         CROSS JOIN LATERAL (SELECT count(*) AS tasks FROM tasks WHERE organization_id = o.id) t
         CROSS JOIN LATERAL (SELECT coalesce(sum(size), 0) AS bytes FROM attachments WHERE organization_id = o.id) a
        WHERE o.project_count < 0 OR o.task_count < 0 OR o.storage_bytes < 0
           OR o.project_count <> p.projects OR o.task_count <> t.tasks OR o.storage_bytes <> a.bytes
        ORDER BY o.id LIMIT ${EXAMPLES}`,
    );
    return rows.map(
      (row) =>
        `organization ${row.id}: counts ${row.project_count} projects, ${row.task_count} tasks, ${row.storage_bytes} bytes; ` +
        `holds ${row.projects}, ${row.tasks}, ${row.bytes}`,
    );
  },
};

/** Every check, in order; a check that throws (a table missing) fails with the error as its problem. */
export async function runRestoreChecks(db: Queryable, migrations: readonly Migration[]): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, check] of Object.entries(RESTORE_CHECKS) as [RestoreCheck, (typeof RESTORE_CHECKS)[RestoreCheck]][]) {
    const problems = await check(db, migrations).catch((error: unknown) => [`the check failed: ${(error as Error).message}`]);
    results.push({ name, ok: problems.length === 0, problems });
  }
  return results;
}

/** One line for a log or AWS Backup's validation message (which takes at most 1,000 characters). */
export function summarize(results: readonly CheckResult[]): string {
  const failed = results.filter((result) => !result.ok);
  if (failed.length === 0) return `all ${results.length} checks passed (${results.map((result) => result.name).join(', ')})`;
  return failed.map((result) => `${result.name}: ${result.problems.join('; ')}`).join(' | ').slice(0, 1000);
}
