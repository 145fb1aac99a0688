import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { removeDeletedProject } from '../../functions/domain/project-deletion';
import { reportKey } from '../../functions/domain/reports';
import { headObject, putJson, putObject } from '../../functions/shared/s3';
import { taskflow } from '../../lib/app';
import { sqsRecord } from '../../lib/local/event-sources';
import { loadHandler } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { createProject, createTask, invoke, memberOf, newCaller, type Caller } from '../support/api';
import { sql } from '../support/sql';

// Issue 17: DELETE /projects/{projectId} (an admin) hides the project at once and puts project.deleted on the
// feed; the deletions worker removes its tasks, comments, attachments and their objects, links and reports in
// batches, freeing the quota counts, while the organization's other projects keep answering.

/** `count` tasks in the project, as the API would have made them (a version each, counted), a comment on every tenth. */
async function seedTasks(caller: Caller, projectId: string, count: number): Promise<void> {
  await sql(
    `WITH t AS (
       INSERT INTO tasks (organization_id, project_id, title, created_by)
       SELECT $1, $2, 'Seeded ' || g, $3 FROM generate_series(1, $4::int) g
       RETURNING id, task_json(tasks)::jsonb AS doc
     ), v AS (
       INSERT INTO task_versions (task_id, version, doc, changed_by) SELECT id, 1, doc, $3 FROM t
     ), c AS (
       INSERT INTO comments (organization_id, task_id, author_id, body)
       SELECT $1, id, $3, 'A seeded comment' FROM t WHERE (doc->>'title') LIKE '%0'
     )
     UPDATE organizations SET task_count = task_count + $4 WHERE id = $1`,
    [caller.orgId, projectId, caller.userId, count],
  );
}

/** An attachment on a task with its object in the files bucket, counted in storage, as a confirmed upload is. */
async function seedAttachment(caller: Caller, taskId: string): Promise<string> {
  const id = randomUUID();
  const key = `attachments/${caller.orgId}/${id}`;
  await putObject(key, 'file content', 'text/plain');
  await sql(
    `WITH a AS (
       INSERT INTO attachments (id, organization_id, task_id, s3_key, file_name, content_type, size, uploaded_by)
       VALUES ($1, $2, $3, $4, 'f.txt', 'text/plain', 12, $5)
     )
     UPDATE organizations SET storage_bytes = storage_bytes + 12 WHERE id = $2`,
    [id, caller.orgId, taskId, key, caller.userId],
  );
  return key;
}

const counts = (orgId: string) =>
  sql<{ projects: number; tasks: number; bytes: number; liveProjects: number; liveTasks: number; liveBytes: number }>(
    `SELECT o.project_count::int AS projects, o.task_count::int AS tasks, o.storage_bytes::int AS bytes,
       (SELECT count(*)::int FROM projects p WHERE p.organization_id = o.id AND p.deleted_at IS NULL) AS "liveProjects",
       (SELECT count(*)::int FROM tasks t WHERE t.organization_id = o.id AND NOT project_deleted(t.project_id)) AS "liveTasks",
       (SELECT coalesce(sum(a.size), 0)::int FROM attachments a JOIN tasks t ON t.id = a.task_id
        WHERE a.organization_id = o.id AND NOT project_deleted(t.project_id)) AS "liveBytes"
     FROM organizations o WHERE o.id = $1`,
    [orgId],
  ).then((rows) => rows[0]!);

/** What is left of a project, table by table. */
const leftOf = (projectId: string, taskIds: string[]) =>
  sql(
    `SELECT (SELECT count(*)::int FROM projects WHERE id = $1) AS projects,
       (SELECT count(*)::int FROM tasks WHERE project_id = $1) AS tasks,
       (SELECT count(*)::int FROM comments WHERE task_id = ANY($2::uuid[])) AS comments,
       (SELECT count(*)::int FROM attachments WHERE task_id = ANY($2::uuid[])) AS attachments,
       (SELECT count(*)::int FROM task_versions WHERE task_id = ANY($2::uuid[])) AS versions,
       (SELECT count(*)::int FROM task_conflicts WHERE task_id = ANY($2::uuid[])) AS conflicts,
       (SELECT count(*)::int FROM integration_links WHERE project_id = $1) AS links,
       (SELECT count(*)::int FROM weekly_reports WHERE project_id = $1) AS reports`,
    [projectId, taskIds],
  ).then((rows) => rows[0]);

