import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, memberOf, newCaller } from '../support/api';

describe('task pagination', () => {
  it('sees every remaining task exactly once while others are inserted and already-seen ones deleted', async () => {
    const alice = newCaller();
    // Alice pages; her colleagues create and delete meanwhile (several of them: a user may make 100 requests a minute).
    const others = Array.from({ length: 8 }, () => memberOf(alice));
    const someone = (n: number) => others[n % others.length]!;
    const project = await createProject(alice);
    const existing: string[] = [];
    for (let i = 0; i < 60; i += 1) existing.push((await createTask(someone(i), project.id, { title: `existing ${i}` })).id);

    let inserting = true;
    const inserter = (async () => {
      for (let n = 0; inserting && n < 200; n += 1) await createTask(someone(n), project.id, { title: `concurrent ${n}` });
    })();

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    try {
      do {
        const page = await invoke('listTasks', alice, { params: { projectId: project.id }, query: { limit: '7', ...(cursor ? { cursor } : {}) } });
        expect(page.status).toBe(200);
        const ids = page.body.items.map((t: { id: string }) => t.id);
        seen.push(...ids);
        // Someone else deletes what this client has already seen: an offset would now skip rows.
        await Promise.all(ids.slice(0, 3).map((taskId: string, i: number) => invoke('deleteTask', someone(pages * 3 + i), { params: { taskId } })));
        cursor = page.body.nextCursor ?? undefined;
        pages += 1;
      } while (cursor && pages < 100);
    } finally {
      inserting = false;
      await inserter;
    }

    expect(new Set(seen).size).toBe(seen.length); // no repeats
    expect(existing.filter((id) => !seen.includes(id))).toEqual([]); // no gaps
  });

  it('refuses a cursor it did not issue and a limit out of range (400)', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const bad = await invoke('listTasks', alice, { params: { projectId: project.id }, query: { cursor: 'bm90LWEtY3Vyc29y' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('INVALID_CURSOR');
    for (const limit of ['0', '101', 'ten']) {
      const response = await invoke('listTasks', alice, { params: { projectId: project.id }, query: { limit } });
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    }
  });
});
