import { describe, expect, it } from 'vitest';
import { EventMessage } from '../../functions/domain/messages';
import { notify } from '../../functions/domain/notifications';
import { runWeeklyReports } from '../../functions/domain/reports';
import { applySyncResult } from '../../functions/domain/sync-apply';
import { dispatch } from '../../functions/domain/sync-dispatch';
import { headObject } from '../../functions/shared/s3';
import { createProject, createTask, invoke, memberOf, newCaller, type Caller } from '../support/api';
import { sql } from '../support/sql';

// Issue 17: an archived project is read-only (409 PROJECT_ARCHIVED on every write inside it, whoever writes),
// out of GET /projects unless ?archived=true, not synced, not reported, and notifies nobody; unarchived, it is
// as before.
const trace = { requestId: 'archive-test', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

const archive = (caller: Caller, projectId: string, archived = true, headers: Record<string, string> = {}) =>
  invoke('updateProject', caller, { params: { projectId }, body: { archived }, headers });

/** A project with a task, a comment, an attachment and a GitHub link, then archived. */
async function archivedProject() {
  const admin = newCaller('admin');
  const project = await createProject(admin, 'Old');
  const task = await createTask(admin, project.id, { title: 'Kept as it was' });
  const comment = (await invoke('createComment', admin, { params: { taskId: task.id }, body: { body: 'Kept too' } })).body;
  const link = (await invoke('createLink', admin, { params: { projectId: project.id }, body: { type: 'github', target: `acme/old-${project.id}` } })).body;
  const started = await invoke('startAttachmentUpload', admin, { params: { taskId: task.id }, body: { fileName: 'a.txt', contentType: 'text/plain', size: 3 } });
  const form = new FormData();
  for (const [name, value] of Object.entries(started.body.upload.fields as Record<string, string>)) form.append(name, value);
  form.append('file', new Blob([Buffer.from('abc')]), 'a.txt');
  expect((await fetch(started.body.upload.url, { method: 'POST', body: form })).status).toBeLessThan(300);
  expect((await invoke('confirmAttachment', admin, { params: { attachmentId: started.body.attachmentId } })).status).toBe(201);
  const archived = await archive(admin, project.id);
  expect(archived.status).toBe(200);
  return { admin, project, task, comment, link, attachmentId: started.body.attachmentId as string, archived: archived.body };
}

describe('archived projects', () => {
  it('shows archived and archivedAt, and answers a replayed archive (Idempotency-Key) with the same project', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    expect(project).toMatchObject({ archived: false, archivedAt: null });
    const first = await archive(alice, project.id, true, { 'Idempotency-Key': 'archive-1' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: project.id, archived: true });
    expect(Date.parse(first.body.archivedAt)).toBeGreaterThan(0);
    const replayed = await archive(alice, project.id, true, { 'Idempotency-Key': 'archive-1' });
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.body).toEqual(first.body);
    const events = await sql('SELECT type, payload->>\'archived\' AS archived FROM event_log WHERE organization_id = $1 AND subject_id = $2 ORDER BY seq', [alice.orgId, project.id]);
    expect(events).toEqual([{ type: 'project.created', archived: 'false' }, { type: 'project.updated', archived: 'true' }]);
  });

  it('refuses every write inside it with 409 PROJECT_ARCHIVED and changes nothing; reads still answer', async () => {
    const { admin, project, task, comment, link, attachmentId } = await archivedProject();
    const bob = memberOf(admin);
    await invoke('listProjects', bob); // bob is a member
    const writes = {
      createTask: { params: { projectId: project.id }, body: { title: 'New' } },
      updateTask: { params: { taskId: task.id }, body: { version: task.version, title: 'Changed' } },
      deleteTask: { params: { taskId: task.id } },
      createComment: { params: { taskId: task.id }, body: { body: 'New' } },
      updateComment: { params: { commentId: comment.id }, body: { version: 1, body: 'Changed' } },
      deleteComment: { params: { commentId: comment.id } },
      deleteAttachment: { params: { attachmentId } },
      createLink: { params: { projectId: project.id }, body: { type: 'github', target: 'acme/new' } },
      deleteLink: { params: { linkId: link.id } },
      updateProject: { params: { projectId: project.id }, body: { name: 'Renamed' } },
      // The admin created the task, so watches it already: refused all the same, as is stopping.
      watchTask: { params: { taskId: task.id } },
      unwatchTask: { params: { taskId: task.id } },
    } as const;
    const refused = [
      ...Object.entries(writes).map(([operationId, call]) => [operationId, admin, call] as const),
      // Bob does not watch it: his watching would be a change, and is refused.
      ['watchTask', bob, { params: { taskId: task.id } }] as const,
    ];
    for (const [operationId, caller, call] of refused) {
      const response = await invoke(operationId as keyof typeof writes, caller, call);
      expect({ operationId, status: response.status, code: response.body?.code }).toEqual({ operationId, status: 409, code: 'PROJECT_ARCHIVED' });
      expect(response.headers['content-type']).toBe('application/problem+json');
    }
    const [state] = await sql(
      `SELECT (SELECT name FROM projects WHERE id = $1) AS name, (SELECT json_agg(title) FROM tasks WHERE project_id = $1) AS tasks,
         (SELECT json_agg(body) FROM comments WHERE task_id = $2) AS comments, (SELECT count(*)::int FROM attachments WHERE task_id = $2) AS attachments,
         (SELECT count(*)::int FROM integration_links WHERE project_id = $1) AS links`,
      [project.id, task.id],
    );
    expect(state).toEqual({ name: 'Old', tasks: ['Kept as it was'], comments: ['Kept too'], attachments: 1, links: 1 });
    const watchers = async () => (await invoke('listWatchers', admin, { params: { taskId: task.id } })).body.items.map((w: { userId: string }) => w.userId);
    expect(await watchers()).toEqual([admin.userId]);
    expect(await sql('SELECT user_id FROM task_watchers WHERE task_id = $1', [task.id])).toEqual([]);
    const watcherEvents = () => sql('SELECT type, actor_id FROM event_log WHERE organization_id = $1 AND type LIKE \'watcher.%\' ORDER BY seq', [admin.orgId]);
    expect(await watcherEvents()).toEqual([]);
    expect((await invoke('getTask', admin, { params: { taskId: task.id } })).status).toBe(200);
    expect((await invoke('listComments', admin, { params: { taskId: task.id } })).body.items).toHaveLength(1);
    expect((await invoke('getAttachment', admin, { params: { attachmentId } })).status).toBe(200);

    // Unarchived (renamed in the same request), it takes writes again.
    const unarchived = await invoke('updateProject', admin, { params: { projectId: project.id }, body: { archived: false, name: 'Revived' } });
    expect(unarchived.body).toMatchObject({ name: 'Revived', archived: false, archivedAt: null });
    expect((await invoke('createTask', admin, { params: { projectId: project.id }, body: { title: 'New' } })).status).toBe(201);
    expect((await invoke('watchTask', bob, { params: { taskId: task.id } })).status).toBe(204);
    expect((await invoke('watchTask', admin, { params: { taskId: task.id } })).status).toBe(204); // already watching: no change
    expect(new Set(await watchers())).toEqual(new Set([admin.userId, bob.userId]));
    expect(await watcherEvents()).toEqual([{ type: 'watcher.added', actor_id: bob.userId }]);
  });

  it('refuses to record an upload started before the archive, and keeps no copy of it', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const task = await createTask(alice, project.id);
    const started = await invoke('startAttachmentUpload', alice, { params: { taskId: task.id }, body: { fileName: 'late.txt', contentType: 'text/plain', size: 3 } });
    const form = new FormData();
    for (const [name, value] of Object.entries(started.body.upload.fields as Record<string, string>)) form.append(name, value);
    form.append('file', new Blob([Buffer.from('abc')]), 'late.txt');
    expect((await fetch(started.body.upload.url, { method: 'POST', body: form })).status).toBeLessThan(300);
    await archive(alice, project.id);
    const confirmed = await invoke('confirmAttachment', alice, { params: { attachmentId: started.body.attachmentId } });
    expect(confirmed.body).toMatchObject({ status: 409, code: 'PROJECT_ARCHIVED' });
    expect(await headObject(`attachments/${alice.orgId}/${started.body.attachmentId}`)).toBeNull();
    expect(await sql('SELECT id FROM attachments WHERE task_id = $1', [task.id])).toEqual([]);
    expect((await invoke('startAttachmentUpload', alice, { params: { taskId: task.id }, body: { fileName: 'b.txt', contentType: 'text/plain', size: 3 } })).status).toBe(409);
  });

  it('is left out of GET /projects, and listed with ?archived=true', async () => {
    const alice = newCaller();
    const active = await createProject(alice, 'Active');
    const old = await createProject(alice, 'Old');
    await archive(alice, old.id);
    const listed = await invoke('listProjects', alice);
    expect(listed.body.items.map((p: { name: string }) => p.name)).toEqual(['Active']);
    const archived = await invoke('listProjects', alice, { query: { archived: 'true' } });
    expect(archived.body.items.map((p: { id: string; archived: boolean }) => [p.id, p.archived])).toEqual([[old.id, true]]);
    expect((await invoke('listProjects', alice, { query: { archived: 'false' } })).body.items.map((p: { id: string }) => p.id)).toEqual([active.id]);
  });

  it('answers bad input with 400 problems', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    for (const body of [{ archived: 'yes' }, { archived: 1 }, { archived: null }]) {
      const response = await invoke('updateProject', alice, { params: { projectId: project.id }, body });
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toBe('application/problem+json');
    }
    expect((await invoke('listProjects', alice, { query: { archived: 'maybe' } })).status).toBe(400);
  });

  it('is not synced: the dispatcher starts no run for its links, and a run\'s late results import nothing', async () => {
    const { admin, project, link } = await archivedProject();
    await dispatch(trace, { organizationId: admin.orgId });
    const [row] = await sql('SELECT run_id FROM integration_links WHERE id = $1', [link.id]);
    expect(row!.run_id).toBeNull();
    const late = await applySyncResult({
      kind: 'github', runId: crypto.randomUUID(), linkId: link.id, organizationId: admin.orgId, projectId: project.id, outcome: null,
      issues: [{ externalId: 'acme/old#1', title: 'Late issue', body: '', closed: false, url: 'https://github.com/acme/old/issues/1', updatedAt: '2030-01-01T00:00:00Z' }],
    }, trace);
    expect(late).toMatchObject({ state: 'dropped', created: 0 });
    expect(await sql('SELECT id FROM tasks WHERE project_id = $1 AND source = \'github\'', [project.id])).toEqual([]);
  });

  it('is not reported: the weekly job reports the open project of the week and skips the archived one', async () => {
    const alice = newCaller();
    const open = await createProject(alice, 'Open');
    const old = await createProject(alice, 'Archived');
    await archive(alice, old.id);
    // Both existed in a week of 2019 that no other test reports on.
    await sql('UPDATE projects SET created_at = \'2019-05-01T00:00:00Z\' WHERE id = ANY($1::uuid[])', [[open.id, old.id]]);
    try {
      await runWeeklyReports(trace, new Date('2019-06-11T03:00:00Z'));
      const reported = await sql<{ project_id: string }>('SELECT project_id FROM weekly_reports WHERE project_id = ANY($1::uuid[])', [[open.id, old.id]]);
      expect(reported.map((r) => r.project_id)).toEqual([open.id]);
    } finally {
      await sql('UPDATE projects SET created_at = now() WHERE id = ANY($1::uuid[])', [[open.id, old.id]]);
    }
  });

  it('notifies nobody: an assignment made before the archive is not sent once the project is archived', async () => {
    const alice = { ...newCaller(), email: 'alice@example.com', name: 'Alice' };
    const bob = { ...memberOf(alice), email: 'bob@example.com', name: 'Bob' };
    await invoke('listProjects', bob); // bob is a member
    const eventOf = async (projectId: string) => {
      const task = await createTask(alice, projectId, { title: 'For Bob' });
      const assigned = await invoke('updateTask', alice, { params: { taskId: task.id }, body: { version: task.version, assigneeId: bob.userId } });
      expect(assigned.status).toBe(200);
      const [row] = await sql<{ body: unknown }>(
        'SELECT body FROM outbox WHERE destination = \'notifications\' AND body->>\'subjectId\' = $1 AND body->>\'type\' = \'task.updated\'',
        [task.id],
      );
      return EventMessage.parse(row!.body);
    };
    const open = await createProject(alice, 'Open');
    const old = await createProject(alice, 'Archived');
    const openEvent = await eventOf(open.id);
    const oldEvent = await eventOf(old.id);
    await archive(alice, old.id);
    expect(await notify(oldEvent, trace)).toEqual({ notifications: 0, duplicate: false });
    expect(await notify(openEvent, trace)).toEqual({ notifications: 1, duplicate: false });
    const sent = await sql<{ event: string }>(
      'SELECT body->>\'eventId\' AS event FROM outbox WHERE organization_id = $1 AND destination IN (\'slack\', \'email\')',
      [alice.orgId],
    );
    expect(new Set(sent.map((row) => row.event))).toEqual(new Set([openEvent.eventId]));
  });
});
