import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { db } from '../shared/db';
import { logger } from '../shared/logger';
import { sendMessages, type OutgoingMessage } from '../shared/sqs';
import type { Trace } from '../shared/trace';
import type { CalendarSyncRequest, GithubSyncRequest } from './messages';

/** A run that has not finished after this long is presumed lost (its worker died): the link is due again. */
const STALE_RUN_MINUTES = 30;
/** Links claimed per statement (the scheduled function claims again while a claim comes back full). */
const DISPATCH_BATCH = 50;
/** Calendar changes per run at most; what is left waits for the next run (5 minutes later). */
const MAX_CALENDAR_CHANGES = 100;
// A calendar message stays well inside SQS's 256 KB, however long the titles (500 characters of up to 4 bytes).
const MAX_CALENDAR_MESSAGE_BYTES = 200_000;

export interface DispatchCounts {
  /** Links claimed for a run. */
  claimed: number;
  /** Runs sent to the github / googleCalendar queues. */
  github: number;
  googleCalendar: number;
  /** Calendar links with nothing to change: their run finished at once, 'unchanged'. */
  unchanged: number;
  /** Runs whose message could not be sent: their claim was released, so the next dispatch tries again. */
  failed: number;
}

/**
 * The Google Calendar event id of a task's event on a calendar: stable, so a retried insert finds the event it made,
 * and a calendar unlinked and linked again finds the events it had (no second event per task).
 */
export const calendarEventId = (calendarId: string, taskId: string) => createHash('sha256').update(`${calendarId}:${taskId}`).digest('hex').slice(0, 32);

interface ClaimedLink {
  id: string;
  organizationId: string;
  projectId: string;
  type: 'github' | 'googleCalendar';
  target: string;
  runId: string;
  etag: string | null;
  since: string | null;
}

type PendingChange =
  | { action: 'delete'; taskId: string; eventId: string; version: string | null }
  | { action: 'upsert'; taskId: string; eventId: string | null; version: string; title: string; status: string; dueDate: string };

/**
 * Starts a run for each due link (due: `next_sync_at` passed, and no run in flight, or one started over
 * 30 minutes ago; an organization's GitHub links not while one of them waits for GitHub's rate limit to reset). The links are
 * claimed in one statement (FOR UPDATE SKIP LOCKED, so dispatchers running at once never claim a link twice);
 * then each calendar link's changes are read in a statement of its own. A GitHub run goes to the `github` queue;
 * a calendar run with changes to `googleCalendar`; one without finishes at once ('unchanged'). A link whose
 * changes could not be read or whose run could not be sent has its claim released (it stays due), is logged,
 * and the other links go on.
 * `organizationId` limits the claim to one organization (an operator's "sync now", the tests).
 */
