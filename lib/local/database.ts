import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
import { loadMigrations, migrate } from '../../functions/db/migrator';

export interface LocalDatabase {
  url: string;
  /** Migrations applied by this start (empty when the schema was current). */
  applied: string[];
  stop(): Promise<void>;
}

/**
 * PostgreSQL for the local runtime: `databaseUrl` when given (a real server), otherwise PGlite
 * persisted in `dataDir/pgdata` and served over the PostgreSQL wire protocol on loopback, so the
 * handlers use the same `pg` driver as in Lambda. Migrations are applied either way.
 */
export async function startDatabase(options: { dataDir: string; databaseUrl?: string }): Promise<LocalDatabase> {
  if (options.databaseUrl) {
    return { url: options.databaseUrl, applied: await applyMigrations(options.databaseUrl), stop: async () => undefined };
  }
  await mkdir(options.dataDir, { recursive: true });
  const embedded = await PGlite.create(join(options.dataDir, 'pgdata'));
  const port = await freePort();
  const server = new PGLiteSocketServer({ db: embedded, host: '127.0.0.1', port, maxConnections: 100 });
  await server.start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    applied: await applyMigrations(url),
    stop: async () => {
      await server.stop();
      await embedded.close();
    },
  };
}

async function applyMigrations(url: string): Promise<string[]> {
  return withClient(url, async (client) => migrate(client, await loadMigrations()));
}

/** A connection of its own to `url` for `use`, closed afterwards (not the handlers' pool). */
export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** A direct connection to the database at `databaseUrl`, for looking behind the API: one query, its rows. */
export const sqlAt =
  (databaseUrl: string) =>
  <R extends pg.QueryResultRow = any>(text: string, params: unknown[] = []): Promise<R[]> =>
    withClient(databaseUrl, async (client) => (await client.query<R>(text, params)).rows);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** A fresh, migrated database on the server at `serverUrl` (the tests, the benchmark); `drop()` removes it. */
export async function createScratchDatabase(serverUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Date.now()}`;
  const admin = (sql: string) => withClient(serverUrl, async (client) => void (await client.query(sql)));
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await applyMigrations(url.href);
  return { url: url.href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
