import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';

export interface Migration {
  version: string;
  sql: string;
  checksum: string;
  /** Files named `*.nontx.sql` (one CREATE INDEX CONCURRENTLY or the like) run outside a transaction. */
  transactional: boolean;
}

/** Beside this module in the sources; copied beside the bundle by CDK (see lib/stacks). */
export const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

/** `dir` is a folder URL ending in `/`. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(new URL(name, dir), 'utf8');
      return {
        version: name.replace(/(\.nontx)?\.sql$/, ''),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
        transactional: !name.endsWith('.nontx.sql'),
      };
    }),
  );
}

// Holding this lock only serializes concurrent migrators (two deploys, parallel test workers).
// It is a session lock on the migrator's own short-lived connection, never on an API connection.
const MIGRATION_LOCK = 7_316_001;

/**
 * Applies pending migrations in order and records each in `schema_migrations`. An applied migration
 * whose file has changed is refused: history is fixed, a change is a new migration (review C5).
 */
export async function migrate(client: pg.ClientBase, migrations: Migration[]): Promise<string[]> {
  const applied: string[] = [];
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations');
    const done = new Map(rows.map((row) => [row.version, row.checksum]));
    for (const migration of migrations) {
      const checksum = done.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) throw new Error(`migration ${migration.version} was changed after it was applied`);
        continue;
      }
      await apply(client, migration);
      applied.push(migration.version);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
  return applied;
}

async function apply(client: pg.ClientBase, migration: Migration): Promise<void> {
  const record = () =>
    client.query('INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)', [migration.version, migration.checksum]);
  if (!migration.transactional) {
    // One statement per file: several statements sent together run in an implicit transaction,
    // which CREATE INDEX CONCURRENTLY refuses.
    await client.query(`SET lock_timeout = '5s'; SET statement_timeout = '15min'`);
    const index = CONCURRENT_INDEX.exec(migration.sql)?.[1];
    try {
      // A concurrent build that failed (a lock timeout, a duplicate) leaves its index INVALID: IF NOT EXISTS would then
      // skip it, and an invalid index enforces nothing (ON CONFLICT cannot even use it). Dropped first, built again.
      if (index) await dropIfInvalid(client, index);
      await client.query(migration.sql);
      await record();
    } catch (error) {
      if (index) await dropIfInvalid(client, index).catch(() => undefined);
      throw new Error(`migration ${migration.version} failed: ${(error as Error).message}`, { cause: error });
    } finally {
      await client.query('RESET lock_timeout; RESET statement_timeout');
    }
    return;
  }
  await client.query('BEGIN');
  try {
    // A migration waiting on a lock held by live traffic gives up instead of queueing that traffic behind it.
    await client.query(`SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '5min'`);
    await client.query(migration.sql);
    await record();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw new Error(`migration ${migration.version} failed: ${(error as Error).message}`, { cause: error });
  }
}

const CONCURRENT_INDEX = /CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)/i;

async function dropIfInvalid(client: pg.ClientBase, index: string): Promise<void> {
  const { rowCount } = await client.query(
    'SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1 AND NOT i.indisvalid',
    [index.toLowerCase()],
  );
  if (rowCount) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${client.escapeIdentifier(index.toLowerCase())}`);
}
