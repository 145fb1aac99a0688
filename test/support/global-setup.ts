import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startDatabase } from '../../lib/local/database';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    databaseKind: 'postgresql' | 'pglite';
  }
}

/**
 * One migrated database for the run: a fresh database on the real server named by
 * TASKFLOW_TEST_DATABASE_URL (CI sets it), or the embedded PGlite when it is not set.
 */
export default async function setup(project: TestProject) {
  const serverUrl = process.env.TASKFLOW_TEST_DATABASE_URL;
  if (serverUrl) {
    const name = `taskflow_test_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    await startDatabase({ dataDir: tmpdir(), databaseUrl: url.href });
    project.provide('databaseUrl', url.href);
    project.provide('databaseKind', 'postgresql');
    return async () => {
      const cleanup = new pg.Client({ connectionString: serverUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-test-'));
  const database = await startDatabase({ dataDir });
  project.provide('databaseUrl', database.url);
  project.provide('databaseKind', 'pglite');
  return async () => {
    await database.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
