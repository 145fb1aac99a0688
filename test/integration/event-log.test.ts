import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, newCaller } from '../support/api';
import { sql } from '../support/sql';

const eventsOf = (orgId: string) =>
  sql<{ seq: string; type: string; subject_id: string; actor_id: string; request_id: string; payload: any }>(
    'SELECT seq, type, subject_id, actor_id, request_id, payload FROM event_log WHERE organization_id = $1 ORDER BY seq',
    [orgId],
  );

describe('event log', () => {
  it('records every mutation once, in order, with the API representation and the request id', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const created = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'T' }, headers: { 'x-request-id': 'req-create' } });
    const task = created.body;
    const updated = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, status: 'done' } });
    const comment = await invoke('createComment', alice, { params: { taskId: task.id }, body: { body: 'c' } });
    await invoke('updateProject', alice, { params: { projectId: project.id }, body: { name: 'P2' } });
    await invoke('deleteTask', alice, { params: { taskId: task.id } });

    const events = await eventsOf(alice.orgId);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      ['1', 'project.created'], ['2', 'task.created'], ['3', 'task.updated'], ['4', 'comment.created'],
      ['5', 'project.updated'], ['6', 'task.deleted'],
    ]);
    expect(events[1]).toMatchObject({ subject_id: task.id, actor_id: alice.userId, request_id: 'req-create', payload: task });
    const { merged: _, ...updatedTask } = updated.body;
    expect(events[2]!.payload).toEqual(updatedTask);
    expect(events[3]!.payload).toEqual(comment.body);
    expect(events[5]!.payload).toEqual(updatedTask);
  });

  it('appends nothing for a refused mutation', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 9, title: 'stale' } });
    await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', assigneeId: 'nobody' } });
    await invoke('deleteTask', alice, { params: { taskId: '00000000-0000-4000-8000-000000000000' } });
    expect((await eventsOf(alice.orgId)).map((e) => e.type)).toEqual(['project.created', 'task.created']);
  });

  it('hands out a gap-free, duplicate-free sequence to concurrent writers of one organization', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => invoke('createTask', alice, { params: { projectId: project.id }, body: { title: `t${i}` } })));
    expect(results.every((r) => r.status === 201)).toBe(true);
    const seqs = (await eventsOf(alice.orgId)).map((e) => Number(e.seq));
    expect(seqs).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
  });
});
