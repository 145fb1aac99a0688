import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { logger } from '../shared/logger';
import { notFound } from '../shared/problem';
import { presignedGet, putJson } from '../shared/s3';
import type { Trace } from '../shared/trace';
import type { EmailMessage } from './messages';
import { FAST_PATH_LEASE, OUTBOX_ENTRIES, publishNow, type OutboxEntry } from './outbox';
import { decodeCursor, encodeCursor } from './pagination';
import { lagTolerantReader } from './replication-lag';
import type { ReportDto, ReportMetricsDto } from './sync-schemas';
import { uuidV5 } from '../shared/uuid';

// Weekly project reports (issue 6): for the week that ended (Monday 00:00 to Monday 00:00, UTC), each
// project's tasks created, completed, overdue at the end of the week and median cycle time, as a JSON
// object in the files bucket (reports/) and one e-mail to each member, exactly once per project and week
// however often the job runs: the weekly_reports row (unique by project and week) and the e-mails' outbox
// entries are written by one statement, and only the run that inserts the row queues the e-mails.

const DOWNLOAD_EXPIRES_SECONDS = 5 * 60;
const DAY_MS = 24 * 60 * 60 * 1000;

// The UUIDv5 namespaces of report ids and of their e-mails' notification ids (fixed, random UUIDs).
const REPORT_IDS = '6f1d3c2a-94b7-4e58-a1c6-2b8e7d05f493';
const REPORT_NOTIFICATION_IDS = 'c48e1a7b-5d02-4f69-8b3e-97a6f0d21c58';

/** A report's id: derived from its project and week, so concurrent or repeated runs name the same report. */
export const reportIdOf = (projectId: string, weekStart: string) => uuidV5(`${projectId}:${weekStart}`, REPORT_IDS);

/** The id of a report's e-mail to a member, which the e-mail sender deduplicates on. */
export const reportNotificationId = (reportId: string, userId: string) => uuidV5(`${reportId}:${userId}`, REPORT_NOTIFICATION_IDS);

export const reportKey = (organizationId: string, projectId: string, weekStart: string) => `reports/${organizationId}/${projectId}/${weekStart}.json`;

export interface ReportWeek {
  /** The Monday the week starts on, YYYY-MM-DD (UTC). */
  weekStart: string;
  /** Its Sunday, YYYY-MM-DD (UTC). */
  lastDay: string;
  /** [start, end): Monday 00:00 UTC to the next Monday 00:00 UTC. */
  start: Date;
  end: Date;
}

/**
 * The week that ended before `now`: the last full Monday–Sunday (UTC) before the week `now` falls in.
 * Any time in the same week gives the same answer, so a rerun targets the same week.
 */
export function weekThatEnded(now: Date): ReportWeek {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const thisMonday = midnight - ((now.getUTCDay() + 6) % 7) * DAY_MS;
  const start = new Date(thisMonday - 7 * DAY_MS);
  const day = (date: Date) => date.toISOString().slice(0, 10);
  return { weekStart: day(start), lastDay: day(new Date(thisMonday - DAY_MS)), start, end: new Date(thisMonday) };
}

export interface WeeklyReportRun {
  weekStart: string;
  /** Projects that had no report for the week when the run came to them. */
  projects: number;
  /** Reports this run recorded (and whose e-mails it queued). */
  reported: number;
  /** Reports a concurrent run recorded first: written to S3 again (the same key), nothing sent. */
  alreadyReported: number;
  failed: number;
  emails: number;
  /** The run stopped for its deadline before every project was done; the next run takes the rest. */
  unfinished: boolean;
}

export interface RunOptions {
  pageSize?: number;
  /** Asked before each project: true stops the run (the Lambda's deadline is near). */
  shouldStop?: () => boolean;
}

interface ProjectRow {
  id: string;
  org: string;
  name: string;
}

/**
 * Writes and e-mails the report of the week that ended before `now` for every project that has none yet,
 * a page of projects at a time (bounded memory). Reads go to the read replica where one is configured and it
 * does not lag (lagTolerantReader).
 * Per project: metrics → S3 object (the same key whoever writes it, so overwriting is harmless) → one
 * statement that records the report and, only if it inserted it, queues the e-mails → publish. A crash
 * after the S3 write leaves no row, so a rerun writes the object again and records it; a rerun after the
 * row finds nothing to do. One project's failure is logged and the run goes on with the others.
 */
