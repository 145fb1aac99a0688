import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const squawk = resolve(import.meta.dirname, '../node_modules/.bin/squawk');

// The runner (functions/db/migrator.ts) sets lock_timeout and statement_timeout around every
// migration, so a file need not repeat them.
const EXCLUDED = ['require-lock-timeout', 'require-statement-timeout'];

/**
 * Lints migrations with squawk (review C5): an unsafe change — dropping or renaming a column, a
 * NOT NULL column without a default, a blocking index build on an existing table — fails.
 * Files run in a transaction are linted as such; `*.nontx.sql` ones as run outside of one.
 */
export function lintMigrations(dir: string): { ok: boolean; output: string } {
  const files = readdirSync(dir).filter((name) => name.endsWith('.sql')).sort();
  const groups = [
    { files: files.filter((f) => !f.endsWith('.nontx.sql')), flags: ['--assume-in-transaction'] },
    { files: files.filter((f) => f.endsWith('.nontx.sql')), flags: [] },
  ];
  let ok = true;
  let output = '';
  for (const group of groups.filter((g) => g.files.length > 0)) {
    const run = spawnSync(
      squawk,
      ['--reporter', 'gcc', `--exclude=${EXCLUDED.join(',')}`, ...group.flags, ...group.files.map((f) => join(dir, f))],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    if (run.error) throw run.error;
    ok &&= run.status === 0;
    output += run.stdout + run.stderr;
  }
  return { ok, output };
}
