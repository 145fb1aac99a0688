import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { metrics } from '../shared/metrics';
import { TASK_UPDATE_METRICS } from '../shared/telemetry';
import { notFound, Problem } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { mergeChanges, same, withLabelOps, type FieldName, type TaskFields } from './merge';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import type { TaskDto, UpdateTaskInput } from './schemas';
import { etagOf, refusedAsProblems } from './tasks';

export type TaskChanges = Omit<UpdateTaskInput, 'version'>;

// API field → column, for the fields a PATCH may set.
const COLUMNS: Record<FieldName, string> = {
  title: 'title',
  description: 'description',
  status: 'status',
  priority: 'priority',
  assigneeId: 'assignee_id',
  dueDate: 'due_date',
  labels: 'labels',
};

// Concurrent merges of one task each retry until their write lands on the version they merged with.
const MAX_ATTEMPTS = 20;

/**
 * Applies a PATCH (review C6). At the caller's version it is one statement. If the task moved on
 * since, the caller's changes are merged against the version it started from (see merge.ts) and
 * written on the current version; what cannot merge is a 409 VERSION_CONFLICT carrying the current
 * task, the caller's changes and the conflicting fields, logged in task_conflicts and counted.
 * `addLabels`/`removeLabels` apply to whatever the labels are then, so they never conflict.
 */
export async function updateTask(
  caller: Caller,
  trace: Trace,
  taskId: string,
  changes: TaskChanges,
  expectedVersion: number | null,
): Promise<{ task: TaskDto; merged: boolean }> {
  const { addLabels, removeLabels, ...fields } = changes;
  const labelOps = { add: addLabels ?? [], remove: removeLabels ?? [] };
  let attempt: { fields: Partial<TaskFields>; version: number | null } = { fields, version: expectedVersion };
  for (let round = 0; round < MAX_ATTEMPTS; round += 1) {
    const written = await write(caller, trace, taskId, attempt.fields, labelOps, attempt.version);
    if (written) {
      count(TASK_UPDATE_METRICS.updates, ...(round > 0 ? [TASK_UPDATE_METRICS.merged] : []));
      return { task: written, merged: round > 0 };
    }
    const state = await stateForMerge(caller, taskId, expectedVersion);
    if (!state) throw notFound('Task');
    const { current } = state;
    // A version the task never had cannot be a base to merge against.
    const future = expectedVersion !== null && expectedVersion > current.version;
    const { apply, conflicts } = future
      ? { apply: {}, conflicts: (Object.keys(fields) as FieldName[]).filter((field) => fields[field] !== undefined) }
      : mergeChanges(state.base, current, fields);
    if (conflicts.length > 0) {
      await logConflict(caller, trace.requestId, current, expectedVersion, conflicts, changes);
      throw conflict(current, changes, conflicts, expectedVersion);
    }
    const labels = withLabelOps(apply.labels ?? current.labels, labelOps);
    if (Object.keys(apply).length === 0 && same(labels, current.labels)) {
      // Everything the caller asked for is already there (a retry of an applied update, say): no write.
      return { task: current, merged: expectedVersion !== null && expectedVersion < current.version };
    }
    attempt = { fields: apply, version: current.version };
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * (round + 1)));
  }
  throw new Problem(503, 'TOO_MANY_CONCURRENT_UPDATES', 'The task is changing too fast; retry shortly', undefined, {}, { 'Retry-After': '1' });
}

/**
 * One conditional write; null when the task is not at `version` (or not there at all), or when it
 * would change nothing (label operations that are already applied).
 */