export async function runWeeklyReports(trace: Trace, now: Date, options: RunOptions = {}): Promise<WeeklyReportRun> {
  const week = weekThatEnded(now);
  const pageSize = options.pageSize ?? 100;
  const run: WeeklyReportRun = { weekStart: week.weekStart, projects: 0, reported: 0, alreadyReported: 0, failed: 0, emails: 0, unfinished: false };
  let after = '00000000-0000-0000-0000-000000000000';
  // The replica, unless it lags (then the primary, and the log says so).
  const reader = await lagTolerantReader();
  for (;;) {
    // Projects that existed during the week (created before its end) and have no report for it yet.
    const { rows } = await reader<ProjectRow>(
      `SELECT p.id, p.organization_id AS org, p.name FROM projects p
       WHERE p.id > $1 AND p.created_at < $3 AND p.archived_at IS NULL AND p.deleted_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM weekly_reports r WHERE r.project_id = p.id AND r.week_start = $2::date)
       ORDER BY p.id LIMIT $4`,
      [after, week.weekStart, week.end.toISOString(), pageSize],
    );
    for (const project of rows) {
      if (options.shouldStop?.()) {
        run.unfinished = true;
        return run;
      }
      run.projects += 1;
      try {
        const outcome = await reportProject(reader, project, week, trace);
        if (outcome.inserted) {
          run.reported += 1;
          run.emails += outcome.emails;
        } else run.alreadyReported += 1;
      } catch (error) {
        run.failed += 1;
        logger.error('weekly report failed for a project; the others go on', { projectId: project.id, organizationId: project.org, weekStart: week.weekStart, error });
      }
    }
    if (rows.length < pageSize) return run;
    after = rows[rows.length - 1]!.id;
  }
}

interface Member {
  id: string;
  email: string;
  name: string | null;
}

/**
 * The project's metrics for the week, and the members to tell, in one read.
 *
 * Completed: a task completed in the week is one that was done at the end of the week and became done
 * during it: its history (task_versions, written in the same statement as every change) has a version
 * stamped in the week with status `done` whose previous version was not `done` (or that was created done).
 * History rather than status + updated_at, because any later edit of a done task (a label, a new title)
 * would move updated_at out of the week. A task done and reopened within the week is not counted; one
 * done, reopened and done again is, once. Limits: task_versions keeps a task's latest 100 versions, and tasks
 * older than that migration start with one version stamped at their updated_at; a `done` version with no
 * predecessor on record counts as a completion at its time (the status + updated_at rule). A deleted task
 * takes its history with it and is not counted anywhere.
 * Cycle time: hours from the task's creation to its last completion within the week; the median (2 decimals).
 * Overdue: tasks whose last version before the week's end was not done and was due before the week's end
 * (on the Sunday or earlier), as each task stood then, not as it stands when the report runs: a week's
 * report says the same whenever it is computed.
 * Created: tasks (still existing) created in the week.
 */
async function metricsOf(reader: typeof read, project: ProjectRow, week: ReportWeek): Promise<{ metrics: ReportMetricsDto; members: Member[] }> {
  const { rows } = await reader<ReportMetricsDto & { members: Member[] }>(
    `WITH project_tasks AS (
       SELECT t.id, t.created_at FROM tasks t
       WHERE t.organization_id = $1 AND t.project_id = $2 AND t.created_at < $4
     ), at_end AS (
       SELECT t.id, t.created_at, last.doc FROM project_tasks t
       CROSS JOIN LATERAL (
         SELECT v.doc FROM task_versions v WHERE v.task_id = t.id AND v.changed_at < $4 ORDER BY v.version DESC LIMIT 1
       ) last
     ), completions AS (
       SELECT e.id, e.created_at, max(v.changed_at) AS done_at
       FROM at_end e
       JOIN task_versions v ON v.task_id = e.id AND v.changed_at >= $3 AND v.changed_at < $4 AND v.doc->>'status' = 'done'
       LEFT JOIN task_versions previous ON previous.task_id = v.task_id AND previous.version = v.version - 1
       WHERE e.doc->>'status' = 'done' AND previous.doc->>'status' IS DISTINCT FROM 'done'
       GROUP BY e.id, e.created_at
     )
     SELECT
       (SELECT count(*) FROM project_tasks WHERE created_at >= $3)::int AS created,
       (SELECT count(*) FROM completions)::int AS completed,
       (SELECT count(*) FROM at_end WHERE doc->>'status' <> 'done' AND (doc->>'dueDate')::date <= $5::date)::int AS overdue,
       (SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM done_at - created_at)) / 3600)::numeric, 2)::float8
        FROM completions) AS "cycleTimeHours",
       -- There is no per-project membership: a project's members are its organization's members.
       (SELECT coalesce(json_agg(json_build_object('id', u.id, 'email', u.email, 'name', u.name) ORDER BY u.id), '[]'::json)
        FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1 AND u.email IS NOT NULL AND u.email <> '') AS members`,
    [project.org, project.id, week.start.toISOString(), week.end.toISOString(), week.lastDay],
  );
  const { members, ...metrics } = rows[0]!;
  return { metrics, members };
}

