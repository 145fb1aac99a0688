import { db, read } from '../shared/db';
import { notFound, Problem } from '../shared/problem';
import { appendEvent, eventParams } from './events';
import { decodeCursor, page } from './pagination';
import type { CreateTaskInput, TaskDto, UpdateTaskInput } from './schemas';
import type { Caller } from './tenancy';

export type TaskChanges = Omit<UpdateTaskInput, 'version'>;

// API field → column, for the fields a PATCH may change.
const COLUMNS: Record<keyof TaskChanges, string> = {
  title: 'title',
  description: 'description',
  status: 'status',
  priority: 'priority',
  assigneeId: 'assignee_id',
  dueDate: 'due_date',
  labels: 'labels',
};

export const etagOf = (task: Pick<TaskDto, 'version'>) => `"${task.version}"`;

/** `"3"` or `W/"3"` → 3; `*` → null (any version); anything else is refused. */
export function versionFromIfMatch(ifMatch: string): number | null {
  if (ifMatch.trim() === '*') return null;
  const match = /^(?:W\/)?"(\d+)"$/.exec(ifMatch.trim());
  if (!match) throw new Problem(400, 'INVALID_IF_MATCH', 'If-Match must be an ETag this API returned');
  return Number(match[1]);
}

export async function createTask(caller: Caller, requestId: string, projectId: string, input: CreateTaskInput): Promise<TaskDto> {
  const { rows } = await mutation(() =>
    db.query<{ doc: TaskDto }>(
      `WITH changed AS (
         INSERT INTO tasks (organization_id, project_id, title, description, status, priority, assignee_id, due_date, labels, created_by)
         SELECT $1, p.id, $5, $6, $7, $8, $9, $10, $11, $2 FROM projects p WHERE p.organization_id = $1 AND p.id = $4
         RETURNING id, project_id, task_json(tasks) AS doc
       ), ${appendEvent('task.created')}
       SELECT doc FROM changed`,
      [
        ...eventParams(caller, requestId),
        projectId,
        input.title,
        input.description,
        input.status,
        input.priority,
        input.assigneeId,
        input.dueDate,
        input.labels,
      ],
    ),
  );
  if (!rows[0]) throw notFound('Project');
  return rows[0].doc;
}

export interface TaskFilters {
  status?: string;
  assignee?: string;
  dueBefore?: string;
  limit: number;
  cursor?: string;
}

export async function listTasks(caller: Caller, projectId: string, filters: TaskFilters) {
  const after = decodeCursor(filters.cursor);
  // One round trip answers both "does the project exist here" and "which tasks".
  const { rows } = await read<{ doc: TaskDto | null }>(
    `SELECT t.doc FROM projects p
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
     WHERE p.organization_id = $1 AND p.id = $2`,
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

export async function findTask(caller: Caller, taskId: string): Promise<TaskDto | null> {
  const { rows } = await read<{ doc: TaskDto }>(
    'SELECT task_json(t) AS doc FROM tasks t WHERE t.organization_id = $1 AND t.id = $2',
    [caller.orgId, taskId],
  );
  return rows[0]?.doc ?? null;
}

export async function getTask(caller: Caller, taskId: string): Promise<TaskDto> {
  const task = await findTask(caller, taskId);
  if (!task) throw notFound('Task');
  return task;
}

/**
 * Applies `changes` if the task is still at `expectedVersion` (null: whatever version it is at).
 * A stale version is a 409 VERSION_CONFLICT carrying the current task, so the client can re-apply.
 */
export async function updateTask(
  caller: Caller,
  requestId: string,
  taskId: string,
  changes: TaskChanges,
  expectedVersion: number | null,
): Promise<TaskDto> {
  const fields = (Object.keys(changes) as (keyof TaskChanges)[]).filter((field) => changes[field] !== undefined);
  const assignments = fields.map((field, index) => `${COLUMNS[field]} = $${index + 6}`);
  const { rows } = await mutation(() =>
    db.query<{ doc: TaskDto }>(
      `WITH changed AS (
         UPDATE tasks SET ${assignments.join(', ')}, version = version + 1, updated_at = now()
         WHERE organization_id = $1 AND id = $4 AND ($5::bigint IS NULL OR version = $5)
         RETURNING id, project_id, task_json(tasks) AS doc
       ), ${appendEvent('task.updated')}
       SELECT doc FROM changed`,
      [...eventParams(caller, requestId), taskId, expectedVersion, ...fields.map((field) => changes[field])],
    ),
  );
  if (rows[0]) return rows[0].doc;
  const current = await findTask(caller, taskId);
  if (!current) throw notFound('Task');
  throw new Problem(
    409,
    'VERSION_CONFLICT',
    'The task was changed since the version you sent',
    `You sent version ${expectedVersion}; the task is at version ${current.version}.`,
    { current },
    { ETag: etagOf(current) },
  );
}

export async function deleteTask(caller: Caller, requestId: string, taskId: string): Promise<void> {
  const { rows } = await db.query(
    `WITH changed AS (
       DELETE FROM tasks WHERE organization_id = $1 AND id = $4
       RETURNING id, project_id, task_json(tasks) AS doc
     ), ${appendEvent('task.deleted')}
     SELECT id FROM changed`,
    [...eventParams(caller, requestId), taskId],
  );
  if (!rows[0]) throw notFound('Task');
}

/** Database refusals that are the caller's doing, as 4xx problems. */
async function mutation<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const { code, constraint } = error as { code?: string; constraint?: string };
    if (code === '23503' && constraint?.includes('assignee')) {
      throw new Problem(422, 'ASSIGNEE_NOT_MEMBER', 'The assignee is not a member of this organization');
    }
    throw error;
  }
}
