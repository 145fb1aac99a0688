import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { roundTrips } from '../../functions/shared/db';
import { createProject, createTask, invoke, memberOf, newCaller } from '../support/api';
import { sql } from '../support/sql';

const key = () => ({ 'Idempotency-Key': randomUUID() });
const countTasks = async (projectId: string) => Number((await sql('SELECT count(*) AS n FROM tasks WHERE project_id = $1', [projectId]))[0].n);
const countEvents = async (orgId: string, type: string) =>
  Number((await sql('SELECT count(*) AS n FROM event_log WHERE organization_id = $1 AND type = $2', [orgId, type]))[0].n);

/** Holds the organization's row lock, so a mutation of that organization stays in progress until released. */
async function holdOrganization(orgId: string) {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [orgId]);
  return async () => {
    await client.query('COMMIT');
    await client.end();
  };
}

describe('Idempotency-Key', () => {
  it('replays the first response exactly, marked as a replay, without touching the database', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const headers = key();
    const first = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Once' }, headers });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    const before = roundTrips.count;
    const retry = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Once' }, headers });
    expect(roundTrips.count - before).toBe(0);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.etag).toBe(first.headers.etag);
    expect(retry.headers.location).toBe(first.headers.location);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(await countTasks(project.id)).toBe(1);
    expect(await countEvents(alice.orgId, 'task.created')).toBe(1);
  });

  it('covers PATCH and DELETE too: a retried update or delete has its effect once', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const patch = key();
    const updated = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, status: 'done' }, headers: patch });
    const again = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: 1, status: 'done' }, headers: patch });
    expect(again).toMatchObject({ status: 200, body: updated.body });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await invoke('getTask', alice, { params: { taskId: task.id } })).body.version).toBe(2);

    const del = key();
    expect((await invoke('deleteTask', alice, { params: { taskId: task.id }, headers: del })).status).toBe(204);
    const retried = await invoke('deleteTask', alice, { params: { taskId: task.id }, headers: del });
    expect(retried.status).toBe(204); // not 404: the retry gets the first answer
    expect(await countEvents(alice.orgId, 'task.deleted')).toBe(1);
  });

  it('refuses the same key with a different body (422) and still replays the original afterwards', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const headers = key();
    const first = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Original' }, headers });
    const reused = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Changed' }, headers });
    expect(reused.status).toBe(422);
    expect(reused.headers['content-type']).toBe('application/problem+json');
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The record of the first request survived the refused one.
    const replay = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Original' }, headers });
    expect(replay).toMatchObject({ status: 201, body: first.body });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await countTasks(project.id)).toBe(1);
  });

  it('answers a duplicate that arrives while the first still runs with 409 REQUEST_IN_PROGRESS, and keeps the first one\'s record', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const headers = key();
    const release = await holdOrganization(alice.orgId);
    let first: ReturnType<typeof invoke> | undefined;
    try {
      first = invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Slow' }, headers });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the first has claimed the key and waits on the lock
      const duplicate = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Slow' }, headers });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.code).toBe('REQUEST_IN_PROGRESS');
      expect(duplicate.headers['retry-after']).toBe('1');
      // The refused duplicate left the first request's record in place: a second one is refused too
      // (had it been deleted, this one would claim the key and wait on the lock like the first).
      const again = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Slow' }, headers });
      expect(again.status).toBe(409);
    } finally {
      await release();
    }
    const original = await first!;
    expect(original.status).toBe(201);
    const replay = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Slow' }, headers });
    expect(replay).toMatchObject({ status: 201, body: original.body });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await countTasks(project.id)).toBe(1);
  });

  it('stores no error: a retry after a failed attempt runs again', async () => {
    const alice = newCaller();
    const bob = memberOf(alice);
    const project = await createProject(alice);
    const headers = key();
    const body = { title: 'For Bob', assigneeId: bob.userId };
    const refused = await invoke('createTask', alice, { params: { projectId: project.id }, body, headers });
    expect(refused.status).toBe(422); // Bob has never signed in
    await invoke('listProjects', bob); // now he has
    const retried = await invoke('createTask', alice, { params: { projectId: project.id }, body, headers });
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
  });

  it('includes If-Match in what must match: the same key and body under another If-Match is refused', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const headers = key();
    expect((await invoke('updateTask', alice, { params: { taskId: task.id }, body: { status: 'done' }, headers: { ...headers, 'If-Match': '"1"' } })).status).toBe(200);
    const other = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { status: 'done' }, headers: { ...headers, 'If-Match': '"2"' } });
    expect(other.status).toBe(422);
  });

  it('scopes a key to its caller and its route', async () => {
    const alice = newCaller();
    const bob = memberOf(alice);
    const project = await createProject(alice);
    const headers = key();
    const mine = await invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Same' }, headers });
    const his = await invoke('createTask', bob, { params: { projectId: project.id }, body: { title: 'Same' }, headers });
    expect(his.status).toBe(201);
    expect(his.body.id).not.toBe(mine.body.id);
    const otherRoute = await invoke('createProject', alice, { body: { name: 'Same' }, headers });
    expect(otherRoute.status).toBe(201);
    expect(await countTasks(project.id)).toBe(2);
  });

  it('refuses a malformed key (400)', async () => {
    const alice = newCaller();
    const response = await invoke('createProject', alice, { body: { name: 'x' }, headers: { 'Idempotency-Key': 'has spaces in it' } });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('INVALID_IDEMPOTENCY_KEY');
  });

  it('50 concurrent retries of one create with one key make one task and one event; every answer is the first response or 409', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const headers = key();
    const call = () => invoke('createTask', alice, { params: { projectId: project.id }, body: { title: 'Exactly once' }, headers });
    const responses = await Promise.all(Array.from({ length: 50 }, call));
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((status) => status === 201 || status === 409)).toBe(true);
    const created = responses.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThan(0);
    // One of them ran the create; every other 201 is its stored response.
    expect(created.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect(created.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(created.length - 1);
    for (const response of created) {
      expect(response.body).toEqual(created[0]!.body);
      expect(response.headers.etag).toBe(created[0]!.headers.etag);
    }
    for (const response of responses.filter((r) => r.status === 409)) expect(response.body.code).toBe('REQUEST_IN_PROGRESS');
    expect(await countTasks(project.id)).toBe(1);
    expect(await countEvents(alice.orgId, 'task.created')).toBe(1);
    expect((await call()).body).toEqual(created[0]!.body);
  });
});

