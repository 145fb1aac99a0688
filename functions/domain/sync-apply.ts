import { db } from '../shared/db';
import { logger } from '../shared/logger';
import type { Trace } from '../shared/trace';
import type { ImportedIssue, RunOutcome, SyncResult } from './messages';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import { PLANS, type PlanName } from './plans';
import { noteUsage, underQuota } from './quotas';

/** What applying one result message did, for the consumer's log. */
export interface Applied {
  /**
   * dropped: the link is gone (or is not the message's project's); stale: another run of the link is in flight
   * (its issues are still applied, its outcome is not).
   */
  state: 'applied' | 'dropped' | 'stale';
  /** Tasks imported / updated (GitHub); calendar events recorded / forgotten (Google Calendar). */
  created: number;
  updated: number;
  /** New issues not imported: the organization is at its plan's tasks quota. */
  refused: number;
  /** This message ended the run (its outcome, or the quota). */
  finished: boolean;
}

// A run stopped by the tasks quota is tried again after this: the organization must make room first.
const QUOTA_RETRY = "interval '1 hour'";
// A run that failed (a repository gone, a calendar not shared, a credential refused) is not tried again every 5
// minutes for ever: the next run waits 5 minutes after the first failure, doubling with each one, at most a day.
const FAILURE_BACKOFF = "interval '5 minutes'";
const FAILURE_BACKOFF_CAP = "interval '24 hours'";
// Concurrent imports of the same new issue: the loser's statement inserted nothing for it and runs again (so does
// a statement PostgreSQL ended in a deadlock).
const MAX_ATTEMPTS = 3;
const DEADLOCK = '40P01';
const CALENDAR_EVENT_ID = /^[a-v0-9]{5,1024}$/;

/**
 * Writes what a sync run found or did (the `syncResults` queue), one statement per message:
 * - GitHub: each issue becomes a task of the link's project, found again by (project, 'github', external id),
 *   so a redelivered or duplicated message changes nothing the second time (see applyIssues).
 * - Google Calendar: each applied change is recorded in calendar_events (the version an event shows never
 *   goes back; a deleted event's row goes).
 * A message with an outcome finishes its run, if the link still waits for that run. The run's change count
 * is the sum of its messages' (each adds to `last_sync_changes`, which the dispatcher reset when the run
 * started). Results of a link that no longer exists are dropped.
 */
export async function applySyncResult(result: SyncResult, trace: Trace): Promise<Applied> {
  const applied = result.kind === 'github' ? await applyIssues(result, trace) : await applyCalendar(result);
  if (applied.state !== 'applied') logger.info('sync result: the link is gone, or another run of it is in flight', { state: applied.state, linkId: result.linkId, runId: result.runId });
  return applied;
}

/**
 * The run's SET clauses of integration_links `l` for a message: its changes added to the run's count, and,
 * when `finish` holds, the run ended — with the outcome's status, or 'failed' naming the quota when
 * `refused` holds (then the ETag and `since` stay, so the next run fetches the issues not imported again).
 */
