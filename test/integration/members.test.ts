import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createProject, createTask, invoke, newCaller, type Caller } from '../support/api';
import { sql } from '../support/sql';

// Issue 17: who is in an organization. A member is recorded by their first request, with the name and e-mail their
// token carries; GET /members lists them for a picker; an admin removes one.

async function member(org: Caller, name: string, email: string, role: 'member' | 'admin' = 'member'): Promise<Caller> {
  const caller = { orgId: org.orgId, userId: `user_${randomUUID()}`, role, name, email };
  expect((await invoke('listProjects', caller)).status).toBe(200);
  return caller;
}

describe('GET /me', () => {
  it('answers the caller with their organization\'s plan and their preferences', async () => {
    const ann = { ...newCaller('admin'), name: 'Ann Lee', email: 'ann@example.com' };
    const me = await invoke('getMe', ann);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      id: ann.userId, name: 'Ann Lee', email: 'ann@example.com', role: 'admin', organizationId: ann.orgId, plan: 'free',
      preferences: { slack: true, email: true, mutedProjectIds: [] },
    });
  });
});

describe('GET /members', () => {
  it('lists the members in the order they joined, a page at a time, with when each was last seen', async () => {
    const ann = await member(newCaller(), 'Ann Lee', 'ann@example.com', 'admin');
    const others = [];
    for (const name of ['Bob Stone', 'Cid Moss', 'Dan Ruiz']) others.push(await member(ann, name, `${name.split(' ')[0]!.toLowerCase()}@corp.example`));
    const first = await invoke('listMembers', ann, { query: { limit: '3' } });
    expect(first.status).toBe(200);
    expect(first.body.items.map((m: any) => m.name)).toEqual(['Ann Lee', 'Bob Stone', 'Cid Moss']);
    expect(first.body.items[0]).toEqual({
      id: ann.userId, name: 'Ann Lee', email: 'ann@example.com', role: 'admin', lastSeenAt: expect.stringMatching(/Z$/), removedAt: null,
    });
    const second = await invoke('listMembers', ann, { query: { limit: '3', cursor: first.body.nextCursor } });
    expect(second.body).toEqual({ items: [expect.objectContaining({ id: others[2]!.userId, role: 'member' })], nextCursor: null });
  });

  it('matches ?q= against names and e-mails, case-insensitively, as a picker asks', async () => {
    const ann = await member(newCaller(), 'Ann Lee', 'ann@example.com');
    await member(ann, 'Bob Stone', 'bob@corp.example');
    await member(ann, 'Anna Stone', 'anna@corp.example');
    const search = async (q: string) => (await invoke('listMembers', ann, { query: { q } })).body.items.map((m: any) => m.name);
    expect(await search('ANN')).toEqual(['Ann Lee', 'Anna Stone']);
    expect(await search('stone')).toEqual(['Bob Stone', 'Anna Stone']);
    expect(await search('corp.example')).toEqual(['Bob Stone', 'Anna Stone']);
    expect(await search('%')).toEqual([]);
  });

  it('answers bad input with a 4xx problem', async () => {
    const ann = newCaller();
    for (const query of [{ limit: '0' }, { limit: '101' }, { q: '' }, { includeRemoved: 'yes' }, { sort: 'name' }] as Record<string, string>[]) {
      const response = await invoke('listMembers', ann, { query });
      expect(response.status, JSON.stringify(query)).toBe(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    }
    for (const cursor of ['garbage', Buffer.from(JSON.stringify(['2026-02-30T00:00:00.000000Z', 'u'])).toString('base64url')]) {
      expect((await invoke('listMembers', ann, { query: { cursor } })).body.code).toBe('INVALID_CURSOR');
    }
  });
});

describe('DELETE /members/{userId}', () => {
  it('is for admins: a member is refused (403 ADMIN_ONLY), an unknown member is 404, and nothing changes', async () => {
    const ann = await member(newCaller(), 'Ann Lee', 'ann@example.com', 'admin');
    const bob = await member(ann, 'Bob Stone', 'bob@example.com');
    const refused = await invoke('removeMember', bob, { params: { userId: ann.userId } });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('ADMIN_ONLY');
    expect((await invoke('removeMember', ann, { params: { userId: `user_${randomUUID()}` } })).status).toBe(404);
    expect((await invoke('removeMember', ann, { params: { userId: 'x'.repeat(256) } })).status).toBe(404);
    expect((await invoke('listMembers', ann)).body.items).toHaveLength(2);
  });

  it('removes once with one member.removed event, replays a retry with its Idempotency-Key, and keeps the assignments', async () => {
    const ann = await member(newCaller(), 'Ann Lee', 'ann@example.com', 'admin');
    const bob = await member(ann, 'Bob Stone', 'bob@example.com');
    const project = await createProject(ann);
    const task = await createTask(ann, project.id, { assigneeId: bob.userId });
    const headers = { 'Idempotency-Key': `remove-${randomUUID()}` };
    const first = await invoke('removeMember', ann, { params: { userId: bob.userId }, headers });
    expect(first.status).toBe(204);
    const retry = await invoke('removeMember', ann, { params: { userId: bob.userId }, headers });
    expect(retry.status).toBe(204);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect((await invoke('removeMember', ann, { params: { userId: bob.userId } })).status).toBe(204);
    const events = await sql<{ type: string; payload: any }>("SELECT type, payload FROM event_log WHERE organization_id = $1 AND type = 'member.removed'", [ann.orgId]);
    expect(events).toEqual([{ type: 'member.removed', payload: expect.objectContaining({ id: bob.userId, name: 'Bob Stone', removedAt: expect.any(String) }) }]);
    // Refused from now on, on every route, though his token is still good.
    const refused = await invoke('getTask', bob, { params: { taskId: task.id } });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('MEMBER_REMOVED');
    // A read runs its query beside the removed-member check; a write waits for it, so his changes nothing.
    const write = await invoke('updateTask', bob, { params: { taskId: task.id }, body: { version: 1, title: 'Mine now' } });
    expect(write.status).toBe(403);
    expect(write.body.code).toBe('MEMBER_REMOVED');
    expect((await invoke('getTask', ann, { params: { taskId: task.id } })).body).toMatchObject({ assigneeId: bob.userId, version: 1 });
    // Nor does a read with a token that carries a new e-mail: his profile stays as it was.
    expect((await invoke('getMe', { ...bob, email: 'bob@elsewhere.example' })).status).toBe(403);
    expect(await sql('SELECT email FROM users WHERE id = $1', [bob.userId])).toEqual([{ email: 'bob@example.com' }]);
    expect((await invoke('listWatchers', ann, { params: { taskId: task.id } })).body.items.map((w: any) => w.userId)).toEqual([ann.userId]);
    // The task keeps him through other changes, but nothing is assigned to him again.
    expect((await invoke('updateTask', ann, { params: { taskId: task.id }, body: { version: 1, title: 'Still his' } })).body.assigneeId).toBe(bob.userId);
    const other = await createTask(ann, project.id);
    for (const response of [
      await invoke('updateTask', ann, { params: { taskId: other.id }, body: { version: 1, assigneeId: bob.userId } }),
      await invoke('createTask', ann, { params: { projectId: project.id }, body: { title: 'New', assigneeId: bob.userId } }),
    ]) {
      expect(response.status).toBe(422);
      expect(response.body.code).toBe('ASSIGNEE_NOT_MEMBER');
    }
  });
});
