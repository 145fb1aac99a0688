import { describe, expect, it } from 'vitest';
import { roundTrips } from '../../functions/shared/db';
import { createProject, createTask, invoke, memberOf, newCaller, type Call, type OperationId } from '../support/api';
import { sql } from '../support/sql';

async function tripsOf(operationId: OperationId, caller: ReturnType<typeof newCaller>, call: Call) {
  const before = roundTrips.count;
  const response = await invoke(operationId, caller, call);
  expect(response.status).toBeLessThan(300);
  return roundTrips.count - before;
}

// The budget (docs/architecture.md): a read is 1 round trip, a mutation with its event-log and outbox rows at most 2.
describe('database round trips per request', () => {
  it('costs one extra trip only for the first request of a member in an environment', async () => {
    const alice = newCaller();
    expect(await tripsOf('listProjects', alice, {})).toBe(2); // provisioning + the read
    expect(await tripsOf('listProjects', alice, {})).toBe(1);
  });

  it('writes a member\'s profile again only when the token\'s name or e-mail changed, in the provisioning statement', async () => {
    const first = newCaller();
    const profile = () => sql('SELECT email, name FROM users WHERE id = $1', [first.userId]).then((rows) => rows[0]);
    expect(await tripsOf('listProjects', first, {})).toBe(2);
    expect(await profile()).toEqual({ email: null, name: null });
    // A later token carries an e-mail and a name (Slack said "Someone", no e-mail was ever sent).
    const named = { ...first, email: 'ann@example.com', name: 'Ann Lee' };
    expect(await tripsOf('listProjects', named, {})).toBe(2);
    expect(await profile()).toEqual({ email: 'ann@example.com', name: 'Ann Lee' });
    expect(await tripsOf('listProjects', named, {})).toBe(1);
    const renamed = { ...named, name: 'Ann Stone' };
    expect(await tripsOf('listProjects', renamed, {})).toBe(2);
    expect(await tripsOf('listProjects', renamed, {})).toBe(1);
    expect(await profile()).toEqual({ email: 'ann@example.com', name: 'Ann Stone' });
    // A token without the claims (another client's) changes nothing, and costs nothing.
    expect(await tripsOf('listProjects', first, {})).toBe(1);
    expect(await profile()).toEqual({ email: 'ann@example.com', name: 'Ann Stone' });
  });

  it('stays within budget on every route', async () => {
    const alice = newCaller('admin');
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const reads: [OperationId, Call][] = [
      ['listProjects', {}],
      ['getProject', { params: { projectId: project.id } }],
      ['listTasks', { params: { projectId: project.id }, query: { status: 'todo' } }],
      ['getTask', { params: { taskId: task.id } }],
      ['listComments', { params: { taskId: task.id } }],
      ['search', { query: { q: 'task' } }],
      ['getMe', {}],
      ['getPreferences', {}],
      ['listMembers', { query: { q: 'a' } }],
      ['listWatchers', { params: { taskId: task.id } }],
    ];
    const mutations: [OperationId, Call][] = [
      ['createProject', { body: { name: 'p' } }],
      ['updateProject', { params: { projectId: project.id }, body: { name: 'q' } }],
      ['createTask', { params: { projectId: project.id }, body: { title: 't' } }],
      ['updateTask', { params: { taskId: task.id }, body: { version: 1, title: 'u' } }],
      ['createComment', { params: { taskId: task.id }, body: { body: 'c' } }],
      ['updatePreferences', { body: { mutedProjectIds: [project.id] } }],
      ['unwatchTask', { params: { taskId: task.id } }],
      ['watchTask', { params: { taskId: task.id } }],
      ['deleteTask', { params: { taskId: task.id } }],
    ];
    for (const [operationId, call] of reads) expect(await tripsOf(operationId, alice, call), operationId).toBe(1);
    // The statement (change, event, outbox entries), then marking the entries published after the fast
    // path sent them: every event goes at least to the feed's broadcast queue.
    for (const [operationId, call] of mutations) expect(await tripsOf(operationId, alice, call), operationId).toBe(2);
    const bob = memberOf(alice);
    expect(await tripsOf('listProjects', bob, {})).toBe(2); // provisioning + the read
    expect(await tripsOf('removeMember', alice, { params: { userId: bob.userId } }), 'removeMember').toBe(2);
  });
});