function runUpdate(
  param: (value: unknown) => string,
  outcome: RunOutcome | null,
  { changes, finish, refused = 'false', quotaError = 'NULL' }: { changes: string; finish: string; refused?: string; quotaError?: string },
): string {
  const since = outcome?.since === undefined ? undefined : timestamp(outcome.since, 'since');
  const retryAt = outcome?.retryAt ? timestamp(outcome.retryAt, 'retryAt') : null;
  const done = `(${finish})`;
  const failed = `(${param(outcome?.status === 'failed')}::boolean)`;
  const ok = `(${done} AND NOT (${refused}))`;
  return `last_sync_changes = coalesce(l.last_sync_changes, 0) + (${changes}),
    run_id = CASE WHEN ${done} THEN NULL ELSE l.run_id END,
    last_sync_at = CASE WHEN ${done} THEN now() ELSE l.last_sync_at END,
    last_sync_status = CASE WHEN ${ok} THEN ${param(outcome?.status ?? 'failed')}::text WHEN ${done} THEN 'failed' ELSE l.last_sync_status END,
    last_sync_error = CASE WHEN ${ok} THEN ${param(outcome?.error?.slice(0, 2_000) ?? null)}::text WHEN ${done} THEN ${quotaError} ELSE l.last_sync_error END,
    etag = CASE WHEN ${ok} AND ${param(outcome?.etag !== undefined)}::boolean THEN ${param(outcome?.etag ?? null)}::text ELSE l.etag END,
    synced_until = CASE WHEN ${ok} AND ${param(since !== undefined)}::boolean THEN ${param(since ?? null)}::timestamptz ELSE l.synced_until END,
    consecutive_failures = CASE WHEN ${ok} AND ${failed} THEN l.consecutive_failures + 1 WHEN ${ok} THEN 0 ELSE l.consecutive_failures END,
    next_sync_at = CASE
      WHEN ${ok} AND ${failed} THEN now() + least(${FAILURE_BACKOFF} * power(2, l.consecutive_failures), ${FAILURE_BACKOFF_CAP})
      WHEN ${ok} THEN coalesce(${param(retryAt)}::timestamptz, now())
      WHEN ${done} THEN now() + ${QUOTA_RETRY}
      ELSE l.next_sync_at END`;
}

/** A timestamp from a worker, or null (logged) when it is not one: a bad value must not make the message poison. */
function timestamp(value: string | null, what: string): string | null {
  if (value === null) return null;
  if (!Number.isNaN(Date.parse(value))) return value;
  logger.warn('sync outcome: not a timestamp, ignored', { what, value });
  return null;
}

function parameters(initial: unknown[]) {
  const values = [...initial];
  return { values, param: (value: unknown) => `$${values.push(value)}` };
}

// The task limit of a plan, in SQL (for the quota message).
const PLAN_TASK_LIMIT = `CASE q.plan ${Object.entries(PLANS).map(([name, plan]) => `WHEN '${name}' THEN ${plan.tasks}`).join(' ')} END`;

type GithubResult = Extract<SyncResult, { kind: 'github' }>;

/** The issues as they are stored: one per external id (its newest copy), text PostgreSQL takes, a title never empty. */
function prepareIssues(issues: readonly ImportedIssue[]) {
  const clean = (text: string) => text.replaceAll('\u0000', '');
  const byId = new Map<string, { ord: number; external_id: string; title: string; body: string; closed: boolean; updated_at: string }>();
  issues.forEach((issue, ord) => {
    const externalId = clean(issue.externalId);
    const seen = byId.get(externalId);
    if (seen && Date.parse(seen.updated_at) > Date.parse(issue.updatedAt)) return;
    byId.set(externalId, { ord, external_id: externalId, title: clean(issue.title).trim() || externalId, body: clean(issue.body), closed: issue.closed, updated_at: issue.updatedAt });
  });
  return [...byId.values()];
}

/**
 * Imports a page of issues in one statement, with the events and outbox entries of the tasks it creates or
 * changes (as the API's mutations write them, so the feed and notifications see imports), then publishes them.
 * - A new issue is a task (created by the link's creator): 'done' if closed, else 'todo'. While the organization
 *   is at its plan's tasks quota, new issues are not imported and the run ends 'failed' naming the quota
 *   (changes to tasks already imported still apply).
 * - A known issue updates its task only on a real change (title, description, status), bumping the version:
 *   closed → 'done'; reopened (open while its task is 'done') → 'todo'; any other local status stays.
 * - Task rows are locked before the organization's row, as the API's updates do (no deadlock).
 * - A concurrent import of the same new issue (a duplicated message): the unique (project, source,
 *   external id) index lets only one insert; the other statement skips it and runs again, finding the task.
 * - Whichever run a page belongs to, it is applied (SQS keeps no order: a run's outcome, which moves `since`
 *   on, may arrive before its earlier pages, and a page may come back after the next run started), but an
 *   issue older than what its task shows (`external_updated_at`) changes nothing.
 */