describe('client-supplied ids', () => {
  it('return the existing resource when the same id is created twice', async () => {
    const alice = newCaller();
    const projectId = randomUUID();
    const first = await invoke('createProject', alice, { body: { id: projectId, name: 'Mine' } });
    expect(first).toMatchObject({ status: 201, body: { id: projectId } });
    const second = await invoke('createProject', alice, { body: { id: projectId, name: 'Mine' } });
    expect(second).toMatchObject({ status: 200, body: first.body });

    const taskId = randomUUID();
    const task = await invoke('createTask', alice, { params: { projectId }, body: { id: taskId, title: 'T' } });
    const again = await invoke('createTask', alice, { params: { projectId }, body: { id: taskId, title: 'T' } });
    expect(task.status).toBe(201);
    expect(again).toMatchObject({ status: 200, body: task.body });
    expect(again.headers.etag).toBe('"1"');

    const commentId = randomUUID();
    expect((await invoke('createComment', alice, { params: { taskId }, body: { id: commentId, body: 'c' } })).status).toBe(201);
    expect((await invoke('createComment', alice, { params: { taskId }, body: { id: commentId, body: 'c' } })).status).toBe(200);
    expect(await countTasks(projectId)).toBe(1);
    expect(await countEvents(alice.orgId, 'task.created')).toBe(1);
    expect(await countEvents(alice.orgId, 'comment.created')).toBe(1);
  });

  it('refuses an id already used under another parent (409 ID_CONFLICT), and a missing parent is still 404', async () => {
    const alice = newCaller();
    const [p1, p2] = [await createProject(alice, 'P1'), await createProject(alice, 'P2')];
    const task = await createTask(alice, p1.id, { id: randomUUID() });
    const elsewhere = await invoke('createTask', alice, { params: { projectId: p2.id }, body: { id: task.id, title: 'T' } });
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body.code).toBe('ID_CONFLICT');
    const nowhere = await invoke('createTask', alice, { params: { projectId: randomUUID() }, body: { id: task.id, title: 'T' } });
    expect(nowhere.status).toBe(409);
    const other = await createTask(alice, p1.id);
    const comment = await invoke('createComment', alice, { params: { taskId: task.id }, body: { id: randomUUID(), body: 'c' } });
    const moved = await invoke('createComment', alice, { params: { taskId: other.id }, body: { id: comment.body.id, body: 'c' } });
    expect(moved.status).toBe(409);
    const unknownParent = await invoke('createTask', alice, { params: { projectId: randomUUID() }, body: { id: randomUUID(), title: 'T' } });
    expect(unknownParent.status).toBe(404);
  });

  it('refuses an id that belongs to another organization (409 ID_CONFLICT) without revealing it', async () => {
    const alice = newCaller();
    const eve = newCaller();
    const project = await createProject(alice);
    const response = await invoke('createProject', eve, { body: { id: project.id, name: 'Mine now' } });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('ID_CONFLICT');
    expect(JSON.stringify(response.body)).not.toContain(project.name);
  });
});
