import pLimit from 'p-limit';
import { db } from '../shared/db';
import { deleteObject } from '../shared/s3';

/** Tasks removed per statement: each batch is a short transaction, so nothing waits long behind it. */
const TASKS_PER_BATCH = 200;
/** Objects deleted at once. */
const PARALLEL_DELETES = 8;

export interface Removed {
  tasks: number;
  attachments: number;
  reports: number;
  /** Whether the project row itself is gone (false: the project is not deleted, or is gone already). */
  project: boolean;
}

/**
 * Removes a deleted project (projects.deleted_at, set by DELETE /projects/{projectId}) and everything in it, in
 * batches of tasks: each batch deletes its attachments' objects first, then in one statement the tasks (their
 * comments, attachments, versions by cascade), their conflict log, and their counts from the organization's quotas.
 * The organization's row is taken only at the end of each batch's statement, for the counts; no batch holds a lock
 * that other projects' requests wait on for longer than that. Then the reports' objects, and the project row
 * (its links, calendar-event records and report records by cascade). Safe to run again from anywhere it stopped:
 * a retried message picks up what is left. `stopBefore`: a time (ms since the epoch) to stop at, leaving the rest
 * to the next receive; answers whether all is done.
 */
export async function removeDeletedProject(organizationId: string, projectId: string, stopBefore = Infinity): Promise<Removed & { done: boolean }> {
  const removed: Removed = { tasks: 0, attachments: 0, reports: 0, project: false };
  const deleted = await db.query(
    'SELECT 1 FROM projects WHERE organization_id = $1 AND id = $2 AND deleted_at IS NOT NULL',
    [organizationId, projectId],
  );
  // Not deleted (never, or gone already): nothing to do.
  if (deleted.rows.length === 0) return { ...removed, done: true };
  for (;;) {
    if (Date.now() >= stopBefore) return { ...removed, done: false };
    const { rows } = await db.query<{ id: string }>(
      'SELECT id FROM tasks WHERE organization_id = $1 AND project_id = $2 LIMIT $3',
      [organizationId, projectId, TASKS_PER_BATCH],
    );
    if (rows.length === 0) break;
    const taskIds = rows.map((row) => row.id);
    const objects = await db.query<{ key: string }>('SELECT s3_key AS key FROM attachments WHERE task_id = ANY($1::uuid[])', [taskIds]);
    // Objects first: were the rows removed first and the object deletes then failed, nothing would name the objects.
    await deleteAll(objects.rows.map((row) => row.key));
    const batch = await db.query<{ tasks: string; attachments: string }>(
      `WITH gone AS (
         DELETE FROM tasks WHERE organization_id = $1 AND project_id = $2 AND id = ANY($3::uuid[]) RETURNING id
       ), files AS (
         SELECT count(*) AS attachments, coalesce(sum(a.size), 0) AS bytes FROM attachments a WHERE a.task_id IN (SELECT id FROM gone)
       ), conflicts AS (
         DELETE FROM task_conflicts c WHERE c.organization_id = $1 AND c.task_id IN (SELECT id FROM gone)
       ), counted AS (
         UPDATE organizations SET task_count = task_count - (SELECT count(*) FROM gone), storage_bytes = storage_bytes - (SELECT bytes FROM files)
         WHERE id = $1
       )
       SELECT (SELECT count(*) FROM gone) AS tasks, (SELECT attachments FROM files) AS attachments`,
      [organizationId, projectId, taskIds],
    );
    removed.tasks += Number(batch.rows[0]!.tasks);
    removed.attachments += Number(batch.rows[0]!.attachments);
  }
  const reports = await db.query<{ key: string }>(
    'SELECT s3_key AS key FROM weekly_reports WHERE organization_id = $1 AND project_id = $2',
    [organizationId, projectId],
  );
  await deleteAll(reports.rows.map((row) => row.key));
  removed.reports = reports.rows.length;
  const project = await db.query(
    'DELETE FROM projects WHERE organization_id = $1 AND id = $2 AND deleted_at IS NOT NULL RETURNING id',
    [organizationId, projectId],
  );
  removed.project = project.rows.length > 0;
  return { ...removed, done: true };
}

async function deleteAll(keys: readonly string[]): Promise<void> {
  const limit = pLimit(PARALLEL_DELETES);
  await Promise.all(keys.map((key) => limit(() => deleteObject(key))));
}