export async function dispatch(trace: Trace, { limit = DISPATCH_BATCH, organizationId }: { limit?: number; organizationId?: string } = {}): Promise<DispatchCounts> {
  const links = await claim(limit, organizationId ?? null);
  const counts: DispatchCounts = { claimed: links.length, github: 0, googleCalendar: 0, unchanged: 0, failed: 0 };
  if (links.length === 0) return counts;
  const attributes = { requestId: trace.requestId, traceparent: trace.traceparent };

  const github: OutgoingMessage[] = links
    .filter((link) => link.type === 'github')
    .map((link) => {
      const request: GithubSyncRequest = {
        runId: link.runId,
        linkId: link.id,
        organizationId: link.organizationId,
        projectId: link.projectId,
        repository: link.target,
        etag: link.etag,
        since: link.since,
      };
      return { id: link.runId, body: JSON.stringify(request), attributes };
    });
  const calendar: OutgoingMessage[] = [];
  const unchanged: ClaimedLink[] = [];
  const unreadable = new Set<string>();
  for (const link of links.filter((l) => l.type === 'googleCalendar')) {
    let changes: PendingChange[];
    try {
      changes = await pendingChanges(link);
    } catch (error) {
      logger.error('a calendar link\'s changes could not be read: its claim is released, the next dispatch tries again', { linkId: link.id, error });
      unreadable.add(link.runId);
      continue;
    }
    const request = calendarRequest(link, changes);
    if (request.changes.length === 0) unchanged.push(link);
    else calendar.push({ id: link.runId, body: JSON.stringify(request), attributes });
  }

  // GitHub requests are small: sent ten to a call. Calendar requests may be large: one to a call, a few at once.
  const limitCalls = pLimit(4);
  const results = await Promise.all([
    github.length > 0 ? sendMessages('github', github) : { sent: [], failed: [] },
    ...calendar.map((message) => limitCalls(() => sendMessages('googleCalendar', [message]))),
  ]);
  const failed = results.flatMap((result) => result.failed);
  const failedRuns = new Set([...failed.map((failure) => failure.id), ...unreadable]);
  counts.github = github.filter((message) => !failedRuns.has(message.id)).length;
  counts.googleCalendar = calendar.filter((message) => !failedRuns.has(message.id)).length;
  counts.failed = failedRuns.size;
  counts.unchanged = unchanged.length;
  for (const failure of failed) {
    const link = links.find((l) => l.runId === failure.id);
    logger.error('sync run not dispatched: its claim is released, the next dispatch tries again', { linkId: link?.id, type: link?.type, reason: failure.reason });
  }

  if (unchanged.length > 0 || failedRuns.size > 0) {
    // One statement: calendar runs with nothing to do finish 'unchanged'; runs not sent are released (still due).
    await db.query(
      `UPDATE integration_links l SET
         run_id = NULL,
         last_sync_at = CASE WHEN r.finished THEN now() ELSE l.last_sync_at END,
         last_sync_status = CASE WHEN r.finished THEN 'unchanged' ELSE l.last_sync_status END,
         last_sync_error = CASE WHEN r.finished THEN NULL ELSE l.last_sync_error END,
         last_sync_changes = CASE WHEN r.finished THEN 0 ELSE l.last_sync_changes END,
         next_sync_at = CASE WHEN r.finished THEN now() ELSE l.next_sync_at END
       FROM unnest($1::uuid[], $2::uuid[], $3::boolean[]) AS r(id, run_id, finished)
       WHERE l.id = r.id AND l.run_id = r.run_id`,
      [
        [...unchanged.map((l) => l.id), ...links.filter((l) => failedRuns.has(l.runId)).map((l) => l.id)],
        [...unchanged.map((l) => l.runId), ...links.filter((l) => failedRuns.has(l.runId)).map((l) => l.runId)],
        [...unchanged.map(() => true), ...links.filter((l) => failedRuns.has(l.runId)).map(() => false)],
      ],
    );
  }
  return counts;
}

/**
 * Dispatches while claims come back full and there is time left (at most `rounds` claims): what the
 * scheduled function runs every 5 minutes.
 */
export async function dispatchDue(trace: Trace, { remainingMs, rounds = 10 }: { remainingMs: () => number; rounds?: number }): Promise<DispatchCounts> {
  const total: DispatchCounts = { claimed: 0, github: 0, googleCalendar: 0, unchanged: 0, failed: 0 };
  for (let round = 0; round < rounds; round += 1) {
    const counts = await dispatch(trace);
    for (const key of Object.keys(total) as (keyof DispatchCounts)[]) total[key] += counts[key];
    if (counts.claimed < DISPATCH_BATCH || remainingMs() < 15_000) break;
  }
  return total;
}

