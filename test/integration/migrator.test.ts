import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, type Migration } from '../../functions/db/migrator';
import { startDatabase, type LocalDatabase } from '../../lib/local/database';

// A database of its own (embedded), so these migrations never touch the shared test schema.
let dataDir: string;
let database: LocalDatabase;
let client: pg.Client;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'taskflow-migrator-'));
  database = await startDatabase({ dataDir });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});

afterAll(async () => {
  await client.end();
  await database.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const extra = (version: string, sql: string): Migration => ({ version, sql, checksum: version + sql, transactional: true });

describe('migrator', () => {
  it('applied every migration on first start and records each in schema_migrations', async () => {
    const migrations = await loadMigrations();
    expect(database.applied).toEqual(migrations.map((m) => m.version));
    const { rows } = await client.query('SELECT version, checksum FROM schema_migrations ORDER BY version');
    expect(rows).toEqual(migrations.map(({ version, checksum }) => ({ version, checksum })));
    expect(await migrate(client, migrations)).toEqual([]);
  });

  it('applies only what is pending, in order', async () => {
    const migrations = [...(await loadMigrations()), extra('9001_a', 'CREATE TABLE zz_a (id int)'), extra('9002_b', 'ALTER TABLE zz_a ADD COLUMN b text')];
    expect(await migrate(client, migrations)).toEqual(['9001_a', '9002_b']);
    expect((await client.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'zz_a' ORDER BY 1")).rows).toEqual([
      { column_name: 'b' }, { column_name: 'id' },
    ]);
  });

  it('refuses to run when an applied migration was edited', async () => {
    const migrations = [...(await loadMigrations()), extra('9001_a', 'CREATE TABLE zz_a (id bigint)')];
    await expect(migrate(client, migrations)).rejects.toThrow(/9001_a was changed after it was applied/);
  });

  it('runs a `.nontx.sql` migration outside a transaction, as CREATE INDEX CONCURRENTLY needs', async () => {
    const concurrent: Migration = { ...extra('9004_d', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS zz_a_b_idx ON zz_a (b)'), transactional: false };
    const migrations = [...(await loadMigrations()), extra('9001_a', 'CREATE TABLE zz_a (id int)'), extra('9002_b', 'ALTER TABLE zz_a ADD COLUMN b text'), concurrent];
    expect(await migrate(client, migrations)).toEqual(['9004_d']);
    expect((await client.query("SELECT indexname FROM pg_indexes WHERE tablename = 'zz_a'")).rows).toEqual([{ indexname: 'zz_a_b_idx' }]);
    const broken: Migration = { ...extra('9005_e', 'CREATE INDEX CONCURRENTLY zz_nope_idx ON no_such_table (x)'), transactional: false };
    await expect(migrate(client, [...migrations, broken])).rejects.toThrow(/migration 9005_e failed/);
    expect((await client.query('SHOW lock_timeout')).rows[0].lock_timeout).toBe('0'); // settings reset after a failure
  });

  it('builds again an index a failed concurrent build left invalid (IF NOT EXISTS would keep the broken one)', async () => {
    await client.query('CREATE TABLE zz_f (x int)');
    await client.query('CREATE INDEX zz_f_x_idx ON zz_f (x)');
    // What a CREATE INDEX CONCURRENTLY cut short by its lock timeout leaves behind.
    await client.query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'zz_f_x_idx'::regclass");
    const rebuild: Migration = { ...extra('9006_f', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS zz_f_x_idx ON zz_f (x)'), transactional: false };
    expect(await migrate(client, [...(await loadMigrations()), rebuild])).toEqual(['9006_f']);
    const { rows } = await client.query("SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = 'zz_f_x_idx'::regclass");
    expect(rows).toEqual([{ valid: true }]);
  });

  it('rolls back a failing migration whole and does not record it', async () => {
    const failing = extra('9003_c', 'CREATE TABLE zz_c (id int); INSERT INTO no_such_table VALUES (1);');
    const migrations = [...(await loadMigrations()), extra('9001_a', 'CREATE TABLE zz_a (id int)'), extra('9002_b', 'ALTER TABLE zz_a ADD COLUMN b text'), failing];
    await expect(migrate(client, migrations)).rejects.toThrow(/migration 9003_c failed/);
    expect((await client.query("SELECT to_regclass('zz_c') AS t")).rows[0].t).toBeNull();
    expect((await client.query("SELECT count(*)::int AS n FROM schema_migrations WHERE version = '9003_c'")).rows[0].n).toBe(0);
  });
});