type Consumer = (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

/** The deletions worker, given the project.deleted message the DELETE put in the outbox. */
async function runDeletionWorker(projectId: string, timeoutMs = 300_000): Promise<SQSBatchResponse> {
  const [entry] = await sql<{ body: unknown }>("SELECT body FROM outbox WHERE destination = 'deletions' AND body->>'subjectId' = $1", [projectId]);
  expect(entry).toBeDefined();
  const handler = await loadHandler<Consumer>(taskflow.queues.deletions.consumer.entry);
  const record = sqsRecord(
    { MessageId: randomUUID(), ReceiptHandle: randomUUID(), Body: JSON.stringify(entry!.body), Attributes: { ApproximateReceiveCount: '1' } },
    'arn:aws:sqs:us-east-1:000000000000:deletions',
    'us-east-1',
  );
  return handler({ Records: [record] }, lambdaContext('ProjectDeletion', timeoutMs));
}

describe('deleting a project', () => {
  it('is for admins only (403 ADMIN_ONLY); 404 for an unknown, malformed or already deleted project', async () => {
    const admin = newCaller('admin');
    const member = memberOf(admin);
    const project = await createProject(admin);
    const refused = await invoke('deleteProject', member, { params: { projectId: project.id } });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'ADMIN_ONLY' });
    expect((await invoke('getProject', member, { params: { projectId: project.id } })).status).toBe(200);
    for (const projectId of [randomUUID(), 'not-a-uuid']) {
      expect((await invoke('deleteProject', admin, { params: { projectId } })).status).toBe(404);
    }
    const deleted = await invoke('deleteProject', admin, { params: { projectId: project.id }, headers: { 'Idempotency-Key': 'del-1' } });
    const replayed = await invoke('deleteProject', admin, { params: { projectId: project.id }, headers: { 'Idempotency-Key': 'del-1' } });
    expect([deleted.status, replayed.status, replayed.headers['idempotent-replayed']]).toEqual([204, 204, 'true']);
    expect((await invoke('deleteProject', admin, { params: { projectId: project.id } })).status).toBe(404);
    expect(await sql('SELECT type FROM event_log WHERE subject_id = $1 ORDER BY seq', [project.id])).toEqual([
      { type: 'project.created' }, { type: 'project.deleted' },
    ]);
  });

  it('of 5,000 tasks: hidden at once, then removed with every row and object while the other projects keep answering; the quota is freed', async () => {
    const admin = newCaller('admin');
    const colleague = memberOf(admin);
    const doomed = await createProject(admin, 'Doomed');
    const kept = await createProject(admin, 'Kept');
    // Enough room for 5,000 tasks and the rest.
    await sql("UPDATE organizations SET plan = 'enterprise' WHERE id = $1", [admin.orgId]);
    await seedTasks(admin, doomed.id, 5_000);
    const visible = await createTask(admin, doomed.id, { title: 'A findable gryphon' });
    const doomedTasks = (await sql<{ id: string }>('SELECT id FROM tasks WHERE project_id = $1', [doomed.id])).map((row) => row.id);
    const objects = await Promise.all(doomedTasks.slice(0, 5).map((taskId) => seedAttachment(admin, taskId)));
    await sql(
      `INSERT INTO task_conflicts (organization_id, task_id, base_version, current_version, conflicting_fields, your_changes, actor_id)
       VALUES ($1, $2, 1, 2, '{title}', '{}', $3)`,
      [admin.orgId, visible.id, admin.userId],
    );
    expect((await invoke('createLink', admin, { params: { projectId: doomed.id }, body: { type: 'github', target: 'acme/doomed' } })).status).toBe(201);
    const report = reportKey(admin.orgId, doomed.id, '2030-01-07');
    await putJson(report, { metrics: {} });
    await sql(
      "INSERT INTO weekly_reports (id, organization_id, project_id, week_start, s3_key, metrics) VALUES ($1, $2, $3, '2030-01-07', $4, '{}')",
      [randomUUID(), admin.orgId, doomed.id, report],
    );
    const keptTask = await createTask(admin, kept.id, { title: 'Still here' });
    const keptObject = await seedAttachment(admin, keptTask.id);
    const before = await counts(admin.orgId);
    expect(before).toMatchObject({ projects: 2, tasks: 5_002, bytes: 72 });

    // The DELETE: the project is gone from every answer at once.
    expect((await invoke('deleteProject', admin, { params: { projectId: doomed.id } })).status).toBe(204);
    expect((await invoke('getProject', colleague, { params: { projectId: doomed.id } })).status).toBe(404);
    expect((await invoke('listProjects', colleague)).body.items.map((p: { id: string }) => p.id)).toEqual([kept.id]);
    expect((await invoke('listProjects', colleague, { query: { archived: 'true' } })).body.items).toEqual([]);
    expect((await invoke('listTasks', colleague, { params: { projectId: doomed.id } })).status).toBe(404);
    expect((await invoke('getTask', colleague, { params: { taskId: visible.id } })).status).toBe(404);
    expect((await invoke('listComments', colleague, { params: { taskId: visible.id } })).status).toBe(404);
    expect((await invoke('search', colleague, { query: { q: 'gryphon' } })).body.items).toEqual([]);
    for (const [operationId, call] of [
      ['createTask', { params: { projectId: doomed.id }, body: { title: 'Too late' } }],
      ['updateTask', { params: { taskId: visible.id }, body: { version: 1, title: 'Too late' } }],
      ['deleteTask', { params: { taskId: visible.id } }],
      ['createComment', { params: { taskId: visible.id }, body: { body: 'Too late' } }],
      ['listLinks', { params: { projectId: doomed.id } }],
      ['listReports', { params: { projectId: doomed.id } }],
      ['updateProject', { params: { projectId: doomed.id }, body: { archived: true } }],
    ] as const) {
      const response = await invoke(operationId, admin, call);
      expect({ operationId, status: response.status, code: response.body.code }).toEqual({ operationId, status: 404, code: 'NOT_FOUND' });
    }
    // Its project count is freed at once; the tasks' and the storage's as they are removed.
    expect((await counts(admin.orgId)).projects).toBe(1);

    // The worker removes it while colleagues keep working in the other project: none of their requests waits
    // for the deletion to finish (they answer while it runs, and every one succeeds).
    let deleting = true;
    const worker = runDeletionWorker(doomed.id).finally(() => {
      deleting = false;
    });
    const during: number[] = [];
    const colleagues = Array.from({ length: 3 }, () => memberOf(admin));
    await Promise.all(
      colleagues.map(async (caller, i) => {
        for (let n = 0; deleting && n < 40; n += 1) {
          const responses = await Promise.all([
            invoke('createTask', caller, { params: { projectId: kept.id }, body: { title: `During ${i}.${n}` } }),
            invoke('listTasks', caller, { params: { projectId: kept.id } }),
            invoke('createComment', caller, { params: { taskId: keptTask.id }, body: { body: `During ${i}.${n}` } }),
          ]);
          for (const response of responses) expect(response.status).toBeLessThan(300);
          if (deleting) during.push(n);
        }
      }),
    );
    expect(await worker).toEqual({ batchItemFailures: [] });
    expect(during.length).toBeGreaterThan(0);

    expect(await leftOf(doomed.id, doomedTasks)).toEqual({
      projects: 0, tasks: 0, comments: 0, attachments: 0, versions: 0, conflicts: 0, links: 0, reports: 0,
    });
    for (const key of [...objects, report]) expect(await headObject(key)).toBeNull();
    expect(await headObject(keptObject)).not.toBeNull();
    // The counts are exactly what is left: the kept project, its tasks (and those made during the deletion), its file.
    const after = await counts(admin.orgId);
    expect(after).toEqual({ ...after, projects: after.liveProjects, tasks: after.liveTasks, bytes: after.liveBytes });
    expect(after).toMatchObject({ projects: 1, bytes: 12 });
    const usage = await invoke('getUsage', admin);
    expect(usage.body.quotas).toMatchObject({ projects: { used: 1 }, tasks: { used: after.tasks }, storageBytes: { used: 12 } });

    // Run again (a redelivered message): nothing left to do, nothing fails.
    expect(await runDeletionWorker(doomed.id)).toEqual({ batchItemFailures: [] });
  });

  it('carries on at the next receive when an invocation has no time left, and frees the counts once done', async () => {
    const admin = newCaller('admin');
    const project = await createProject(admin);
    await sql("UPDATE organizations SET plan = 'enterprise' WHERE id = $1", [admin.orgId]);
    await seedTasks(admin, project.id, 1_000);
    expect((await invoke('deleteProject', admin, { params: { projectId: project.id } })).status).toBe(204);
    // An invocation with less time left than the margin: the message fails, to come back, and nothing is lost.
    expect((await runDeletionWorker(project.id, 10_000)).batchItemFailures).toHaveLength(1);
    expect(await removeDeletedProject(admin.orgId, project.id, Date.now())).toMatchObject({ done: false, tasks: 0 });
    expect((await counts(admin.orgId)).tasks).toBe(1_000);
    expect(await removeDeletedProject(admin.orgId, project.id)).toMatchObject({ done: true, tasks: 1_000, project: true });
    expect(await counts(admin.orgId)).toMatchObject({ projects: 0, tasks: 0, bytes: 0 });
  });
});

describe('a deleted project in members\' preferences', () => {
  it('is no longer muted by anyone, so the preferences can be sent back as they are', async () => {
    const admin = newCaller('admin');
    const member = memberOf(admin);
    const [kept, gone] = [await createProject(admin), await createProject(admin)];
    const muted = await invoke('updatePreferences', member, { body: { mutedProjectIds: [kept.id, gone.id] } });
    expect(muted.body.mutedProjectIds).toEqual([kept.id, gone.id]);
    expect((await invoke('deleteProject', admin, { params: { projectId: gone.id } })).status).toBe(204);
    const after = await invoke('getPreferences', member);
    expect(after.body.mutedProjectIds).toEqual([kept.id]);
    const resent = await invoke('updatePreferences', member, { body: after.body });
    expect(resent.status).toBe(200);
  });
});