async function applyIssues(result: GithubResult, trace: Trace): Promise<Applied> {
  const issues = prepareIssues(result.issues);
  for (let attempt = 1; ; attempt += 1) {
    const values = { linkId: result.linkId, projectId: result.projectId, runId: result.runId, issues: JSON.stringify(issues) };
    const { text, params } = mutationStatement({ organizationId: result.organizationId, trace, values }, ($, param) => {
      const conflicted = '((SELECT count(*) FROM fresh) - (SELECT n FROM refused) > (SELECT count(*) FROM inserted))';
      const refused = '((SELECT n FROM refused) > 0)';
      const quotaError = `(SELECT format('Task quota reached: the %s plan allows %s tasks; %s new issues were not imported. Delete tasks or move to a larger plan.', q.plan, ${PLAN_TASK_LIMIT}, (SELECT n FROM refused)) FROM quota q)`;
      const update = runUpdate(param, result.outcome, {
        changes: '(SELECT count(*) FROM changed)',
        finish: `(${param(result.outcome !== null)}::boolean OR ${refused}) AND NOT ${conflicted}`,
        refused,
        quotaError,
      });
      const status = "CASE WHEN i.closed THEN 'done' WHEN b.status = 'done' THEN 'todo' ELSE b.status END";
      return {
        first: {
          link: `
            SELECT id, project_id, created_by FROM integration_links
            WHERE id = ${$.linkId} AND organization_id = ${$.organization} AND project_id = ${$.projectId} AND project_open(project_id)`,
          incoming: `
            SELECT i.ord, i.external_id, left(i.title, 500) AS title, left(i.body, 20000) AS body, i.closed, i.updated_at
            FROM json_to_recordset(${$.issues}::json) AS i(ord int, external_id text, title text, body text, closed boolean, updated_at timestamptz)`,
          before: `
            SELECT t.id, t.external_id, t.title, t.description, t.status, t.assignee_id, t.external_updated_at FROM tasks t, link
            WHERE t.organization_id = ${$.organization} AND t.project_id = link.project_id AND t.source = 'github'
              AND t.external_id IN (SELECT external_id FROM incoming)
            FOR NO KEY UPDATE OF t`,
        },
        // After the task rows (the subquery runs first), as an API update locks them.
        quota: { counted: 'tasks', lockOnlyIf: 'EXISTS (SELECT 1 FROM link) AND EXISTS (SELECT 1 FROM incoming) AND (SELECT count(*) FROM before) >= 0' },
        steps: {
          fresh: `
            SELECT i.*, row_number() OVER (ORDER BY i.ord) AS n FROM incoming i
            WHERE EXISTS (SELECT 1 FROM link) AND NOT EXISTS (SELECT 1 FROM before b WHERE b.external_id = i.external_id)`,
          refused: `SELECT count(*) AS n FROM fresh f WHERE NOT ${underQuota('tasks', 'f.n')}`,
          inserted: `
            INSERT INTO tasks (id, organization_id, project_id, title, description, status, created_by, source, external_id, external_updated_at)
            SELECT gen_random_uuid(), ${$.organization}, link.project_id, f.title, f.body, CASE WHEN f.closed THEN 'done' ELSE 'todo' END, link.created_by, 'github', f.external_id, f.updated_at
            FROM fresh f, link WHERE ${underQuota('tasks', 'f.n')}
            ON CONFLICT (project_id, source, external_id) WHERE source IS NOT NULL DO NOTHING
            RETURNING id, project_id, task_json(tasks) AS doc, NULL::json AS previous, 'task.created'::text AS type, external_id`,
          // Copies newer than what the task shows; real: one that changes what a user sees (a version and an event).
          newer: `
            SELECT b.id, b.status AS old_status, b.assignee_id, i.title, i.body, ${status} AS status, i.updated_at,
              (b.title IS DISTINCT FROM i.title OR b.description IS DISTINCT FROM i.body OR b.status IS DISTINCT FROM ${status}) AS real
            FROM before b JOIN incoming i ON i.external_id = b.external_id
            -- GitHub's updated_at is in whole seconds: a copy of the same second that differs is an edit made in the second
            -- the last copy was read (the next run lists that second again, so the newest copy of it lands last).
            WHERE b.external_updated_at IS NULL OR i.updated_at > b.external_updated_at
              OR (i.updated_at = b.external_updated_at AND (b.title IS DISTINCT FROM i.title OR b.description IS DISTINCT FROM i.body OR b.status IS DISTINCT FROM ${status}))`,
          rewritten: `
            UPDATE tasks t SET title = n.title, description = n.body, status = n.status, external_updated_at = n.updated_at,
              version = t.version + CASE WHEN n.real THEN 1 ELSE 0 END, updated_at = CASE WHEN n.real THEN now() ELSE t.updated_at END
            FROM newer n WHERE t.id = n.id
            RETURNING t.id, t.project_id, task_json(t) AS doc, json_build_object('status', n.old_status, 'assigneeId', n.assignee_id) AS previous,
              'task.updated'::text AS type, t.external_id, n.real`,
          updated: 'SELECT id, project_id, doc, previous, type, external_id FROM rewritten WHERE real',
        },
        // With each issue's place in the page: its events are numbered creations first, then in the page's order.
        change: `
          SELECT c.*, i.ord FROM (SELECT * FROM inserted UNION ALL SELECT * FROM updated) c
          JOIN incoming i ON i.external_id = c.external_id`,
        // The link's creator imports: the tasks' versions and the events are theirs.
        actor: '(SELECT created_by FROM link)',
        taskVersion: true,
        event: { types: ['task.created', 'task.updated'], order: 'c.type, c.ord' },
        counts: { tasks: '(SELECT count(*) FROM inserted)' },
        after: {
          progress: `
            UPDATE integration_links l SET ${update}
            FROM link WHERE l.id = link.id AND l.run_id = ${$.runId}
            RETURNING l.run_id IS NULL AS finished`,
          // Issues refused by the quota in a page of a run that is over (its outcome came first and moved \`since\`
          // past them): the next run must fetch them again, so \`since\` goes back before the oldest and the ETag goes.
          remembered: `
            UPDATE integration_links l SET etag = NULL,
              synced_until = CASE WHEN l.synced_until IS NULL THEN NULL ELSE least(l.synced_until, r.oldest - interval '1 second') END
            FROM link, (SELECT min(f.updated_at) AS oldest FROM fresh f WHERE NOT ${underQuota('tasks', 'f.n')}) r
            WHERE l.id = link.id AND l.run_id IS DISTINCT FROM ${$.runId} AND r.oldest IS NOT NULL`,
        },
        select: {
          // An archived or deleted project takes no imports: a run's results that arrive after are dropped.
          columns: `EXISTS (SELECT 1 FROM link) AS found,
            EXISTS (SELECT 1 FROM link l2 JOIN integration_links il ON il.id = l2.id WHERE il.run_id = ${$.runId} OR il.run_id IS NULL) AS applies,
            (SELECT count(*) FROM inserted) AS created, (SELECT count(*) FROM updated) AS updated,
            (SELECT n FROM refused) AS refused, ${conflicted} AS conflicted,
            coalesce((SELECT finished FROM progress), false) AS finished`,
        },
      };
    });
    const statement = db.query<{
      found: boolean; applies: boolean; created: string; updated: string; refused: string; conflicted: boolean; finished: boolean;
      outbox: OutboxEntry[]; used: string | null; plan: PlanName | null;
    }>(text, params);
    // Concurrent imports into one project may deadlock (PostgreSQL ends one statement, which changed nothing):
    // that one runs again, as after a conflict.
    const rows = await statement.then(
      (result) => result.rows,
      (error: { code?: string }) => {
        if (error.code === DEADLOCK && attempt < MAX_ATTEMPTS) return null;
        throw error;
      },
    );
    if (!rows) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * attempt));
      continue;
    }
    const row = rows[0]!;
    await publishNow(row.outbox);
    const created = Number(row.created);
    if (created > 0 && row.plan) noteUsage(result.organizationId, 'tasks', row.plan, Number(row.used), created);
    if (row.conflicted && attempt < MAX_ATTEMPTS) continue;
    if (row.conflicted) throw new Error('concurrent imports of the same issues kept conflicting; the message is retried');
    const refusedCount = Number(row.refused);
    if (refusedCount > 0) logger.warn('issues not imported: the organization is at its tasks quota', { linkId: result.linkId, refused: refusedCount });
    return {
      state: !row.found ? 'dropped' : row.applies ? 'applied' : 'stale',
      created,
      updated: Number(row.updated),
      refused: refusedCount,
      finished: row.finished,
    };
  }
}

