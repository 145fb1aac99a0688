import { beforeAll, describe, expect, it } from 'vitest';
import { mutationStatement } from '../../functions/domain/mutation-statement';
import { taskflow } from '../../lib/app';
import { outboxRoutes } from '../../lib/declaration';

// The statements themselves run in the integration tests (tasks, projects, sync, round-trips, …); here, how
// one is put together: its parameters and the order of its parts.

const trace = { requestId: 'req-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
const scope = { organizationId: 'org_1', actorId: 'user_1', trace };
const ctesOf = (text: string) => [...text.matchAll(/(?:^WITH |, )(\w+) AS \(\n/gm)].map((match) => match[1]);

// The outbox entries follow the declared routes, as the API functions are given them.
beforeAll(() => {
  process.env.OUTBOX_ROUTES = JSON.stringify(outboxRoutes(taskflow.queues));
});

describe('a mutation statement', () => {
  it('numbers each named value at its first use, and sends it once', () => {
    const { text, params } = mutationStatement({ ...scope, values: { projectId: 'p_1', name: 'New name', unused: 'x' } }, ($) => ({
      change: `UPDATE projects SET name = ${$.name} WHERE organization_id = ${$.organization} AND id = ${$.projectId}
        RETURNING id, id AS project_id, project_json(projects) AS doc`,
      event: { type: 'project.updated' },
      select: { columns: 'doc', from: 'changed' },
    }));
    expect(params).toEqual(['New name', 'org_1', 'p_1', 'user_1', 'req-1', trace.traceparent]);
    expect(text).toContain('UPDATE projects SET name = $1 WHERE organization_id = $2 AND id = $3');
    expect(text).toContain("SELECT $2, event_seq.event_seq, 'project.updated', c.id, c.project_id, $4, $5, c.doc");
    expect(text).toMatch(/SELECT doc, \(SELECT coalesce\(json_agg[\s\S]*\) AS outbox FROM changed$/);
  });

  it('puts its parts in order: first, quota, steps, the change, the task version, the event, after', () => {
    const { text } = mutationStatement({ ...scope, values: { taskId: 't_1' } }, ($) => ({
      first: { task: `SELECT id FROM tasks WHERE id = ${$.taskId} FOR KEY SHARE` },
      quota: { counted: 'tasks' },
      steps: { inserted: 'SELECT 1' },
      change: 'SELECT 1',
      taskVersion: true,
      event: { type: 'task.created' },
      counts: { tasks: 1, storageBytes: '-(SELECT 2)' },
      after: { noted: 'SELECT 1' },
    }));
    expect(ctesOf(text)).toEqual(['task', 'quota', 'inserted', 'changed', 'versioned', 'forgotten', 'event_seq', 'appended', 'outboxed', 'noted']);
    expect(text).toContain('SET event_seq = event_seq + 1, task_count = task_count + (1), storage_bytes = storage_bytes + (-(SELECT 2))');
    expect(text).toContain('(SELECT used FROM quota) AS used, (SELECT plan FROM quota) AS plan');
  });

  it('writes an event per changed row, numbered, with an actor named in SQL', () => {
    const { text, params } = mutationStatement({ organizationId: 'org_1', trace, values: { linkId: 'l_1' } }, ($, param) => ({
      first: { link: `SELECT id, created_by FROM integration_links WHERE id = ${$.linkId} AND ${param(true)}::boolean` },
      change: 'SELECT * FROM imported',
      actor: '(SELECT created_by FROM link)',
      event: { types: ['task.created', 'task.updated'], order: 'c.type, c.ord' },
    }));
    expect(params).toEqual(['l_1', true, 'org_1', 'req-1', trace.traceparent]);
    expect(ctesOf(text)).toEqual(['link', 'changed', 'numbered', 'event_seq', 'appended', 'outboxed']);
    expect(text).toContain('row_number() OVER (ORDER BY c.type, c.ord) AS n');
    expect(text).toContain("'actorId', (SELECT created_by FROM link)::text");
    expect(text).toMatch(/CASE a\.type WHEN 'task\.created' THEN '\{[^}]*\}'::text\[\] WHEN 'task\.updated' THEN/);
  });

  it('refuses a name it does not know, a value named like the scope, and two CTEs of one name', () => {
    const change = 'SELECT 1';
    const event = { type: 'task.deleted' };
    expect(() => mutationStatement({ ...scope, values: { taskId: 't' } }, ($) => ({ change: `${($ as Record<string, string>).taskid}`, event }))).toThrow(
      'no value named "taskid"',
    );
    expect(() => mutationStatement({ ...scope, values: { organization: 'other' } }, () => ({ change, event }))).toThrow('"organization" is the scope\'s name');
    expect(() => mutationStatement({ organizationId: 'org_1', trace, values: {} }, () => ({ change, event }))).toThrow('no value named "actor"');
    expect(() => mutationStatement({ ...scope, values: {} }, () => ({ first: { changed: change }, change, event }))).toThrow('two CTEs named "changed"');
  });
});
