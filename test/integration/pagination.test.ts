import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, newCaller } from '../support/api';

describe('task pagination', () => {
  it('sees every existing task exactly once while other tasks are being inserted', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const existing = new Set<string>();
    for (let i = 0; i < 60; i += 1) existing.add((await createTask(alice, project.id, { title: `existing ${i}` })).id);

    let inserting = true;
    const inserter = (async () => {
      let n = 0;
      while (inserting && n < 200) {
        await createTask(alice, project.id, { title: `concurrent ${n}` });
        n += 1;
      }
    })();

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    try {
      do {
        const page = await invoke('listTasks', alice, { params: { projectId: project.id }, query: { limit: '7', ...(cursor ? { cursor } : {}) } });
        expect(page.status).toBe(200);
        seen.push(...page.body.items.map((t: { id: string }) => t.id));
        cursor = page.body.nextCursor ?? undefined;
        pages += 1;
      } while (cursor && pages < 100);
    } finally {
      inserting = false;
      await inserter;
    }

    expect(new Set(seen).size).toBe(seen.length); // no repeats
    for (const id of existing) expect(seen).toContain(id); // no gaps
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
