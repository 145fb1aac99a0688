import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, memberOf, newCaller } from '../support/api';
import { sql } from '../support/sql';

const description = ['Goals', 'Scope', 'Risks', 'Owners', 'Dates', 'Budget'].join('\n');

async function setUp() {
  const alice = newCaller();
  const bob = memberOf(alice);
  await invoke('listProjects', bob); // Bob signs in, so he can be assigned
  const project = await createProject(alice);
  const task = await createTask(alice, project.id, { title: 'Plan', description, labels: ['plan'] });
  return { alice, bob, task };
}

const patch = (caller: ReturnType<typeof newCaller>, taskId: string, body: Record<string, unknown>) =>
  invoke('updateTask', caller, { params: { taskId }, body });

describe('conflict resolution for task updates', () => {
  it('merges concurrent updates from one base version that change different fields: all succeed, every change is kept', async () => {
    const { alice, bob, task } = await setUp();
    const lines = description.split('\n');
    const withLine = (index: number, text: string) => lines.map((line, i) => (i === index ? text : line)).join('\n');
    const results = await Promise.all([
      patch(alice, task.id, { version: 1, status: 'in_progress' }),
      patch(bob, task.id, { version: 1, priority: 'urgent' }),
      patch(alice, task.id, { version: 1, assigneeId: bob.userId }),
      patch(bob, task.id, { version: 1, dueDate: '2027-03-01' }),
      patch(alice, task.id, { version: 1, title: 'Plan the launch' }),
      patch(bob, task.id, { version: 1, description: withLine(1, 'Scope: web and mobile') }),
      patch(alice, task.id, { version: 1, description: withLine(2, 'Risks: none known') }),
      patch(bob, task.id, { version: 1, description: withLine(4, 'Dates: Q1') }),
      patch(alice, task.id, { addLabels: ['launch'] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(Array(9).fill(200));
    expect(results.filter((r) => r.body.merged)).not.toHaveLength(0);

    const final = (await invoke('getTask', alice, { params: { taskId: task.id } })).body;
    expect(final).toMatchObject({
      status: 'in_progress',
      priority: 'urgent',
      assigneeId: bob.userId,
      dueDate: '2027-03-01',
      title: 'Plan the launch',
      description: ['Goals', 'Scope: web and mobile', 'Risks: none known', 'Owners', 'Dates: Q1', 'Budget'].join('\n'),
      labels: ['plan', 'launch'],
      version: 10,
    });
    const versions = await sql('SELECT version FROM task_versions WHERE task_id = $1 ORDER BY version', [task.id]);
    expect(versions.map((v) => Number(v.version))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('applies exactly one of 10 concurrent updates of the same field; the others get a usable 409', async () => {
    const { alice, task } = await setUp();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => patch(alice, task.id, { version: 1, title: `Title ${i}` })));
    const applied = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 409);
    expect(applied).toHaveLength(1);
    expect(refused).toHaveLength(9);
    const final = (await invoke('getTask', alice, { params: { taskId: task.id } })).body;
    expect(final.title).toBe(applied[0]!.body.title);
    for (const response of refused) {
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.headers.etag).toBe(`"${final.version}"`);
      expect(response.body).toMatchObject({
        code: 'VERSION_CONFLICT',
        current: final,
        yourChanges: { title: expect.stringMatching(/^Title \d$/) },
        conflictingFields: ['title'],
      });
    }
    const logged = await sql('SELECT conflicting_fields, base_version, current_version FROM task_conflicts WHERE task_id = $1', [task.id]);
    expect(logged).toHaveLength(9);
    expect(logged[0]).toMatchObject({ conflicting_fields: ['title'], base_version: '1', current_version: '2' });
  });

  it('merges a stale update of a field nobody else changed, and says so', async () => {
    const { alice, bob, task } = await setUp();
    expect((await patch(alice, task.id, { version: 1, priority: 'low' })).status).toBe(200);
    const stale = await patch(bob, task.id, { version: 1, status: 'done' });
    expect(stale.status).toBe(200);
    expect(stale.body).toMatchObject({ merged: true, priority: 'low', status: 'done', version: 3 });
    expect(stale.headers.etag).toBe('"3"');
  });

  it('refuses overlapping description edits with the conflicting field named', async () => {
    const { alice, bob, task } = await setUp();
    await patch(alice, task.id, { version: 1, description: description.replace('Risks', 'Risks: vendor') });
    const overlapping = await patch(bob, task.id, { version: 1, description: description.replace('Risks', 'Risks: budget'), priority: 'high' });
    expect(overlapping.status).toBe(409);
    expect(overlapping.body.conflictingFields).toEqual(['description']);
    expect(overlapping.body.yourChanges).toEqual({ description: description.replace('Risks', 'Risks: budget'), priority: 'high' });
    // Nothing of a refused update is applied, not even its mergeable part.
    expect((await invoke('getTask', alice, { params: { taskId: task.id } })).body.priority).toBe('none');
  });

  it('refuses a version the task never had', async () => {
    const { alice, task } = await setUp();
    const future = await patch(alice, task.id, { version: 99, status: 'todo' });
    expect(future.status).toBe(409);
    expect(future.body.conflictingFields).toEqual(['status']);
  });

  it('treats a retried update that is already applied as done: no new version, no new event', async () => {
    const { alice, task } = await setUp();
    const first = await patch(alice, task.id, { version: 1, status: 'done' });
    const retry = await patch(alice, task.id, { version: 1, status: 'done' });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ merged: true, version: first.body.version, status: 'done' });
    const events = await sql("SELECT count(*) AS n FROM event_log WHERE subject_id = $1 AND type = 'task.updated'", [task.id]);
    expect(Number(events[0].n)).toBe(1);
  });

  it('adds and removes labels without a version, so concurrent label edits never conflict', async () => {
    const { alice, bob, task } = await setUp();
    const results = await Promise.all([
      ...['a', 'b', 'c', 'd'].map((label) => patch(alice, task.id, { addLabels: [label] })),
      patch(bob, task.id, { removeLabels: ['plan'] }),
      patch(bob, task.id, { addLabels: ['a'] }),
    ]);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const { labels } = (await invoke('getTask', alice, { params: { taskId: task.id } })).body;
    expect([...labels].sort()).toEqual(['a', 'b', 'c', 'd']);
    // Adding labels the task already has writes nothing: no new version, no event.
    const before = (await invoke('getTask', alice, { params: { taskId: task.id } })).body.version;
    const again = await patch(alice, task.id, { addLabels: ['a', 'b'] });
    expect(again).toMatchObject({ status: 200, body: { version: before, merged: false } });
    const tooMany = await patch(alice, task.id, { addLabels: Array.from({ length: 17 }, (_, i) => `l${i}`) });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.code).toBe('TOO_MANY_LABELS');
    const both = await patch(alice, task.id, { labels: ['x'], addLabels: ['y'] });
    expect(both.status).toBe(400);
  });
});
