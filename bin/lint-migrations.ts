// Part of `npm test`: fails on a migration that is unsafe to run against a live database.
import { fileURLToPath } from 'node:url';
import { MIGRATIONS_DIR } from '../functions/db/migrator';
import { lintMigrations } from '../lib/migration-lint';

const { ok, output } = lintMigrations(fileURLToPath(MIGRATIONS_DIR));
process.stdout.write(output);
if (!ok) {
  console.error('Unsafe migration: see docs/migrations.md for the expand/contract way to make this change.');
  process.exit(1);
}
console.log('Migrations pass squawk.');