async function claim(limit: number, organizationId: string | null): Promise<ClaimedLink[]> {
  // A new run resets the change count: the run's result messages add theirs to it (sync-apply.ts).
  // GitHub links share one token: one of an organization's at GitHub's rate limit holds the organization's others
  // until its reset (each organization finds the limit once, rather than every link calling into it).
  const { rows } = await db.query<ClaimedLink>(
    `WITH due AS (
       SELECT id FROM integration_links
       WHERE next_sync_at <= now() AND project_open(project_id)
         AND (run_id IS NULL OR run_started_at < now() - interval '${STALE_RUN_MINUTES} minutes')
         AND ($2::text IS NULL OR organization_id = $2)
         AND NOT (type = 'github' AND EXISTS (
           SELECT 1 FROM integration_links r
           WHERE r.organization_id = integration_links.organization_id AND r.type = 'github'
             AND r.last_sync_status = 'rate_limited' AND r.next_sync_at > now()))
       ORDER BY next_sync_at, id
       LIMIT $1
       FOR UPDATE SKIP LOCKED
     )
     UPDATE integration_links l SET run_id = gen_random_uuid(), run_started_at = now(), last_sync_changes = 0
     FROM due WHERE l.id = due.id
     RETURNING l.id, l.organization_id AS "organizationId", l.project_id AS "projectId", l.type, l.target, l.run_id AS "runId", l.etag,
       to_char(l.synced_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since`,
    [limit, organizationId],
  );
  return rows;
}

/**
 * A calendar link's changes, in a statement of its own (a huge project fails alone): an upsert for each task of the
 * project with a due date whose event is missing or shows an older version, a delete for each event whose task is
 * gone or has no due date any more.
 */
async function pendingChanges(link: ClaimedLink): Promise<PendingChange[]> {
  const { rows } = await db.query<PendingChange>(
    `SELECT * FROM (
       SELECT 'delete' AS action, e.task_id AS "taskId", e.event_id AS "eventId", t.version::text AS version,
         NULL::text AS title, NULL::text AS status, NULL::text AS "dueDate"
       FROM calendar_events e LEFT JOIN tasks t ON t.id = e.task_id
       WHERE e.link_id = $1 AND e.synced_version IS NOT NULL
         AND (t.id IS NULL OR t.due_date IS NULL OR t.project_id <> $3)
       UNION ALL
       SELECT 'upsert', t.id, e.event_id, t.version::text, t.title, t.status, to_char(t.due_date, 'YYYY-MM-DD')
       FROM tasks t LEFT JOIN calendar_events e ON e.link_id = $1 AND e.task_id = t.id
       WHERE t.organization_id = $2 AND t.project_id = $3 AND t.due_date IS NOT NULL
         AND (e.task_id IS NULL OR e.synced_version IS NULL OR e.synced_version < t.version)
     ) candidates
     ORDER BY action, "dueDate", "taskId"
     LIMIT ${MAX_CALENDAR_CHANGES}`,
    [link.id, link.organizationId, link.projectId],
  );
  return rows;
}

const STATUS_LABELS: Record<string, string> = { todo: 'to do', in_progress: 'in progress', in_review: 'in review', done: 'done' };

/** A calendar run's request: its changes, as many as fit one message. */
function calendarRequest(link: ClaimedLink, changes: readonly PendingChange[]): CalendarSyncRequest {
  const request: CalendarSyncRequest = {
    runId: link.runId,
    linkId: link.id,
    organizationId: link.organizationId,
    projectId: link.projectId,
    calendarId: link.target,
    changes: [],
  };
  let bytes = Buffer.byteLength(JSON.stringify(request));
  for (const pending of changes) {
    const eventId = pending.eventId ?? calendarEventId(link.target, pending.taskId);
    const change: CalendarSyncRequest['changes'][number] =
      pending.action === 'delete'
        ? { action: 'delete', taskId: pending.taskId, eventId, version: pending.version === null ? null : Number(pending.version) }
        : {
            action: 'upsert',
            taskId: pending.taskId,
            eventId,
            version: Number(pending.version),
            // The task's title and status only: its description may hold what a shared calendar should not show.
            event: { summary: pending.title, description: `TaskFlow task ${pending.taskId} · ${STATUS_LABELS[pending.status] ?? pending.status}`, date: pending.dueDate },
          };
    bytes += Buffer.byteLength(JSON.stringify(change)) + 1;
    if (bytes > MAX_CALENDAR_MESSAGE_BYTES) break; // the rest waits for the next run
    request.changes.push(change);
  }
  return request;
}