async function reportProject(reader: typeof read, project: ProjectRow, week: ReportWeek, trace: Trace): Promise<{ inserted: boolean; emails: number }> {
  const { metrics, members } = await metricsOf(reader, project, week);
  const reportId = reportIdOf(project.id, week.weekStart);
  const key = reportKey(project.org, project.id, week.weekStart);
  await putJson(key, {
    reportId,
    organizationId: project.org,
    projectId: project.id,
    projectName: project.name,
    weekStart: week.weekStart,
    weekEnd: week.lastDay,
    timeZone: 'UTC',
    generatedAt: new Date().toISOString(),
    metrics,
  });
  const { subject, text } = compose(project, week, metrics);
  const emails = members.map((member) => ({
    body: {
      notificationId: reportNotificationId(reportId, member.id),
      organizationId: project.org,
      eventId: reportId,
      kind: 'weekly_report',
      to: { email: member.email, name: member.name ?? member.email },
      subject,
      text: `Hello ${member.name ?? member.email},\n\n${text}`,
    } satisfies EmailMessage,
  }));
  const { rows } = await db.query<{ inserted: boolean; outbox: OutboxEntry[] }>(
    // The project is checked in the same statement: one deleted since the read gets no report (and no error).
    `WITH inserted AS (
       INSERT INTO weekly_reports (id, organization_id, project_id, week_start, s3_key, metrics)
       SELECT $1, p.organization_id, p.id, $4::date, $5, $6::jsonb FROM projects p WHERE p.organization_id = $2 AND p.id = $3
       ON CONFLICT DO NOTHING
       RETURNING id
     ), outboxed AS (
       INSERT INTO outbox (organization_id, event_id, destination, body, request_id, traceparent, locked_until)
       SELECT $2, i.id, 'email', m.body, $8, $9, ${FAST_PATH_LEASE}
       FROM inserted i, jsonb_to_recordset($7::jsonb) AS m(body jsonb)
       RETURNING id, destination, body, request_id, traceparent
     )
     SELECT EXISTS (SELECT 1 FROM inserted) AS inserted, ${OUTBOX_ENTRIES}`,
    [reportId, project.org, project.id, week.weekStart, key, JSON.stringify(metrics), JSON.stringify(emails), trace.requestId, trace.traceparent],
  );
  const { inserted, outbox } = rows[0]!;
  await publishNow(outbox);
  return { inserted, emails: outbox.length };
}

const clip = (value: string, length: number) => (value.length > length ? `${value.slice(0, length - 1)}…` : value);

function compose(project: ProjectRow, week: ReportWeek, metrics: ReportMetricsDto): { subject: string; text: string } {
  const cycle = metrics.cycleTimeHours === null ? 'n/a (nothing was completed)' : `${metrics.cycleTimeHours} hours`;
  return {
    subject: `Weekly report: ${clip(project.name, 150)}, week of ${week.weekStart}`,
    text: [
      `The week of ${week.weekStart} to ${week.lastDay} (UTC) in "${project.name}":`,
      '',
      `- Completed: ${metrics.completed}`,
      `- Created: ${metrics.created}`,
      `- Overdue at the end of the week: ${metrics.overdue}`,
      `- Median cycle time (creation to done): ${cycle}`,
      '',
      `The full report is in TaskFlow, among the project's reports (GET /projects/${project.id}/reports).`,
    ].join('\n'),
  };
}

/**
 * A project's reports, newest week first, a page at a time, each with a download link valid for 5 minutes.
 * The cursor holds the last item's week (as a midnight timestamp, the shape every cursor has) and id.
 */
export async function listReports(caller: Caller, projectId: string, query: { limit: number; cursor?: string | undefined }) {
  const after = decodeCursor(query.cursor);
  // One round trip answers both "does the project exist here" and "which reports".
  const { rows } = await read<{ doc: Omit<ReportDto, 'downloadUrl'> | null; key: string | null }>(
    `SELECT r.doc, r.s3_key AS key FROM projects p
     LEFT JOIN LATERAL (
       SELECT r.s3_key, json_build_object('id', r.id, 'projectId', r.project_id, 'weekStart', to_char(r.week_start, 'YYYY-MM-DD'),
         'metrics', r.metrics, 'createdAt', api_timestamp(r.created_at)) AS doc
       FROM weekly_reports r
       WHERE r.organization_id = p.organization_id AND r.project_id = p.id AND ($3::date IS NULL OR r.week_start < $3::date)
       ORDER BY r.week_start DESC
       LIMIT $4
     ) r ON true
     WHERE p.organization_id = $1 AND p.id = $2 AND p.deleted_at IS NULL`,
    [caller.orgId, projectId, after ? after.createdAt.slice(0, 10) : null, query.limit + 1],
  );
  if (rows.length === 0) throw notFound('Project');
  const found = rows.filter((row) => row.doc !== null);
  const shown = found.slice(0, query.limit);
  const items = await Promise.all(
    shown.map(async ({ doc, key }) => ({ ...doc!, downloadUrl: await presignedGet(key!, `report-${doc!.weekStart}.json`, DOWNLOAD_EXPIRES_SECONDS) })),
  );
  const last = items.at(-1);
  return { items, nextCursor: found.length > query.limit && last ? encodeCursor({ createdAt: `${last.weekStart}T00:00:00.000000Z`, id: last.id }) : null };
}
