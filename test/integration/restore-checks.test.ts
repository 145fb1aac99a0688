import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations, type Migration } from '../../functions/db/migrator';
import { runRestoreChecks, type CheckResult, type RestoreCheck } from '../../functions/domain/restore-checks';
import { withClient } from '../../lib/local/database';
import { ownDatabase } from '../support/own-database';
import { sqlAt } from '../support/sql';

// A database of its own: the checks read every organization, and the run's shared database holds other files' rows.
let database: Awaited<ReturnType<typeof ownDatabase>>;
let sql: ReturnType<typeof sqlAt>;
let migrations: Migration[];

const failed = (results: CheckResult[]) => Object.fromEntries(results.filter((r) => !r.ok).map((r) => [r.name, r.problems]));
const check = (): Promise<CheckResult[]> => withClient(database.url, (client) => runRestoreChecks(client, migrations));
const onlyFailing = async (name: RestoreCheck, pattern: RegExp) => {
  const problems = failed(await check());
  expect(Object.keys(problems)).toEqual([name]);
  expect(problems[name]!.join('\n')).toMatch(pattern);
};

beforeAll(async () => {
  database = await ownDatabase('restore_checks');
  sql = sqlAt(database.url);
  migrations = await loadMigrations();
});
afterAll(() => database?.drop());

// The code's migrations, and one organization as TaskFlow's mutations leave it: a project, a task with an attachment, their three events, one
// outbox entry published and one not.
beforeEach(async () => {
  await sql(`TRUNCATE organizations, users, memberships, projects, tasks, attachments, event_log, outbox, schema_migrations CASCADE`);
  for (const { version, checksum } of migrations) await sql('INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)', [version, checksum]);
  await sql(`INSERT INTO users (id) VALUES ('u1')`);
  await sql(`INSERT INTO organizations (id, event_seq, project_count, task_count, storage_bytes) VALUES ('o1', 3, 1, 1, 100)`);
  await sql(`INSERT INTO memberships (organization_id, user_id) VALUES ('o1', 'u1')`);
  await sql(`INSERT INTO projects (id, organization_id, name, created_by) VALUES ('00000000-0000-4000-8000-000000000001', 'o1', 'P', 'u1')`);
  await sql(`INSERT INTO tasks (id, organization_id, project_id, title, created_by)
             VALUES ('00000000-0000-4000-8000-000000000002', 'o1', '00000000-0000-4000-8000-000000000001', 'T', 'u1')`);
  await sql(`INSERT INTO attachments (id, organization_id, task_id, s3_key, file_name, content_type, size, uploaded_by)
             VALUES (gen_random_uuid(), 'o1', '00000000-0000-4000-8000-000000000002', 'files/a', 'a.txt', 'text/plain', 100, 'u1')`);
  await sql(`INSERT INTO event_log (organization_id, seq, id, type, subject_id, actor_id, payload) VALUES
             ('o1', 1, '00000000-0000-4000-9000-000000000001', 'project.created', '00000000-0000-4000-8000-000000000001', 'u1', '{}'),
             ('o1', 2, '00000000-0000-4000-9000-000000000002', 'task.created', '00000000-0000-4000-8000-000000000002', 'u1', '{}'),
             ('o1', 3, '00000000-0000-4000-9000-000000000003', 'attachment.added', '00000000-0000-4000-8000-000000000002', 'u1', '{}')`);
  await sql(`INSERT INTO outbox (organization_id, event_id, destination, body, published_at) VALUES
             ('o1', '00000000-0000-4000-9000-000000000002', 'notifications', '{}', now() + interval '1 second'),
             ('o1', '00000000-0000-4000-9000-000000000003', 'broadcast', '{}', NULL)`);
});

describe('restore checks', () => {
  it('pass on a consistent database', async () => {
    const results = await check();
    expect(failed(results)).toEqual({});
    expect(results.map((r) => r.name)).toEqual(['migrations', 'eventLog', 'outbox', 'counts']);
  });

  it('fail on a missing migration row', async () => {
    await sql(`DELETE FROM schema_migrations WHERE version = $1`, [migrations.at(-1)!.version]);
    await onlyFailing('migrations', new RegExp(`migration ${migrations.at(-1)!.version} is not applied`));
  });

  it('fail on a migration the code does not have, or applied from another file', async () => {
    await sql(`UPDATE schema_migrations SET checksum = 'x' WHERE version = $1`, [migrations[0]!.version]);
    await sql(`INSERT INTO schema_migrations (version, checksum) VALUES ('9999_future', 'y')`);
    await onlyFailing('migrations', /0001_core was applied from another file[\s\S]*9999_future is applied but not in the code/);
  });

  it('fail on a gap in an organization\'s event_log', async () => {
    await sql(`DELETE FROM outbox`);
    await sql(`DELETE FROM event_log WHERE seq = 2`);
    await onlyFailing('eventLog', /organization o1: counter at 3, 2 events from 1 to 3/);
  });

  it('fail on a counter behind the log (writes would reuse its numbers)', async () => {
    await sql(`UPDATE organizations SET event_seq = 2`);
    await onlyFailing('eventLog', /counter at 2, 3 events/);
  });

  it('fail on an orphan outbox entry', async () => {
    await sql(`INSERT INTO outbox (organization_id, event_id, destination, body) VALUES ('o1', gen_random_uuid(), 'broadcast', '{}')`);
    await onlyFailing('outbox', /refers to event .* which its organization does not have/);
  });

  it('fail on an outbox entry published before it was written', async () => {
    await sql(`UPDATE outbox SET published_at = created_at - interval '1 hour' WHERE published_at IS NOT NULL`);
    await onlyFailing('outbox', /published before it was written/);
  });

  it('fail on quota counters that do not match the rows', async () => {
    await sql(`DELETE FROM attachments`);
    await onlyFailing('counts', /counts 1 projects, 1 tasks, 100 bytes; holds 1, 1, 0/);
    await sql(`UPDATE organizations SET storage_bytes = 0, task_count = -1`);
    await onlyFailing('counts', /counts 1 projects, -1 tasks/);
  });

  it('fail, not throw, when a table is missing', async () => {
    await sql(`DROP TABLE outbox`);
    const problems = failed(await check());
    expect(problems.outbox?.[0]).toMatch(/the check failed: relation "outbox" does not exist/);
  });
});
