import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound } from '../shared/problem';
import type { Trace } from '../shared/trace';
import type { WatcherListDto } from './member-schemas';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';

// A task's watchers (issue 17): its creator, its assignee and everyone who commented on it watch it implicitly;
// a member's own choice (task_watchers) wins over that either way. The notification rules use this, and only this.

/** A task's implicit watcher: SQL true when the user `u` created the task `t`, is its assignee or commented on it. */
const implicitWatcher = (t: string, u: string) =>
  `(${u} = ${t}.created_by OR ${u} = ${t}.assignee_id OR EXISTS (SELECT 1 FROM comments c WHERE c.task_id = ${t}.id AND c.author_id = ${u}))`;

/** SQL true when the user `u` watches the task `t`: their own choice, else whether they watch it implicitly. */
export const watches = (t: string, u: string) =>
  `coalesce((SELECT w.watching FROM task_watchers w WHERE w.task_id = ${t}.id AND w.user_id = ${u}), ${implicitWatcher(t, u)}) IS TRUE`;

/**
 * Watches (`watching`) or stops watching a task, as the caller: one statement. Only a change of what the caller
 * watches is written, with its event (watcher.added or watcher.removed); the same request again changes nothing.
 * A task of another organization is 404. In an archived project the write is always tried, and the schema refuses
 * it (409 PROJECT_ARCHIVED, migration 0017), so the answer does not depend on whether the caller watched the task.
 * (An unarchive racing the statement may let that write land: the caller's choice as it was, and its event.)
 */
export async function setWatching(caller: Caller, trace: Trace, taskId: string, watching: boolean): Promise<void> {
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values: { taskId, watching } }, ($) => ({
    first: {
      task: `SELECT t.id, t.project_id, ${watches('t', `${$.actor}::text`)} AS watching
FROM tasks t WHERE t.organization_id = ${$.organization} AND t.id = ${$.taskId} AND NOT project_deleted(t.project_id)`,
    },
    change: `
      INSERT INTO task_watchers (organization_id, task_id, user_id, watching)
      SELECT ${$.organization}, t.id, ${$.actor}, ${$.watching}::boolean FROM task t
      WHERE t.watching <> ${$.watching}::boolean OR NOT project_open(t.project_id)
      ON CONFLICT (task_id, user_id) DO UPDATE SET watching = excluded.watching, updated_at = now()
      RETURNING task_id AS id, (SELECT project_id FROM task) AS project_id,
        json_build_object('taskId', task_id, 'userId', user_id, 'watching', watching) AS doc`,
    event: { type: watching ? 'watcher.added' : 'watcher.removed' },
    select: { columns: 'EXISTS (SELECT 1 FROM task) AS found' },
  }));
  const { rows } = await db.query<{ found: boolean; outbox: OutboxEntry[] }>(text, params);
  if (!rows[0]?.found) throw notFound('Task');
  await publishNow(rows[0].outbox);
}

/** The task's watchers (members not removed), by name; 404 for a task not in the organization. One read. */
export async function listWatchers(caller: Caller, taskId: string): Promise<WatcherListDto> {
  const { rows } = await read<{ user_id: string | null; name: string | null; email: string | null; reasons: WatcherListDto['items'][number]['reasons'] }>(
    `SELECT u.id AS user_id, u.name, u.email,
       array_remove(ARRAY[
         CASE WHEN w.watching THEN 'explicit' END, CASE WHEN u.id = t.created_by THEN 'creator' END,
         CASE WHEN u.id = t.assignee_id THEN 'assignee' END,
         CASE WHEN EXISTS (SELECT 1 FROM comments c WHERE c.task_id = t.id AND c.author_id = u.id) THEN 'commenter' END
       ], NULL) AS reasons
     FROM tasks t
     LEFT JOIN LATERAL (
       SELECT t.created_by AS user_id UNION SELECT t.assignee_id UNION SELECT c.author_id FROM comments c WHERE c.task_id = t.id
       UNION SELECT tw.user_id FROM task_watchers tw WHERE tw.task_id = t.id
     ) candidate ON true
     LEFT JOIN memberships m ON m.organization_id = t.organization_id AND m.user_id = candidate.user_id AND m.removed_at IS NULL
     LEFT JOIN users u ON u.id = m.user_id AND ${watches('t', 'm.user_id')}
     LEFT JOIN task_watchers w ON w.task_id = t.id AND w.user_id = u.id
     WHERE t.organization_id = $1 AND t.id = $2 AND NOT project_deleted(t.project_id)
     ORDER BY u.name, u.id`,
    [caller.orgId, taskId],
  );
  if (rows.length === 0) throw notFound('Task');
  return {
    taskId,
    items: rows.flatMap((row) => (row.user_id === null ? [] : [{ userId: row.user_id, name: row.name, email: row.email, reasons: row.reasons }])),
  };
}