type CalendarResult = Extract<SyncResult, { kind: 'googleCalendar' }>;

/**
 * Records the calendar changes a run made, whichever run (they happened in Google Calendar): an upsert's
 * version never moves back (GREATEST), a delete removes the row. Then the run's count and, with an outcome,
 * its end, if the link still waits for this run.
 */
async function applyCalendar(result: CalendarResult): Promise<Applied> {
  const byTask = new Map<string, { task_id: string; event_id: string; version: number | null }>();
  for (const change of result.applied) {
    // An id TaskFlow would not have chosen cannot be sent back to Google: not recorded, so the next run redoes it.
    if (!CALENDAR_EVENT_ID.test(change.eventId)) {
      logger.warn('calendar result: an event id TaskFlow did not choose, not recorded', { linkId: result.linkId, taskId: change.taskId });
      continue;
    }
    byTask.set(change.taskId, { task_id: change.taskId, event_id: change.eventId, version: change.version });
  }
  const changes = [...byTask.values()];
  const { values, param } = parameters([result.organizationId, result.linkId, result.projectId, result.runId, JSON.stringify(changes)]);
  const update = runUpdate(param, result.outcome, { changes: String(changes.length), finish: `${param(result.outcome !== null)}::boolean` });
  const { rows } = await db.query<{ found: boolean; applies: boolean; upserted: string; deleted: string; finished: boolean }>(
    `WITH link AS (
       SELECT id, run_id FROM integration_links WHERE id = $2 AND organization_id = $1 AND project_id = $3
     ), applied AS (
       SELECT * FROM json_to_recordset($5::json) AS a(task_id uuid, event_id text, version bigint)
     ), upserted AS (
       INSERT INTO calendar_events (link_id, task_id, event_id, synced_version, updated_at)
       SELECT link.id, a.task_id, a.event_id, a.version, now() FROM applied a, link WHERE a.version IS NOT NULL
       ON CONFLICT (link_id, task_id) DO UPDATE SET
         event_id = excluded.event_id,
         synced_version = GREATEST(calendar_events.synced_version, excluded.synced_version),
         updated_at = now()
       RETURNING task_id
     ), deleted AS (
       DELETE FROM calendar_events e USING applied a, link
       WHERE e.link_id = link.id AND e.task_id = a.task_id AND a.version IS NULL
       RETURNING e.task_id
     ), progress AS (
       UPDATE integration_links l SET ${update}
       FROM link WHERE l.id = link.id AND l.run_id = $4
       RETURNING l.run_id IS NULL AS finished
     )
     SELECT EXISTS (SELECT 1 FROM link) AS found, EXISTS (SELECT 1 FROM link WHERE run_id = $4) AS applies,
       (SELECT count(*) FROM upserted) AS upserted, (SELECT count(*) FROM deleted) AS deleted,
       coalesce((SELECT finished FROM progress), false) AS finished`,
    values,
  );
  const row = rows[0]!;
  return {
    state: !row.found ? 'dropped' : row.applies ? 'applied' : 'stale',
    created: Number(row.upserted),
    updated: Number(row.deleted),
    refused: 0,
    finished: row.finished,
  };
}
