import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import type { Message } from '@aws-sdk/client-sqs';
import type { Context, ScheduledEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { EmailMessage } from '../../functions/domain/messages';
import { reportIdOf, reportKey, reportNotificationId, runWeeklyReports, weekThatEnded, type WeeklyReportRun } from '../../functions/domain/reports';
import { closeDatabase, replicaRoundTrips, roundTrips } from '../../functions/shared/db';
import { putJson } from '../../functions/shared/s3';
import { taskflow } from '../../lib/app';
import { sqsRecord } from '../../lib/local/event-sources';
import { loadHandler } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { startSandboxes, type Sandboxes } from '../../lib/local/sandboxes';
import { startSqs, type LocalSqs } from '../../lib/local/sqs';
import { createProject, invoke, newCaller, type Caller } from '../support/api';
import { ownIntegrationsTable } from '../support/integrations-table';
import { bodyOf, drain } from '../support/queues';
import { sql } from '../support/sql';

// Issue 6, item 7: weekly reports — metrics from the tasks' history, a JSON object in S3, one e-mail per
// member, exactly once per project and week however often (or however concurrently) the job runs.
//
// Each test reports on its own week in 2020 and backdates its projects into it: only projects created
// before a week's end are reported on, so the run sees this file's projects and none of the other files'
// (created now). afterEach moves them back to now, so a later test's run does not see them either.

let sqs: LocalSqs;
let sandboxes: Sandboxes;
const backdated: string[] = [];
const trace = { requestId: 'weekly-report-test', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

beforeAll(async () => {
  sqs = await startSqs(taskflow, { visibilityTimeoutSeconds: 1 });
  sandboxes = await startSandboxes();
  await ownIntegrationsTable();
  Object.assign(process.env, sqs.environment, sandboxes.environment);
});

afterAll(async () => {
  await sandboxes.stop();
  await sqs.stop();
});

afterEach(async () => {
  await sql('UPDATE projects SET created_at = now() WHERE id = ANY($1::uuid[])', [backdated.splice(0)]);
  await drain(sqs, 'email', { quietMs: 50 });
  sandboxes.clearCalls();
});

/** A Monday in 2020, `n` weeks after 6 January; and a time in the week after it (when its report runs). */
const monday = (n: number) => new Date(Date.UTC(2020, 0, 6 + 7 * n));
const at = (date: Date, hours: number) => new Date(date.getTime() + hours * 3_600_000);
const day = (date: Date) => date.toISOString().slice(0, 10);
const runAfter = (weekStart: Date, hoursIntoNextWeek = 3) => at(weekStart, 7 * 24 + hoursIntoNextWeek);

async function member(org: Caller, name: string | null): Promise<Caller> {
  const caller = { orgId: org.orgId, userId: `user_${randomUUID()}`, ...(name ? { email: `${name.toLowerCase()}.${randomUUID().slice(0, 8)}@example.com`, name } : {}) };
  expect((await invoke('listProjects', caller)).status).toBe(200); // provisions the member (with their e-mail, if any)
  return caller;
}

/** An organization with two members who have an e-mail address and one who has none; a project created before `week`. */
async function team(week: Date) {
  const org = newCaller();
  const ann = await member(org, 'Ann');
  const bob = await member(org, 'Bob');
  const nobody = await member(org, null);
  const project = await createProject(ann, 'Apollo');
  await backdate(project.id, at(week, -24 * 30));
  return { ann, bob, nobody, project };
}

async function backdate(projectId: string, createdAt: Date) {
  await sql('UPDATE projects SET created_at = $2 WHERE id = $1', [projectId, createdAt]);
  backdated.push(projectId);
}

interface Step {
  at: Date;
  status: 'todo' | 'in_progress' | 'in_review' | 'done';
  dueDate?: string;
}

/** A task with its history as the app writes it (one task_versions row per version, task_json docs), at chosen times. */
async function seedTask(caller: Caller, projectId: string, steps: Step[]): Promise<string> {
  const last = steps.at(-1)!;
  const [row] = await sql<{ task_id: string }>(
    `WITH t AS (
       INSERT INTO tasks (organization_id, project_id, title, status, due_date, version, created_by, created_at, updated_at)
       VALUES ($1, $2, 'Seeded', $3, $4, $5, $6, $7, $8)
       RETURNING id, task_json(tasks)::jsonb AS doc
     )
     INSERT INTO task_versions (task_id, version, doc, changed_by, changed_at)
     SELECT t.id, s.version, t.doc || jsonb_build_object('status', s.status, 'dueDate', s."dueDate", 'version', s.version), $6, s.at
     FROM t, jsonb_to_recordset($9::jsonb) AS s(version bigint, status text, "dueDate" text, at timestamptz)
     RETURNING task_id`,
    [
      caller.orgId, projectId, last.status, last.dueDate ?? null, steps.length, caller.userId, steps[0]!.at, last.at,
      JSON.stringify(steps.map((step, i) => ({ version: i + 1, status: step.status, dueDate: step.dueDate ?? null, at: step.at.toISOString() }))),
    ],
  );
  return row!.task_id;
}

const reportsOf = (projectId: string) => sql('SELECT id, week_start, s3_key, metrics FROM weekly_reports WHERE project_id = $1 ORDER BY week_start', [projectId]);
const outboxOf = (reportId: string) => sql<{ destination: string; body: any }>('SELECT destination, body FROM outbox WHERE event_id = $1 ORDER BY body->>\'notificationId\'', [reportId]);

type Consumer = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
type Scheduled = (event: ScheduledEvent, context: Context) => Promise<WeeklyReportRun>;

/** The scheduled function as EventBridge invokes it, at `time`. */
async function scheduledRun(time: Date): Promise<WeeklyReportRun> {
  const handler = await loadHandler<Scheduled>(taskflow.schedules.weeklyReport!.function.entry);
  const event = {
    version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: '000000000000',
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'), region: 'us-east-1', resources: [], detail: {},
  } as ScheduledEvent;
  return handler(event, lambdaContext('WeeklyReport', 300_000));
}

describe('weekly reports', () => {
  it('the week that ended: the previous Monday to Sunday (UTC), the same for any time in the following week', () => {
    for (const now of ['2020-03-09T00:00:00.000Z', '2020-03-10T15:00:00.000Z', '2020-03-15T23:59:59.999Z']) {
      const week = weekThatEnded(new Date(now));
      expect({ weekStart: week.weekStart, lastDay: week.lastDay, end: week.end.toISOString() }).toEqual({
        weekStart: '2020-03-02', lastDay: '2020-03-08', end: '2020-03-09T00:00:00.000Z',
      });
    }
    expect(weekThatEnded(new Date('2020-03-08T23:59:59.999Z')).weekStart).toBe('2020-02-24');
  });

  it('counts the week\'s created, completed and overdue tasks and the median cycle time from the history, writes the report to S3 and lists it with a download link', async () => {
    const week = monday(8); // 2020-03-02 .. 2020-03-08
    const { ann, bob, nobody, project } = await team(week);
    const before = at(week, -24 * 30);
    const seed = (steps: Step[]) => seedTask(ann, project.id, steps);
    // Completed in the week (done at its end, became done during it):
    await seed([{ at: at(week, -24 * 11), status: 'todo' }, { at: at(week, 24 + 12), status: 'done' }]); // 300 h
    await seed([{ at: at(week, 10), status: 'todo' }, { at: at(week, 20), status: 'done' }]); // created too; 10 h
    await seed([{ at: at(week, -24), status: 'todo' }, { at: at(week, 72), status: 'done' }, { at: at(week, 96), status: 'done' }]); // an edit after: once, 96 h
    await seed([{ at: before, status: 'todo' }, { at: at(week, 24), status: 'done' }, { at: at(week, 48), status: 'in_progress', dueDate: '2020-03-05' }]); // reopened: overdue, not completed
    // Created in the week, open, due before its end: created and overdue.
    await seed([{ at: at(week, 48), status: 'todo', dueDate: '2020-03-06' }]);
    // Overdue: due on the Sunday; not overdue: due the Monday after.
    await seed([{ at: before, status: 'todo', dueDate: '2020-03-08' }]);
    await seed([{ at: before, status: 'todo', dueDate: '2020-03-09' }]);
    // Done before the week: nothing. Done after the week, due before its end: overdue as it stood then.
    await seed([{ at: before, status: 'todo', dueDate: '2020-02-15' }, { at: at(week, -24 * 5), status: 'done', dueDate: '2020-02-15' }]);
    await seed([{ at: before, status: 'todo', dueDate: '2020-03-01' }, { at: at(week, 24 * 8), status: 'done', dueDate: '2020-03-01' }]);
    // Created after the week: nothing.
    await seed([{ at: at(week, 24 * 8), status: 'todo', dueDate: '2020-03-01' }]);
    // One through the API, as the app writes its history, then moved into the week: created and completed, 6 h.
    const viaApi = await invoke('createTask', ann, { params: { projectId: project.id }, body: { title: 'Through the API' } });
    expect((await invoke('updateTask', bob, { params: { taskId: viaApi.body.id }, body: { version: 1, status: 'done' } })).status).toBe(200);
    await sql('UPDATE tasks SET created_at = $2 WHERE id = $1', [viaApi.body.id, at(week, 24)]);
    await sql('UPDATE task_versions SET changed_at = $2::timestamptz + (version - 1) * interval \'6 hours\' WHERE task_id = $1', [viaApi.body.id, at(week, 24)]);

    const run = await runWeeklyReports(trace, runAfter(week));
    expect(run).toMatchObject({ weekStart: '2020-03-02', projects: 1, reported: 1, failed: 0, emails: 2, unfinished: false });
    const metrics = { completed: 4, created: 3, overdue: 4, cycleTimeHours: 53 }; // median of 6, 10, 96, 300
    const reportId = reportIdOf(project.id, '2020-03-02');
    expect(await reportsOf(project.id)).toEqual([{ id: reportId, week_start: '2020-03-02', s3_key: reportKey(ann.orgId, project.id, '2020-03-02'), metrics }]);

    // One e-mail per member with an address (the organization's members: projects have no members of their own).
    const outbox = await outboxOf(reportId);
    expect(outbox.map((entry) => entry.body.to.email).sort()).toEqual([ann.email, bob.email].sort());
    for (const { destination, body } of outbox) {
      expect(destination).toBe('email');
      expect(EmailMessage.safeParse(body).success).toBe(true);
      expect(body).toMatchObject({ kind: 'weekly_report', eventId: reportId, organizationId: ann.orgId, subject: 'Weekly report: Apollo, week of 2020-03-02' });
      expect(body.text).toContain('- Completed: 4\n- Created: 3\n- Overdue at the end of the week: 4\n- Median cycle time (creation to done): 53 hours');
      expect(body.text).toContain(`/projects/${project.id}/reports`);
    }
    expect(outbox.some((entry) => JSON.stringify(entry.body).includes(nobody.userId))).toBe(false);

    const listed = await invoke('listReports', bob, { params: { projectId: project.id } });
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ items: [{ id: reportId, projectId: project.id, weekStart: '2020-03-02', metrics }], nextCursor: null });
    const download = await fetch(listed.body.items[0].downloadUrl);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toContain('report-2020-03-02.json');
    expect(await download.json()).toMatchObject({ reportId, projectId: project.id, projectName: 'Apollo', weekStart: '2020-03-02', weekEnd: '2020-03-08', metrics });
  });

  it('reports nothing completed as a null cycle time, and a project created after the week not at all', async () => {
    const week = monday(9);
    const { ann, project } = await team(week);
    await seedTask(ann, project.id, [{ at: at(week, 5), status: 'in_progress' }]);
    const later = await createProject(ann, 'Later');
    await backdate(later.id, at(week, 24 * 7 + 1)); // an hour after the week's end
    const run = await runWeeklyReports(trace, runAfter(week));
    expect(run).toMatchObject({ projects: 1, reported: 1 });
    expect((await reportsOf(project.id))[0].metrics).toEqual({ completed: 0, created: 1, overdue: 0, cycleTimeHours: null });
    expect((await outboxOf(reportIdOf(project.id, day(week))))[0]!.body.text).toContain('n/a (nothing was completed)');
    expect(await reportsOf(later.id)).toEqual([]);
  });

  it('sends nothing again when the job is rerun in the same week, and a rerun repairs a run that died after writing to S3', async () => {
    const week = monday(10);
    const first = await team(week);
    const second = await team(week);
    // A run died after writing the second project's object: no row, no e-mail.
    await putJson(reportKey(second.ann.orgId, second.project.id, day(week)), { partial: true });

    const run = await scheduledRun(runAfter(week, 1));
    expect(run).toMatchObject({ weekStart: day(week), projects: 2, reported: 2, emails: 4, failed: 0 });
    expect(await drain(sqs, 'email')).toHaveLength(4);
    const listed = await invoke('listReports', second.ann, { params: { projectId: second.project.id } });
    expect(await (await fetch(listed.body.items[0].downloadUrl)).json()).toMatchObject({ projectId: second.project.id, metrics: { created: 0 } });

    // Rerun later in the same week (same event redelivered, or a manual run on Sunday night): nothing to do.
    const outboxRows = async () => (await Promise.all([first, second].map(({ project }) => outboxOf(reportIdOf(project.id, day(week)))))).flat().length;
    expect(await outboxRows()).toBe(4);
    for (const time of [runAfter(week, 1), runAfter(week, 6 * 24 + 23)]) {
      expect(await scheduledRun(time)).toMatchObject({ weekStart: day(week), projects: 0, reported: 0, emails: 0 });
    }
    expect(await drain(sqs, 'email')).toHaveLength(0);
    expect(await outboxRows()).toBe(4);
    for (const { project } of [first, second]) expect(await reportsOf(project.id)).toHaveLength(1);
  });

  it('records one report and sends one e-mail per member when two runs race', async () => {
    const week = monday(11);
    const { ann, bob, project } = await team(week);
    await seedTask(ann, project.id, [{ at: at(week, 1), status: 'todo' }, { at: at(week, 3), status: 'done' }]);
    const runs = await Promise.all([runWeeklyReports(trace, runAfter(week)), runWeeklyReports(trace, runAfter(week, 5))]);
    expect(runs.reduce((sum, run) => sum + run.reported, 0)).toBe(1);
    expect(runs.reduce((sum, run) => sum + run.emails, 0)).toBe(2);
    const reports = await reportsOf(project.id);
    expect(reports).toHaveLength(1);
    expect(reports[0].metrics).toEqual({ completed: 1, created: 1, overdue: 0, cycleTimeHours: 2 });
    expect(await outboxOf(reportIdOf(project.id, day(week)))).toHaveLength(2);

    // Through the email queue to SendGrid: one e-mail each, even when the messages are delivered twice.
    const messages = await drain(sqs, 'email');
    expect(messages).toHaveLength(2);
    // Derived from the report and the member: whichever run had queued them, the sender would deduplicate them.
    const reportId = reportIdOf(project.id, day(week));
    expect(messages.map((message) => bodyOf(message).notificationId).sort()).toEqual([ann, bob].map((m) => reportNotificationId(reportId, m.userId)).sort());
    const consumer = await loadHandler<Consumer>(taskflow.queues.email!.consumer.entry);
    const deliver = async (batch: Message[]) => {
      const event = { Records: batch.map((message) => sqsRecord(message, 'arn:aws:sqs:us-east-1:000000000000:email', 'us-east-1')) };
      return (await consumer(event, lambdaContext('email', 10_000)))?.batchItemFailures ?? [];
    };
    expect(await deliver(messages)).toEqual([]);
    expect(await deliver(messages)).toEqual([]);
    const sent = sandboxes.calls('sendgrid').filter((call) => call.status === 202);
    expect(sent.map((call) => (call.body as any).personalizations[0].to[0].email).sort()).toEqual([ann.email, bob.email].sort());
    expect((sent[0]!.body as any).subject).toBe('Weekly report: Apollo, week of 2020-03-23');
  });

  it('goes on with the other projects when one project\'s report fails, and reports it on the rerun', async () => {
    const week = monday(12);
    const broken = await team(week);
    const healthy = await team(week);
    // A history row the metrics query cannot read (a due date that is not a date) fails that project's query only.
    const task = await seedTask(broken.ann, broken.project.id, [{ at: at(week, 1), status: 'todo' }]);
    await sql(`UPDATE task_versions SET doc = doc || '{"dueDate": "someday"}' WHERE task_id = $1`, [task]);

    const run = await runWeeklyReports(trace, runAfter(week), { pageSize: 1 }); // a page per project
    expect(run).toMatchObject({ projects: 2, reported: 1, failed: 1 });
    expect(await reportsOf(broken.project.id)).toEqual([]);
    expect(await reportsOf(healthy.project.id)).toHaveLength(1);
    expect(await outboxOf(reportIdOf(broken.project.id, day(week)))).toEqual([]);

    await sql(`UPDATE task_versions SET doc = doc || '{"dueDate": null}' WHERE task_id = $1`, [task]);
    expect(await runWeeklyReports(trace, runAfter(week, 30))).toMatchObject({ projects: 1, reported: 1, failed: 0 });
    expect(await reportsOf(broken.project.id)).toHaveLength(1);
    expect(await reportsOf(healthy.project.id)).toHaveLength(1);
  });

  it('reads from the read replica when DATABASE_READ_URL is set, from the primary otherwise', async () => {
    const url = new URL(inject('databaseUrl'));
    const proxy = await countingProxy({ host: url.hostname, port: Number(url.port || 5432) });
    try {
      url.port = String(proxy.port);
      process.env.DATABASE_READ_URL = url.href;
      await closeDatabase(); // the pools are made on first use, from the environment of that moment

      const week = monday(13);
      const replicated = await team(week);
      const [replicaBefore, primaryBefore] = [replicaRoundTrips.count, roundTrips.count];
      expect(await runWeeklyReports(trace, runAfter(week))).toMatchObject({ projects: 1, reported: 1 });
      expect(await reportsOf(replicated.project.id)).toHaveLength(1);
      expect(proxy.connections).toBeGreaterThan(0);
      expect(proxy.bytes).toBeGreaterThan(0);
      // The heartbeat (how far behind the replica is), the page of projects and the metrics: on the replica. The
      // heartbeat, the insert (with the outbox) and the outbox's mark: on the primary.
      expect(replicaRoundTrips.count - replicaBefore).toBe(3);
      expect(roundTrips.count - primaryBefore).toBe(3);

      delete process.env.DATABASE_READ_URL;
      await closeDatabase();
      proxy.reset();
      await sql('UPDATE projects SET created_at = now() WHERE id = ANY($1::uuid[])', [backdated.splice(0)]);
      const next = monday(14);
      const primary = await team(next);
      const [replicaAfter, primaryAfter] = [replicaRoundTrips.count, roundTrips.count];
      expect(await runWeeklyReports(trace, runAfter(next))).toMatchObject({ projects: 1, reported: 1 });
      expect(await reportsOf(primary.project.id)).toHaveLength(1);
      expect(proxy.connections).toBe(0);
      expect(replicaRoundTrips.count).toBe(replicaAfter);
      expect(roundTrips.count - primaryAfter).toBe(4);
    } finally {
      delete process.env.DATABASE_READ_URL;
      await closeDatabase();
      await proxy.close();
    }
  });

  it('lists a project\'s reports newest first, a page at a time, and answers 404 for another organization\'s project', async () => {
    const alice = newCaller();
    const project = await createProject(alice);
    const weeks = [0, 1, 2, 3, 4].map((n) => day(monday(n)));
    await sql(
      `INSERT INTO weekly_reports (id, organization_id, project_id, week_start, s3_key, metrics)
       SELECT gen_random_uuid(), $1::text, $2::uuid, w::date, format('reports/%s/%s/%s.json', $1::text, $2::uuid, w), '{"completed":0,"created":0,"overdue":0,"cycleTimeHours":null}'
       FROM unnest($3::text[]) AS w`,
      [alice.orgId, project.id, weeks],
    );
    const seen: string[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const response = await invoke('listReports', alice, { params: { projectId: project.id }, query: { limit: '2', ...(cursor ? { cursor } : {}) } });
      expect(response.status).toBe(200);
      sizes.push(response.body.items.length);
      for (const item of response.body.items) {
        seen.push(item.weekStart);
        expect(new URL(item.downloadUrl).searchParams.get('response-content-disposition')).toContain(`report-${item.weekStart}.json`);
        expect(new URL(item.downloadUrl).searchParams.get('X-Amz-Expires')).toBe('300');
      }
      cursor = response.body.nextCursor ?? undefined;
    } while (cursor);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual([...weeks].reverse());

    const empty = await createProject(alice);
    expect((await invoke('listReports', alice, { params: { projectId: empty.id } })).body).toEqual({ items: [], nextCursor: null });
    expect((await invoke('listReports', alice, { params: { projectId: project.id }, query: { cursor: 'garbage' } })).status).toBe(400);
    const eve = newCaller();
    expect((await invoke('listReports', eve, { params: { projectId: project.id } })).status).toBe(404);
    expect((await invoke('listReports', alice, { params: { projectId: randomUUID() } })).status).toBe(404);
  });
});

/** A loopback TCP proxy that counts the connections and bytes that go through it (the "replica"). */
async function countingProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  const counts = { connections: 0, bytes: 0 };
  const server = createServer((client) => {
    counts.connections += 1;
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => (counts.bytes += chunk.length));
    client.pipe(upstream).pipe(client);
    const close = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return counts.connections;
    },
    get bytes() {
      return counts.bytes;
    },
    reset() {
      counts.connections = 0;
      counts.bytes = 0;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}
