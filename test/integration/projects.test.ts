import { describe, expect, it } from 'vitest';
import { createProject, invoke, memberOf, newCaller } from '../support/api';

describe('projects', () => {
  it('answers a create with the project\'s Location, as task creation does (also when the id already existed, and on a replay)', async () => {
    const alice = newCaller();
    const created = await invoke('createProject', alice, { body: { name: 'Located' }, headers: { 'Idempotency-Key': 'located-1' } });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/projects/${created.body.id}`);
    const replayed = await invoke('createProject', alice, { body: { name: 'Located' }, headers: { 'Idempotency-Key': 'located-1' } });
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.headers.location).toBe(`/projects/${created.body.id}`);
    const again = await invoke('createProject', alice, { body: { id: created.body.id, name: 'Located' } });
    expect(again.status).toBe(200);
    expect(again.headers.location).toBe(`/projects/${created.body.id}`);
  });

  it('creates, reads, lists and updates a project', async () => {
    const alice = newCaller();
    const created = await invoke('createProject', alice, { body: { name: '  Launch  ', description: 'Q1 launch' } });
    expect(created.status).toBe(201);
    expect(created.headers['content-type']).toBe('application/json');
    expect(created.body).toMatchObject({ name: 'Launch', description: 'Q1 launch', createdBy: alice.userId });
    expect(created.body.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const fetched = await invoke('getProject', alice, { params: { projectId: created.body.id } });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);

    const updated = await invoke('updateProject', memberOf(alice), { params: { projectId: created.body.id }, body: { name: 'Launch v2' } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: created.body.id, name: 'Launch v2', description: 'Q1 launch' });
    expect(Date.parse(updated.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.body.updatedAt));

    const listed = await invoke('listProjects', alice);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ items: [updated.body], nextCursor: null });
  });

  it('pages through projects with an opaque cursor', async () => {
    const alice = newCaller();
    const names = ['a', 'b', 'c', 'd', 'e'];
    for (const name of names) await createProject(alice, name);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await invoke('listProjects', alice, { query: { limit: '2', ...(cursor ? { cursor } : {}) } });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((p: { name: string }) => p.name));
      cursor = page.body.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(names);
  });

  it('answers 404 for an unknown or malformed project id', async () => {
    const alice = newCaller();
    for (const projectId of ['7d1c6f1e-8a53-4d55-9a5e-2f9f1f0e2a11', 'not-a-uuid']) {
      const response = await invoke('getProject', alice, { params: { projectId } });
      expect(response.status).toBe(404);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    }
    const update = await invoke('updateProject', alice, { params: { projectId: '7d1c6f1e-8a53-4d55-9a5e-2f9f1f0e2a11' }, body: { name: 'x' } });
    expect(update.status).toBe(404);
  });
});
