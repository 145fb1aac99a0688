import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Link, LinkList } from '../../functions/domain/sync-schemas';
import { createProject, createTask, invoke, memberOf, newCaller, type Caller } from '../support/api';
import { sql } from '../support/sql';

// Issue 6: a project's links to a GitHub repository or a Google calendar, each with its last sync.
async function link(caller: Caller, projectId: string, body: Record<string, unknown>) {
  return invoke('createLink', caller, { params: { projectId }, body });
}

// A repository name no other test file (nor another run on the same database) uses.
const repo = () => `acme/repo-${randomUUID().slice(0, 8)}`;

describe('links', () => {
  it('links a repository (201), answers 200 with the same link when asked again, and lists it', async () => {
    const alice = newCaller('admin');
    const project = await createProject(alice);
    const target = repo();
    const created = await link(alice, project.id, { type: 'github', target });
    expect(created.status).toBe(201);
    expect(Link.parse(created.body)).toMatchObject({ projectId: project.id, type: 'github', target, createdBy: alice.userId, lastSync: null });
    // Due at once: the next dispatch starts its first run.
    expect(Date.parse(created.body.nextSyncAt)).toBeLessThanOrEqual(Date.now() + 1_000);

    // GitHub's names are case-insensitive: the same repository, the same link.
    const again = await link(alice, project.id, { type: 'github', target: target.toUpperCase() });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(created.body.id);
    const withOwnId = await link(alice, project.id, { id: randomUUID(), type: 'github', target });
    expect(withOwnId.status).toBe(200);
    expect(withOwnId.body.id).toBe(created.body.id);

    const calendar = await link(alice, project.id, { type: 'googleCalendar', target: '  team@example.com ' });
    expect(calendar.status).toBe(201);
    expect(calendar.body.target).toBe('team@example.com');

    const listed = await invoke('listLinks', alice, { params: { projectId: project.id } });
    expect(listed.status).toBe(200);
    expect(LinkList.parse(listed.body).items.map((l) => l.id)).toEqual([created.body.id, calendar.body.id]);
    expect(await sql('SELECT id FROM integration_links WHERE organization_id = $1', [alice.orgId])).toHaveLength(2);
  });

  it('takes the client\'s id: a retry answers 200 with the same link; an id taken by another link is 409', async () => {
    const alice = newCaller('admin');
    const project = await createProject(alice);
    const id = randomUUID();
    const first = await link(alice, project.id, { id, type: 'github', target: repo() });
    expect(first.status).toBe(201);
    expect(first.body.id).toBe(id);
    const retried = await link(alice, project.id, { id, type: 'github', target: first.body.target });
    expect(retried.status).toBe(200);
    expect(retried.body.id).toBe(id);
    const taken = await link(alice, project.id, { id, type: 'github', target: repo() });
    expect(taken.status).toBe(409);
    expect(taken.body.code).toBe('ID_CONFLICT');
  });

  it('answers 201 to a keyed create and to its retry, and 200 to another key for the same link', async () => {
    const alice = newCaller('admin');
    const project = await createProject(alice);
    const body = { type: 'github', target: repo() };
    const headers = { 'Idempotency-Key': randomUUID() };
    const first = await invoke('createLink', alice, { params: { projectId: project.id }, body, headers });
    expect(first.status).toBe(201);
    const replay = await invoke('createLink', alice, { params: { projectId: project.id }, body, headers });
    expect(replay.status).toBe(201);
    expect(replay.body.id).toBe(first.body.id);
    const otherKey = await invoke('createLink', alice, { params: { projectId: project.id }, body, headers: { 'Idempotency-Key': randomUUID() } });
    expect(otherKey.status).toBe(200);
    expect(otherKey.body.id).toBe(first.body.id);
  });

  it('lets only an organization admin link or unlink (the deployment\'s GitHub token and Google account are behind it); members see the links', async () => {
    const alice = newCaller('admin');
    const bob = memberOf(alice);
    const project = await createProject(alice);
    const refused = await link(bob, project.id, { type: 'github', target: repo() });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('ADMIN_ONLY');
    expect(await sql('SELECT id FROM integration_links WHERE organization_id = $1', [alice.orgId])).toHaveLength(0);
    const created = await link(alice, project.id, { type: 'github', target: repo() });
    expect((await invoke('deleteLink', bob, { params: { linkId: created.body.id } })).status).toBe(403);
    expect((await invoke('listLinks', bob, { params: { projectId: project.id } })).body.items).toHaveLength(1);
    expect((await invoke('deleteLink', alice, { params: { linkId: created.body.id } })).status).toBe(204);
  });

  it('refuses bad input with problem+json 400', async () => {
    const alice = newCaller('admin');
    const project = await createProject(alice);
    for (const body of [
      { type: 'github', target: 'not a repository' },
      { type: 'github', target: 'owner/name/extra' },
      { type: 'github', target: 'https://github.com/owner/name' },
      // Dot parts would walk out of /repos/ on GitHub (/repos/../user/issues is /user/issues).
      { type: 'github', target: '../user' },
      { type: 'github', target: './..' },
      { type: 'github', target: 'owner/..' },
      { type: 'googleCalendar', target: '   ' },
      { type: 'gitlab', target: 'owner/name' },
      { type: 'github', target: 'owner/name', extra: true },
      { type: 'github' },
    ]) {
      const response = await link(alice, project.id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body.code).toBe('VALIDATION_FAILED');
    }
    expect(await sql('SELECT id FROM integration_links WHERE organization_id = $1', [alice.orgId])).toHaveLength(0);
  });

  it('answers 404 for a project or link of another organization, and for one that does not exist', async () => {
    const alice = newCaller('admin');
    const mallory = newCaller('admin');
    const project = await createProject(alice);
    const created = await link(alice, project.id, { type: 'github', target: repo() });
    expect((await link(mallory, project.id, { type: 'github', target: repo() })).status).toBe(404);
    expect((await invoke('listLinks', mallory, { params: { projectId: project.id } })).status).toBe(404);
    const stolen = await invoke('deleteLink', mallory, { params: { linkId: created.body.id } });
    expect(stolen.status).toBe(404);
    expect(stolen.headers['content-type']).toBe('application/problem+json');
    expect((await link(alice, randomUUID(), { type: 'github', target: repo() })).status).toBe(404);
    expect((await invoke('listLinks', alice, { params: { projectId: 'not-a-uuid' } })).status).toBe(404);
    expect((await invoke('deleteLink', alice, { params: { linkId: randomUUID() } })).status).toBe(404);
    expect((await invoke('listLinks', alice, { params: { projectId: project.id } })).body.items).toHaveLength(1);
  });

  it('deletes a link with its calendar events; the tasks stay', async () => {
    const alice = newCaller('admin');
    const project = await createProject(alice);
    const task = await createTask(alice, project.id, { dueDate: '2030-01-01' });
    const calendar = await link(alice, project.id, { type: 'googleCalendar', target: `cal-${randomUUID()}` });
    await sql('INSERT INTO calendar_events (link_id, task_id, event_id, synced_version) VALUES ($1, $2, $3, 1)', [calendar.body.id, task.id, 'abcdef0123']);
    expect((await invoke('deleteLink', alice, { params: { linkId: calendar.body.id } })).status).toBe(204);
    expect((await invoke('deleteLink', alice, { params: { linkId: calendar.body.id } })).status).toBe(404);
    expect(await sql('SELECT * FROM calendar_events WHERE link_id = $1', [calendar.body.id])).toHaveLength(0);
    expect((await invoke('listLinks', alice, { params: { projectId: project.id } })).body.items).toEqual([]);
    expect((await invoke('getTask', alice, { params: { taskId: task.id } })).status).toBe(200);
  });

  it('shows the last finished run: when, how it ended, why, and how many changes', async () => {
    const alice = newCaller('admin');
    const project = await createProject(alice);
    const created = await link(alice, project.id, { type: 'github', target: repo() });
    await sql(
      `UPDATE integration_links SET run_id = NULL, last_sync_at = now(), last_sync_status = 'rate_limited', last_sync_error = 'GitHub rate limit',
         last_sync_changes = 7, next_sync_at = now() + interval '1 hour' WHERE id = $1`,
      [created.body.id],
    );
    const [listed] = (await invoke('listLinks', alice, { params: { projectId: project.id } })).body.items;
    expect(listed).toMatchObject({ id: created.body.id, running: false, lastSync: { status: 'rate_limited', error: 'GitHub rate limit', changes: 7 } });
    expect(Date.parse(listed.nextSyncAt)).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(Link.parse(listed)).toBeTruthy();
  });
});
