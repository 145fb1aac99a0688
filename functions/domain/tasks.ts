import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound, Problem } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import type { PlanName } from './plans';
import { atLimit, noteUsage, quotaExceeded, underQuota } from './quotas';
import { decodeCursor, page } from './pagination';
import { existingCreation, type Creation } from './client-ids';
import type { CreateTaskInput, TaskDto } from './schemas';

export const etagOf = (task: Pick<TaskDto, 'version'>) => `"${task.version}"`;

/** `"3"` or `W/"3"` → 3; `*` → null (any version); anything else (a number past any version too) is refused. */
export function versionFromIfMatch(ifMatch: string): number | null {
  if (ifMatch.trim() === '*') return null;
  const match = /^(?:W\/)?"(\d+)"$/.exec(ifMatch.trim());
  const version = match ? Number(match[1]) : NaN;
  if (!Number.isSafeInteger(version)) throw new Problem(400, 'INVALID_IF_MATCH', 'If-Match must be an ETag this API returned');
  return version;
}

export async function createTask(caller: Caller, trace: Trace, projectId: string, input: CreateTaskInput): Promise<Creation<TaskDto>> {
  const values = {
    id: input.id ?? null,
    projectId,
    title: input.title,
    description: input.description,
    status: input.status,
    priority: input.priority,
    assigneeId: input.assigneeId,
    dueDate: input.dueDate,
    labels: input.labels,
  };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    quota: { counted: 'tasks' },
    change: `
      INSERT INTO tasks (id, organization_id, project_id, title, description, status, priority, assignee_id, due_date, labels, created_by)
      SELECT coalesce(${$.id}::uuid, gen_random_uuid()), ${$.organization}, p.id, ${$.title}, ${$.description}, ${$.status}, ${$.priority},
        ${$.assigneeId}, ${$.dueDate}, ${$.labels}, ${$.actor}
      FROM projects p WHERE p.organization_id = ${$.organization} AND p.id = ${$.projectId} AND ${underQuota('tasks')}
      ON CONFLICT (id) DO NOTHING
      RETURNING id, project_id, task_json(tasks) AS doc`,
    taskVersion: true,
    event: { type: 'task.created' },
    counts: { tasks: 1 },
    select: {
      columns: `(SELECT doc FROM changed), EXISTS (SELECT 1 FROM projects WHERE organization_id = ${$.organization} AND id = ${$.projectId}) AS project`,
    },
  }));
  const { rows } = await refusedAsProblems(() =>
    db.query<{ doc: TaskDto | null; outbox: OutboxEntry[]; used: number; plan: PlanName; project: boolean }>(text, params),
  );
  const { doc, outbox, used, plan, project } = rows[0]!;
  if (doc) {
    await publishNow(outbox);
    noteUsage(caller.orgId, 'tasks', plan, Number(used));
    return { doc, created: true };
  }
  const existing = await existingCreation<TaskDto>('tasks', caller, input.id, projectId);
  if (!existing) {
    if (project && atLimit('tasks', plan, Number(used))) throw quotaExceeded('tasks', plan);
    throw notFound('Project');
  }
  return { doc: existing, created: false };
}

export interface TaskFilters {
  status?: string;
  assignee?: string;
  dueBefore?: string;
  limit: number;
  cursor?: string;
}

/** A task by id in the organization ($1, $2): one row with its document, none for a deleted project's. */
export const TASK_BY_ID = 'SELECT task_json(t) AS doc FROM tasks t WHERE t.organization_id = $1 AND t.id = $2 AND NOT project_deleted(t.project_id)';

/**
 * A project's tasks, a page ($8 rows) after the cursor ($6, $7), filtered by status ($3), assignee ($4) and due date ($5):
 * one row with a null doc when the project ($1, $2) exists and has none, no row when it does not exist here.
 */
export const TASKS_OF_PROJECT = `SELECT t.doc FROM projects p
  LEFT JOIN LATERAL (
    SELECT task_json(t) AS doc FROM tasks t
    WHERE t.organization_id = p.organization_id AND t.project_id = p.id
      AND ($3::text IS NULL OR t.status = $3)
      AND ($4::text IS NULL OR t.assignee_id = $4)
      AND ($5::date IS NULL OR t.due_date < $5)
      AND ($6::timestamptz IS NULL OR (t.created_at, t.id) > ($6::timestamptz, $7::uuid))
    ORDER BY t.created_at, t.id
    LIMIT $8
  ) t ON true
  WHERE p.organization_id = $1 AND p.id = $2 AND p.deleted_at IS NULL`;

export async function listTasks(caller: Caller, projectId: string, filters: TaskFilters) {
  const after = decodeCursor(filters.cursor);
  // One round trip answers both "does the project exist here" and "which tasks".
  const { rows } = await read<{ doc: TaskDto | null }>(
    TASKS_OF_PROJECT,
    [
      caller.orgId,
      projectId,
      filters.status ?? null,
      filters.assignee ?? null,
      filters.dueBefore ?? null,
      after?.createdAt ?? null,
      after?.id ?? null,
      filters.limit + 1,
    ],
  );
  if (rows.length === 0) throw notFound('Project');
  return page(rows.flatMap((row) => (row.doc ? [row.doc] : [])), filters.limit);
}

async function findTask(caller: Caller, taskId: string): Promise<TaskDto | null> {
  const { rows } = await read<{ doc: TaskDto }>(
    TASK_BY_ID,
    [caller.orgId, taskId],
  );
  return rows[0]?.doc ?? null;
}

export async function getTask(caller: Caller, taskId: string): Promise<TaskDto> {
  const task = await findTask(caller, taskId);
  if (!task) throw notFound('Task');
  return task;
}

export async function deleteTask(caller: Caller, trace: Trace, taskId: string): Promise<void> {
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values: { taskId } }, ($) => ({
    steps: {
      freed: `SELECT coalesce(sum(size), 0) AS bytes FROM attachments WHERE organization_id = ${$.organization} AND task_id = ${$.taskId}`,
    },
    change: `
      DELETE FROM tasks WHERE organization_id = ${$.organization} AND id = ${$.taskId} AND NOT project_deleted(project_id)
      RETURNING id, project_id, task_json(tasks) AS doc`,
    event: { type: 'task.deleted' },
    // Its attachments go with it (ON DELETE CASCADE), and so does the storage they counted.
    counts: { tasks: -1, storageBytes: '-(SELECT bytes FROM freed)' },
    select: { from: 'changed' },
  }));
  const { rows } = await db.query<{ outbox: OutboxEntry[] }>(text, params);
  if (!rows[0]) throw notFound('Task');
  await publishNow(rows[0].outbox);
}

/** A task write's database refusals that are the caller's doing, as 4xx problems. */
export async function refusedAsProblems<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const { code, constraint } = error as { code?: string; constraint?: string };
    if (code === '23503' && constraint?.includes('assignee')) {
      throw new Problem(422, 'ASSIGNEE_NOT_MEMBER', 'The assignee is not a member of this organization');
    }
    if (code === '23514' && constraint === 'tasks_labels_max') {
      throw new Problem(422, 'TOO_MANY_LABELS', 'A task has at most 20 labels');
    }
    throw error;
  }
}
