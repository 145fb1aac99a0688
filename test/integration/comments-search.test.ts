import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, memberOf, newCaller } from '../support/api';

describe('comments', () => {
  it('adds comments to a task and lists them oldest first with pagination', async () => {
    const alice = newCaller();
    const bob = memberOf(alice);
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const first = await invoke('createComment', alice, { params: { taskId: task.id }, body: { body: 'First!' } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      id: expect.any(String), taskId: task.id, authorId: alice.userId, body: 'First!', version: 1, createdAt: expect.any(String), editedAt: null,
    });
    await invoke('createComment', bob, { params: { taskId: task.id }, body: { body: 'Second' } });
    await invoke('createComment', alice, { params: { taskId: task.id }, body: { body: 'Third' } });

    const page1 = await invoke('listComments', bob, { params: { taskId: task.id }, query: { limit: '2' } });
    expect(page1.body.items.map((c: { body: string }) => c.body)).toEqual(['First!', 'Second']);
    const page2 = await invoke('listComments', bob, { params: { taskId: task.id }, query: { limit: '2', cursor: page1.body.nextCursor } });
    expect(page2.body).toEqual({ items: [expect.objectContaining({ body: 'Third', authorId: alice.userId })], nextCursor: null });
  });

  it('never fails with a 500 when comments race the deletion of their task', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    for (let round = 0; round < 15; round += 1) {
      const task = await createTask(alice, project.id);
      // Colleagues comment while Alice deletes (each round's commenter a new one: a user may make 100 requests a minute).
      const bob = memberOf(alice);
      const results = await Promise.all([
        ...Array.from({ length: 6 }, (_, i) => invoke('createComment', bob, { params: { taskId: task.id }, body: { body: `c${i}` } })),
        invoke('deleteTask', alice, { params: { taskId: task.id } }),
        ...Array.from({ length: 2 }, (_, i) => invoke('createComment', bob, { params: { taskId: task.id }, body: { body: `d${i}` } })),
      ]);
      for (const result of results) expect([201, 204, 404]).toContain(result.status);
    }
  });

  it('answers 404 when commenting on a task that does not exist', async () => {
    const alice = newCaller();
    const response = await invoke('createComment', alice, { params: { taskId: '5b7e0f5e-3c1b-4b8e-9d4e-0e6a9b1c2d3f' }, body: { body: 'hi' } });
    expect(response.status).toBe(404);
  });
});

describe('search', () => {
  it('finds tasks and comments of the caller\'s organization only, ranked, with stemming', async () => {
    const alice = newCaller();
    const eve = newCaller();
    const project = await createProject(alice);
    const billing = await createTask(alice, project.id, { title: 'Invoice export', description: 'Exporting invoices as CSV' });
    await createTask(alice, project.id, { title: 'Unrelated', description: 'Nothing to see' });
    const other = await createTask(alice, project.id, { title: 'Release notes' });
    await invoke('createComment', alice, { params: { taskId: other.id }, body: { body: 'Remember the invoice numbering' } });
    const eveProject = await createProject(eve);
    await createTask(eve, eveProject.id, { title: 'Invoice secrets of another tenant' });

    const response = await invoke('search', alice, { query: { q: 'invoices' } });
    expect(response.status).toBe(200);
    const hits = response.body.items as { type: string; rank: number; task?: { id: string }; comment?: { taskId: string } }[];
    expect(hits.map((h) => h.type).sort()).toEqual(['comment', 'task']);
    expect(hits[0]!.task?.id).toBe(billing.id); // the title match ranks first
    expect(hits.find((h) => h.type === 'comment')!.comment!.taskId).toBe(other.id);
    expect(hits[0]!.rank).toBeGreaterThanOrEqual(hits[1]!.rank);

    const phrase = await invoke('search', alice, { query: { q: '"invoice export" -csv' } });
    expect(phrase.body.items).toEqual([]);
    expect((await invoke('search', alice, { query: { q: 'secrets' } })).body.items).toEqual([]);
  });

  it('requires a query (400)', async () => {
    const response = await invoke('search', newCaller(), { query: {} });
    expect(response.status).toBe(400);
    expect(response.body.errors[0].path).toBe('query.q');
  });
});