async function write(
  caller: Caller,
  trace: Trace,
  taskId: string,
  fields: Partial<TaskFields>,
  labelOps: { add: string[]; remove: string[] },
  version: number | null,
): Promise<TaskDto | null> {
  const names = (Object.keys(fields) as FieldName[]).filter((field) => fields[field] !== undefined);
  const labelsChange = labelOps.add.length + labelOps.remove.length > 0;
  const values: Record<string, unknown> = { taskId, version, ...Object.fromEntries(names.map((field) => [field, fields[field]])) };
  if (labelsChange) Object.assign(values, { addLabels: labelOps.add, removeLabels: labelOps.remove });
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => {
    const assignments = names.map((field) => `${COLUMNS[field]} = ${$[field]}`);
    let changesSomething = 'true';
    if (labelsChange) {
      // Set semantics in one expression: no read-modify-write, so concurrent label edits all land.
      const labels = `ARRAY(
        SELECT l FROM unnest(labels || ${$.addLabels}::text[]) WITH ORDINALITY AS x(l, n)
        WHERE NOT (l = ANY(${$.removeLabels}::text[])) GROUP BY l ORDER BY min(n))`;
      assignments.push(`labels = ${labels}`);
      // Label operations alone that are already applied write nothing: no new version, no event.
      if (names.length === 0) changesSomething = `labels IS DISTINCT FROM ${labels}`;
    }
    return {
      first: {
        // Locks the row first, so what the event says the change replaced (status, assignee: what notifications
        // are about) is exactly the version this update applies to.
        before: `SELECT id, status, assignee_id FROM tasks WHERE organization_id = ${$.organization} AND id = ${$.taskId} FOR NO KEY UPDATE`,
      },
      change: `
        UPDATE tasks SET ${[...assignments, 'version = tasks.version + 1', 'updated_at = now()'].join(', ')}
        FROM before
        WHERE tasks.id = before.id AND (${$.version}::bigint IS NULL OR tasks.version = ${$.version}) AND ${changesSomething}
        RETURNING tasks.id, tasks.project_id, task_json(tasks) AS doc,
          json_build_object('status', before.status, 'assigneeId', before.assignee_id) AS previous`,
      taskVersion: true,
      event: { type: 'task.updated', withPrevious: true },
      select: { columns: 'doc', from: 'changed' },
    };
  });
  const { rows } = await refusedAsProblems(() => db.query<{ doc: TaskDto; outbox: OutboxEntry[] }>(text, params));
  if (!rows[0]) return null;
  await publishNow(rows[0].outbox);
  return rows[0].doc;
}

/** The task now, and as it was at the caller's base version (null if that version is unknown). */
async function stateForMerge(caller: Caller, taskId: string, baseVersion: number | null) {
  const { rows } = await read<{ current: TaskDto; base: TaskDto | null }>(
    `SELECT task_json(t) AS current,
            (SELECT v.doc FROM task_versions v WHERE v.task_id = t.id AND v.version = $3) AS base
     FROM tasks t WHERE t.organization_id = $1 AND t.id = $2`,
    [caller.orgId, taskId, baseVersion],
  );
  return rows[0] ?? null;
}

async function logConflict(
  caller: Caller,
  requestId: string,
  current: TaskDto,
  baseVersion: number | null,
  conflicts: FieldName[],
  changes: TaskChanges,
): Promise<void> {
  count(TASK_UPDATE_METRICS.conflicts);
  await db.query(
    `INSERT INTO task_conflicts (organization_id, task_id, base_version, current_version, conflicting_fields, your_changes, actor_id, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [caller.orgId, current.id, baseVersion ?? current.version, current.version, conflicts, JSON.stringify(changes), caller.userId, requestId],
  );
}

function conflict(current: TaskDto, changes: TaskChanges, conflicts: FieldName[], baseVersion: number | null): Problem {
  return new Problem(
    409,
    'VERSION_CONFLICT',
    'The task was changed since the version you sent',
    `You sent version ${baseVersion}; the task is at version ${current.version}, and ${conflicts.join(', ')} changed differently since.`,
    { current, yourChanges: changes, conflictingFields: conflicts },
    { ETag: etagOf(current) },
  );
}

/** One EMF line for the counts of this update. */
function count(...names: string[]): void {
  for (const name of names) metrics.addMetric(name, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
