import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../functions/db/migrator';
import { lintMigrations } from '../../lib/migration-lint';

function folderWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'taskflow-lint-'));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

describe('migration lint (squawk)', () => {
  it('passes the project\'s migrations', () => {
    const result = lintMigrations(fileURLToPath(MIGRATIONS_DIR));
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  });

  it.each([
    ['a dropped column', 'ALTER TABLE tasks DROP COLUMN labels;', 'ban-drop-column'],
    ['a renamed column', 'ALTER TABLE tasks RENAME COLUMN title TO name;', 'renaming-column'],
    ['a NOT NULL column without a default', 'ALTER TABLE tasks ADD COLUMN owner text NOT NULL;', 'adding-required-field'],
    ['a blocking index on an existing table', 'CREATE INDEX tasks_owner_idx ON tasks (created_by);', 'require-concurrent-index-creation'],
  ])('fails %s', (_, sql, rule) => {
    const result = lintMigrations(folderWith({ '0002_change.sql': sql }));
    expect(result.ok).toBe(false);
    expect(result.output).toContain(rule);
  });

  it('accepts the safe forms: a nullable column, and a concurrent index outside a transaction', () => {
    const result = lintMigrations(
      folderWith({
        '0002_owner.sql': 'ALTER TABLE tasks ADD COLUMN owner text;',
        '0003_owner_index.nontx.sql': 'CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_owner_idx ON tasks (owner);',
      }),
    );
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  });
});
