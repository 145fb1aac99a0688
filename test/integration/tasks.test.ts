import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, memberOf, newCaller } from '../support/api';

describe('tasks', () => {
  it('creates a task with defaults and reads it back with its ETag', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const created = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Write docs' } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      projectId: project.id,
      title: 'Write docs',
      description: '',
      status: 'todo',
      priority: 'none',
      assigneeId: null,
      dueDate: null,
      labels: [],
      version: 1,
      createdBy: alice.userId,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(created.headers.etag).toBe('"1"');
    expect(created.headers.location).toBe(`/tasks/${created.body.id}`);

    const fetched = await invoke('getTask', alice, { params: { taskId: created.body.id } });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);
    expect(fetched.headers.etag).toBe('"1"');
  });

  it('stores every field a client sends', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id, {
      title: 'Ship',
      description: 'line 1\nline 2',
      status: 'in_progress',
      priority: 'urgent',
      assigneeId: alice.userId,
      dueDate: '2026-12-31',
      labels: ['release', 'backend'],
    });
    expect(task).toMatchObject({
      status: 'in_progress', priority: 'urgent', assigneeId: alice.userId, dueDate: '2026-12-31',
      labels: ['release', 'backend'], description: 'line 1\nline 2',
    });
  });

  it('refuses an assignee who is not a member of the organization (422)', async () => {
    const alice = newCaller();
    const outsider = newCaller();
    await createProject(outsider); // provisions the outsider in their own organization
    const project = await createProject(alice);
    const response = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'x', assigneeId: outsider.userId } });
    expect(response.status).toBe(422);
    expect(response.body.code).toBe('ASSIGNEE_NOT_MEMBER');
  });

  it('updates with the version in the body or If-Match and bumps the version', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);

    const byBody = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, status: 'done', dueDate: '2027-01-15' } });
    expect(byBody.status).toBe(200);
    expect(byBody.body).toMatchObject({ status: 'done', dueDate: '2027-01-15', version: 2, title: 'Task' });
    expect(byBody.headers.etag).toBe('"2"');

    const byHeader = await invoke('updateTask', alice, { params: { taskId: task.id }, headers: { 'If-Match': byBody.headers.etag! }, body: { dueDate: null, labels: ['x'] } });
    expect(byHeader.status).toBe(200);
    expect(byHeader.body).toMatchObject({ dueDate: null, labels: ['x'], version: 3 });
  });

  it('answers a stale version with 409 VERSION_CONFLICT carrying the current task', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, title: 'First' } });

    const stale = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, title: 'Second' } });
    expect(stale.status).toBe(409);
    expect(stale.headers['content-type']).toBe('application/problem+json');
    expect(stale.headers.etag).toBe('"2"');
    expect(stale.body).toMatchObject({ code: 'VERSION_CONFLICT', current: { id: task.id, title: 'First', version: 2 } });

    const staleHeader = await invoke('updateTask', alice, { params: { taskId: task.id }, headers: { 'if-match': '"1"' }, body: { title: 'Third' } });
    expect(staleHeader.status).toBe(409);
    expect((await invoke('getTask', alice, { params: { taskId: task.id } })).body.title).toBe('First');
  });

  it('requires a version (428) and refuses a malformed or contradictory one (400)', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const missing = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { title: 'x' } });
    expect(missing.status).toBe(428);
    expect(missing.body.code).toBe('PRECONDITION_REQUIRED');
    const malformed = await invoke('updateTask', alice, { params: { taskId: task.id }, headers: { 'If-Match': 'yesterday' }, body: { title: 'x' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('INVALID_IF_MATCH');
    const contradictory = await invoke('updateTask', alice, { params: { taskId: task.id }, headers: { 'If-Match': '"1"' }, body: { version: 2, title: 'x' } });
    expect(contradictory.status).toBe(400);
    expect(contradictory.body.code).toBe('VERSION_MISMATCH');
  });

  it('lets exactly one of several concurrent updates from the same version win', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, title: `Title ${i}` } })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(7);
    const final = await invoke('getTask', alice, { params: { taskId: task.id } });
    expect(final.body.version).toBe(2);
  });

  it('deletes a task and its comments; a second delete is 404', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    await invoke('createComment', alice, { params: { taskId: task.id }, body: { body: 'hello' } });
    const deleted = await invoke('deleteTask', alice, { params: { taskId: task.id } });
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
    expect((await invoke('getTask', alice, { params: { taskId: task.id } })).status).toBe(404);
    expect((await invoke('listComments', alice, { params: { taskId: task.id } })).status).toBe(404);
    expect((await invoke('deleteTask', alice, { params: { taskId: task.id } })).status).toBe(404);
  });

  it('filters by status, assignee and due date', async () => {
    const alice = newCaller();
    const bob = memberOf(alice);
    await createProject(bob); // provisions bob as a member
    const project = await createProject(alice);
    await createTask(alice, project.id, { title: 'a', status: 'done', assigneeId: bob.userId, dueDate: '2026-01-10' });
    await createTask(alice, project.id, { title: 'b', status: 'todo', assigneeId: bob.userId, dueDate: '2026-03-01' });
    await createTask(alice, project.id, { title: 'c', status: 'todo', assigneeId: alice.userId });
    await createTask(alice, project.id, { title: 'd', status: 'todo' });
    const titles = async (query: Record<string, string>) =>
      (await invoke('listTasks', alice, { params: { projectId: project.id }, query })).body.items.map((t: { title: string }) => t.title);
    expect(await titles({})).toEqual(['a', 'b', 'c', 'd']);
    expect(await titles({ status: 'todo' })).toEqual(['b', 'c', 'd']);
    expect(await titles({ assignee: bob.userId })).toEqual(['a', 'b']);
    expect(await titles({ dueBefore: '2026-02-01' })).toEqual(['a']);
    expect(await titles({ status: 'todo', assignee: bob.userId, dueBefore: '2026-12-31' })).toEqual(['b']);
    const unknownProject = await invoke('listTasks', alice, { params: { projectId: '00000000-0000-4000-8000-000000000000' } });
    expect(unknownProject.status).toBe(404);
  });
});
