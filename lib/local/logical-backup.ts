import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type pg from 'pg';
import { withClient } from './database';

/**
 * A logical backup of TaskFlow's data: every table of the `public` schema, read in ONE repeatable-read transaction
 * (a consistent point in time while writes go on), as JSON. Why this and not pg_dump or PGlite's dumpDataDir:
 * pg_dump is not on a fresh machine and must match the server's version; dumpDataDir only exists inside the
 * process that holds the embedded database; this works over the wire against both, with the `pg` driver TaskFlow
 * already has. The schema is not in it: it is the code's migrations (restoreBackup migrates a fresh database, then
 * loads the rows, `schema_migrations` too, which the restore checks compare with the code's).
 */
export interface LogicalBackup {
  /** The snapshot's time, by the database's clock: the recovery point. */
  takenAt: string;
  tables: { name: string; columns: string[]; rows: string }[];
}

/** Tables of `public` and their stored columns (generated ones are computed again on load). */
async function tablesOf(client: pg.ClientBase): Promise<{ name: string; columns: string[] }[]> {
  const { rows } = await client.query<{ name: string; columns: string[] }>(
    `SELECT c.relname AS name, array_agg(a.attname::text ORDER BY a.attnum) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      WHERE n.nspname = 'public' AND c.relkind = 'r'
      GROUP BY c.relname ORDER BY c.relname`,
  );
  return rows;
}

const list = (client: pg.ClientBase, columns: readonly string[]) => columns.map((column) => client.escapeIdentifier(column)).join(', ');

export async function takeBackup(databaseUrl: string): Promise<LogicalBackup> {
  return withClient(databaseUrl, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      // The snapshot is taken by the transaction's first query: this one.
      const { rows } = await client.query<{ taken_at: Date }>('SELECT now() AS taken_at');
      const tables = [];
      for (const { name, columns } of await tablesOf(client)) {
        const data = await client.query<{ rows: string }>(
          `SELECT coalesce(json_agg(t), '[]')::text AS rows FROM (SELECT ${list(client, columns)} FROM ${client.escapeIdentifier(name)}) t`,
        );
        tables.push({ name, columns, rows: data.rows[0]!.rows });
      }
      return { takenAt: rows[0]!.taken_at.toISOString(), tables };
    } finally {
      await client.query('COMMIT');
    }
  });
}

/** Loads `backup` into a freshly migrated, empty database, in one transaction. */
export async function restoreBackup(databaseUrl: string, backup: LogicalBackup): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    await client.query('BEGIN');
    try {
      // Rows of every table arrive in one go: foreign keys and triggers are not checked while loading (as pg_restore's
      // data-only mode does); the restore checks look at the result.
      await client.query('SET LOCAL session_replication_role = replica');
      const existing = new Set((await tablesOf(client)).map((table) => table.name));
      const missing = backup.tables.filter((table) => !existing.has(table.name)).map((table) => table.name);
      if (missing.length > 0) throw new Error(`the database has no table ${missing.join(', ')}: migrate it to the backup's schema first`);
      await client.query(`TRUNCATE ${backup.tables.map((table) => client.escapeIdentifier(table.name)).join(', ')}`);
      for (const { name, columns, rows } of backup.tables) {
        const table = client.escapeIdentifier(name);
        await client.query(`INSERT INTO ${table} (${list(client, columns)}) SELECT ${list(client, columns)} FROM json_populate_recordset(null::${table}, $1::json)`, [rows]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  });
}

export async function writeBackup(file: string, backup: LogicalBackup): Promise<number> {
  const bytes = gzipSync(JSON.stringify(backup));
  await writeFile(file, bytes);
  return bytes.length;
}

export async function readBackup(file: string): Promise<LogicalBackup> {
  return JSON.parse(gunzipSync(await readFile(file)).toString('utf8')) as LogicalBackup;
}
