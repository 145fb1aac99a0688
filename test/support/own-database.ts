import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createScratchDatabase, startDatabase } from '../../lib/local/database';

/**
 * A migrated database of the test file's own, so end-to-end files can run side by side without one's schedules,
 * sweeps or counts meeting another's rows: a fresh database on the server named by TASKFLOW_TEST_DATABASE_URL
 * (CI sets it), else an embedded PGlite of its own.
 */
export async function ownDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = process.env.TASKFLOW_TEST_DATABASE_URL;
  if (serverUrl) return createScratchDatabase(serverUrl, prefix.replace(/\W+/g, '_').replace(/_$/, '').toLowerCase());
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const database = await startDatabase({ dataDir });
  return {
    url: database.url,
    async drop() {
      await database.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
