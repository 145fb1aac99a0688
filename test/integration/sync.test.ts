import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CalendarSyncRequest, GithubSyncRequest, type ImportedIssue, type RunOutcome, type SyncResult } from '../../functions/domain/messages';
import { applySyncResult } from '../../functions/domain/sync-apply';
import { calendarEventId, dispatch } from '../../functions/domain/sync-dispatch';
import { SYNC_EVERY_MINUTES } from '../../functions/domain/sync-interval';
import { queueUrlVariable } from '../../functions/shared/resource-variables';
import { taskflow } from '../../lib/app';
import { sqsRecord } from '../../lib/local/event-sources';
import { loadHandler } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { startSqs, type LocalSqs } from '../../lib/local/sqs';
import { createProject, createTask, invoke, newCaller, type Caller } from '../support/api';
import { bodyOf, drain } from '../support/queues';
import { sql } from '../support/sql';

// Issue 6 (review C4): the dispatcher in the VPC starts each due link's run once, the workers out of the VPC
// call GitHub / Google, and the syncResults consumer writes what they found or did, once, whatever the
// redeliveries. Each test works in its own organization, and dispatches for it alone.
let sqs: LocalSqs;

beforeAll(async () => {
  // Its own queues: the messages read here are this file's.
  sqs = await startSqs(taskflow, { visibilityTimeoutSeconds: 2 });
  Object.assign(process.env, sqs.environment);
});

afterAll(async () => {
  await sqs.stop();
});

const trace = { requestId: 'sync-test', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
const dispatchFor = (caller: Caller) => dispatch(trace, { organizationId: caller.orgId });

async function linked(type: 'github' | 'googleCalendar', caller = newCaller('admin')) {
  const project = await createProject(caller);
  const target = type === 'github' ? `acme/repo-${randomUUID().slice(0, 8)}` : `cal-${randomUUID()}@group.calendar.google.com`;
  const response = await invoke('createLink', caller, { params: { projectId: project.id }, body: { type, target } });
  expect(response.status).toBe(201);
  return { caller, project, link: response.body as { id: string; target: string } };
}

const linkRow = (linkId: string) => sql('SELECT * FROM integration_links WHERE id = $1', [linkId]).then((rows) => rows[0]);
const listed = async (caller: Caller, projectId: string, linkId: string) =>
  (await invoke('listLinks', caller, { params: { projectId } })).body.items.find((l: { id: string }) => l.id === linkId);
const messagesFor = async (queue: 'github' | 'googleCalendar', linkId: string) =>
  (await drain(sqs, queue)).map(bodyOf).filter((body) => body.linkId === linkId);

/** Dispatches the caller's organization and answers the run the link was sent. */
async function runOf(caller: Caller, linkId: string): Promise<string> {
  await dispatchFor(caller);
  const row = await linkRow(linkId);
  expect(row.run_id).not.toBeNull();
  return row.run_id;
}

// Each copy of an issue is newer than the last one made (as GitHub's updated_at would be).
let clock = Date.parse('2030-01-01T00:00:00Z');
const issue = (number: number, overrides: Partial<ImportedIssue> = {}): ImportedIssue => ({
  externalId: `acme/repo#${number}`,
  title: `Issue ${number}`,
  body: `Body of ${number}`,
  closed: false,
  url: `https://github.com/acme/repo/issues/${number}`,
  updatedAt: new Date((clock += 1_000)).toISOString(),
  ...overrides,
});

function githubResult(setup: Awaited<ReturnType<typeof linked>>, runId: string, issues: ImportedIssue[], outcome: RunOutcome | null = null): SyncResult {
  return { kind: 'github', runId, linkId: setup.link.id, organizationId: setup.caller.orgId, projectId: setup.project.id, issues, outcome };
}

const importedTasks = (projectId: string) =>
  sql<{ id: string; external_id: string; title: string; description: string; status: string; version: string; created_by: string }>(
    "SELECT * FROM tasks WHERE project_id = $1 AND source = 'github' ORDER BY external_id",
    [projectId],
  );
const eventsOf = (projectId: string, type: string) =>
  sql<{ subject_id: string; actor_id: string; seq: string }>('SELECT * FROM event_log WHERE project_id = $1 AND type = $2 ORDER BY seq', [projectId, type]);

describe('dispatch', () => {
  it('claims a due link once even when two dispatchers run at once, and sends its run to the github queue', async () => {
    const setup = await linked('github');
    const [a, b] = await Promise.all([dispatchFor(setup.caller), dispatchFor(setup.caller)]);
    expect(a.claimed + b.claimed).toBe(1);
    expect(a.github + b.github).toBe(1);
    const row = await linkRow(setup.link.id);
    const [message, ...others] = await messagesFor('github', setup.link.id);
    expect(others).toHaveLength(0);
    expect(GithubSyncRequest.parse(message)).toEqual({
      runId: row.run_id,
      linkId: setup.link.id,
      organizationId: setup.caller.orgId,
      projectId: setup.project.id,
      repository: setup.link.target,
      etag: null,
      since: null,
    });
    expect((await listed(setup.caller, setup.project.id, setup.link.id)).running).toBe(true);
  });

  it('skips a link whose run is in flight, and dispatches it again once that run is stale (30 minutes)', async () => {
    const setup = await linked('github');
    const first = await runOf(setup.caller, setup.link.id);
    await drain(sqs, 'github');
    expect((await dispatchFor(setup.caller)).claimed).toBe(0);
    expect((await linkRow(setup.link.id)).run_id).toBe(first);
    await sql("UPDATE integration_links SET run_started_at = now() - interval '31 minutes' WHERE id = $1", [setup.link.id]);
    expect((await dispatchFor(setup.caller)).claimed).toBe(1);
    const second = (await linkRow(setup.link.id)).run_id;
    expect(second).not.toBe(first);
    expect((await messagesFor('github', setup.link.id)).map((m) => m.runId)).toEqual([second]);
  });

  it('does not dispatch a link before its next_sync_at (a rate limit\'s reset)', async () => {
    const setup = await linked('github');
    await sql("UPDATE integration_links SET next_sync_at = now() + interval '10 minutes' WHERE id = $1", [setup.link.id]);
    expect((await dispatchFor(setup.caller)).claimed).toBe(0);
  });

  it('finishes a calendar run with nothing to change at once, unchanged, without a message', async () => {
    const setup = await linked('googleCalendar');
    await createTask(setup.caller, setup.project.id, { title: 'No due date' });
    const counts = await dispatchFor(setup.caller);
    expect(counts).toMatchObject({ claimed: 1, unchanged: 1, googleCalendar: 0 });
    expect(await messagesFor('googleCalendar', setup.link.id)).toHaveLength(0);
    const link = await listed(setup.caller, setup.project.id, setup.link.id);
    expect(link).toMatchObject({ running: false, lastSync: { status: 'unchanged', error: null, changes: 0 } });
  });

  it('releases the claim of a link whose run could not be sent, and goes on with the others', async () => {
    const caller = newCaller('admin');
    const calendar = await linked('googleCalendar', caller);
    const github = await linked('github', caller);
    await createTask(caller, calendar.project.id, { title: 'Due', dueDate: '2031-05-01' });
    const variable = queueUrlVariable('googleCalendar');
    const url = process.env[variable];
    delete process.env[variable]; // the calendar queue cannot be reached
    try {
      expect(await dispatchFor(caller)).toMatchObject({ claimed: 2, github: 1, googleCalendar: 0, failed: 1 });
    } finally {
      process.env[variable] = url;
    }
    expect(await messagesFor('github', github.link.id)).toHaveLength(1);
    const released = await linkRow(calendar.link.id);
    expect(released).toMatchObject({ run_id: null, last_sync_at: null });
    // Still due: the next dispatch sends it.
    expect(await dispatchFor(caller)).toMatchObject({ claimed: 1, googleCalendar: 1 });
    expect(await messagesFor('googleCalendar', calendar.link.id)).toHaveLength(1);
  });
});

describe('applying GitHub results', () => {
  it('imports each issue once, whether a message is applied twice or overlapping messages at once', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    const first = githubResult(setup, runId, [issue(1), issue(2, { closed: true })]);
    const overlapping = githubResult(setup, runId, [issue(2, { closed: true }), issue(3)]);
    await Promise.all([applySyncResult(first, trace), applySyncResult(overlapping, trace), applySyncResult(first, trace)]);
    await applySyncResult(first, trace); // redelivered later

    const tasks = await importedTasks(setup.project.id);
    expect(tasks.map((t) => [t.external_id, t.title, t.description, t.status, Number(t.version)])).toEqual([
      ['acme/repo#1', 'Issue 1', 'Body of 1', 'todo', 1],
      ['acme/repo#2', 'Issue 2', 'Body of 2', 'done', 1],
      ['acme/repo#3', 'Issue 3', 'Body of 3', 'todo', 1],
    ]);
    expect(tasks.every((t) => t.created_by === setup.caller.userId)).toBe(true);
    const created = await eventsOf(setup.project.id, 'task.created');
    expect(created.map((e) => e.subject_id).sort()).toEqual(tasks.map((t) => t.id).sort());
    expect(await eventsOf(setup.project.id, 'task.updated')).toHaveLength(0);
    // Counted towards the plan, and visible through the API like any task.
    const [org] = await sql('SELECT task_count::int AS n FROM organizations WHERE id = $1', [setup.caller.orgId]);
    expect(org.n).toBe(3);
    const listedTasks = await invoke('listTasks', setup.caller, { params: { projectId: setup.project.id } });
    expect(listedTasks.body.items).toHaveLength(3);
    // The run goes on: these messages carried no outcome.
    expect((await linkRow(setup.link.id)).run_id).toBe(runId);
  });

  it('writes its events to the outbox like the API does, so notifications and the feed see imports', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    await drain(sqs, 'notifications');
    await applySyncResult(githubResult(setup, runId, [issue(7)]), trace);
    const [task] = await importedTasks(setup.project.id);
    const messages = (await drain(sqs, 'notifications')).map(bodyOf).filter((body) => body.subjectId === task!.id);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ type: 'task.created', actorId: setup.caller.userId, projectId: setup.project.id, previous: null, payload: { title: 'Issue 7' } });
    expect((await drain(sqs, 'broadcast')).map(bodyOf).filter((body) => body.subjectId === task!.id)).toHaveLength(1);
  });

  it('updates a task only on a real change: closed → done, reopened → todo, any other local status stays', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    const apply = (issues: ImportedIssue[]) => applySyncResult(githubResult(setup, runId, issues), trace);
    await apply([issue(1), issue(2)]);
    const [one, two] = await importedTasks(setup.project.id);

    expect(await apply([issue(1), issue(2)])).toMatchObject({ created: 0, updated: 0 });
    expect(await apply([issue(1, { title: 'Renamed', closed: true })])).toMatchObject({ created: 0, updated: 1 });
    let [task] = await importedTasks(setup.project.id);
    expect(task).toMatchObject({ id: one!.id, title: 'Renamed', status: 'done', version: '2' });
    const updates = await eventsOf(setup.project.id, 'task.updated');
    expect(updates).toHaveLength(1);
    const [outboxed] = await sql("SELECT body FROM outbox o JOIN event_log e ON e.id = o.event_id WHERE e.subject_id = $1 AND e.type = 'task.updated' AND o.destination = 'notifications'", [one!.id]);
    expect(outboxed.body).toMatchObject({ type: 'task.updated', previous: { status: 'todo', assigneeId: null }, payload: { status: 'done', version: 2 } });

    await apply([issue(1, { title: 'Renamed', closed: false })]); // reopened
    [task] = await importedTasks(setup.project.id);
    expect(task).toMatchObject({ status: 'todo', version: '3' });

    // Someone works on the second task; the issue changes but stays open: the local status stays.
    const moved = await invoke('updateTask', setup.caller, { params: { taskId: two!.id }, body: { version: 1, status: 'in_progress' } });
    expect(moved.status).toBe(200);
    await apply([issue(2, { body: 'More detail' })]);
    const second = (await importedTasks(setup.project.id))[1]!;
    expect(second).toMatchObject({ status: 'in_progress', description: 'More detail', version: '3' });
    await apply([issue(2, { body: 'More detail', closed: true })]);
    expect((await importedTasks(setup.project.id))[1]).toMatchObject({ status: 'done', version: '4' });
    expect(await eventsOf(setup.project.id, 'task.updated')).toHaveLength(5); // 3 imports on #1 and #2, 1 edit, 1 close
  });

  it('keeps titles and descriptions within the limits tasks have', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    await applySyncResult(githubResult(setup, runId, [issue(1, { title: `${'t'.repeat(600)}\u0000`, body: 'b'.repeat(25_000) }), issue(2, { title: '   ' })]), trace);
    const [long, empty] = await importedTasks(setup.project.id);
    expect(long!.title).toHaveLength(500);
    expect(long!.description).toHaveLength(20_000);
    expect(empty!.title).toBe('acme/repo#2');
  });

  it('stops importing at the plan\'s tasks quota and ends the run failed, naming the quota', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    await applySyncResult(githubResult(setup, runId, [issue(1)]), trace);
    await sql('UPDATE organizations SET task_count = 999 WHERE id = $1', [setup.caller.orgId]); // the free plan allows 1,000
    const applied = await applySyncResult(githubResult(setup, runId, [issue(1, { closed: true }), issue(2), issue(3), issue(4)]), trace);
    expect(applied).toMatchObject({ created: 1, updated: 1, refused: 2, finished: true });
    expect((await importedTasks(setup.project.id)).map((t) => t.external_id)).toEqual(['acme/repo#1', 'acme/repo#2']);
    const link = await listed(setup.caller, setup.project.id, setup.link.id);
    expect(link).toMatchObject({ running: false, lastSync: { status: 'failed', changes: 3 } });
    expect(link.lastSync.error).toMatch(/quota.*free plan allows 1000 tasks; 2 new issues were not imported/i);
    // The outcome that follows belongs to a finished run: it changes nothing.
    await applySyncResult(githubResult(setup, runId, [], { status: 'ok', error: null, etag: '"abc"', since: '2030-01-01T00:00:00Z' }), trace);
    expect(await linkRow(setup.link.id)).toMatchObject({ last_sync_status: 'failed', etag: null, synced_until: null });
  });

  it('fetches again the issues the quota refused in a page that came after its run\'s outcome', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    const [early, late] = [issue(1), issue(2)];
    // The outcome first (SQS keeps no order): since moves past both issues, the ETag is kept.
    await applySyncResult(githubResult(setup, runId, [], { status: 'ok', error: null, etag: '"e1"', since: new Date(Date.parse(late.updatedAt) + 60_000).toISOString() }), trace);
    await sql('UPDATE organizations SET task_count = 999 WHERE id = $1', [setup.caller.orgId]); // room for one
    expect(await applySyncResult(githubResult(setup, runId, [early, late]), trace)).toMatchObject({ created: 1, refused: 1 });
    // The next run asks GitHub again from just before the refused issue, without the ETag (a 304 would hide it).
    const row = await linkRow(setup.link.id);
    expect(row.etag).toBeNull();
    expect(new Date(row.synced_until).toISOString()).toBe(new Date(Date.parse(late.updatedAt) - 1_000).toISOString());
  });

  it('finishes the run with its outcome: counts its changes across messages, keeps the ETag and since for the next run', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    await drain(sqs, 'github');
    await applySyncResult(githubResult(setup, runId, [issue(1), issue(2)]), trace);
    const applied = await applySyncResult(githubResult(setup, runId, [issue(3)], { status: 'ok', error: null, etag: 'W/"e1"', since: '2030-02-03T04:05:06Z' }), trace);
    expect(applied).toMatchObject({ state: 'applied', created: 1, finished: true });
    const link = await listed(setup.caller, setup.project.id, setup.link.id);
    expect(link).toMatchObject({ running: false, lastSync: { status: 'ok', error: null, changes: 3 } });
    expect(Date.parse(link.lastSync.at)).toBeLessThanOrEqual(Date.now() + 1_000);

    await dispatchFor(setup.caller);
    const [next] = await messagesFor('github', setup.link.id);
    expect(next).toMatchObject({ etag: 'W/"e1"', since: '2030-02-03T04:05:06Z' });
    expect(next.runId).not.toBe(runId);
  });

  it('waits longer after each failed run (5, 10, 20 minutes…, at most a day), and goes back to every 5 minutes after a good one', async () => {
    const setup = await linked('github');
    const waits: number[] = [];
    for (const status of ['failed', 'failed', 'failed', 'ok'] as const) {
      const runId = await runOf(setup.caller, setup.link.id);
      const before = Date.now();
      await applySyncResult(githubResult(setup, runId, [], { status, error: status === 'failed' ? 'GitHub: Not Found (404): the repository is gone or the token cannot see it' : null }), trace);
      const link = await listed(setup.caller, setup.project.id, setup.link.id);
      expect(link.lastSync.status).toBe(status);
      waits.push(Math.round((Date.parse(link.nextSyncAt) - before) / 60_000));
      // Due again now, for the next round of this test.
      await sql('UPDATE integration_links SET next_sync_at = now() WHERE id = $1', [setup.link.id]);
    }
    // After the good one: the next dispatch, 5 minutes after the one that started it (issue 13: it said now).
    expect(waits).toEqual([5, 10, 20, 5]);
    expect((await linkRow(setup.link.id)).consecutive_failures).toBe('0');
  });

  it('says when the next run starts once a run ended well or found nothing to do: at the next dispatch, not when it ended', async () => {
    const github = await linked('github');
    const claimed = Date.now();
    const runId = await runOf(github.caller, github.link.id);
    await applySyncResult(githubResult(github, runId, [issue(1)], { status: 'ok', error: null }), trace);
    const synced = await listed(github.caller, github.project.id, github.link.id);
    expect(synced).toMatchObject({ running: false, lastSync: { status: 'ok', changes: 1 } });
    expect(synced.nextSyncAt).not.toBe(synced.lastSync.at);
    // The dispatch that started it, plus the schedule's interval.
    expect(Date.parse(synced.nextSyncAt)).toBeGreaterThanOrEqual(claimed + SYNC_EVERY_MINUTES * 60_000);
    expect(Date.parse(synced.nextSyncAt)).toBeLessThanOrEqual(Date.parse(synced.lastSync.at) + SYNC_EVERY_MINUTES * 60_000);

    const calendar = await linked('googleCalendar');
    expect(await dispatchFor(calendar.caller)).toMatchObject({ unchanged: 1 });
    const unchanged = await listed(calendar.caller, calendar.project.id, calendar.link.id);
    expect(unchanged.lastSync.status).toBe('unchanged');
    expect(Date.parse(unchanged.nextSyncAt) - Date.parse(unchanged.lastSync.at)).toBeGreaterThan((SYNC_EVERY_MINUTES - 1) * 60_000);
    // The schedule is that interval.
    expect(taskflow.schedules.integrationSync.everyMinutes).toBe(SYNC_EVERY_MINUTES);
  });

  it('waits for a rate limit\'s reset before the next run', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    const retryAt = new Date(Date.now() + 40 * 60_000).toISOString();
    await applySyncResult(githubResult(setup, runId, [], { status: 'rate_limited', error: 'GitHub rate limit reached', retryAt }), trace);
    const link = await listed(setup.caller, setup.project.id, setup.link.id);
    expect(link).toMatchObject({ running: false, lastSync: { status: 'rate_limited', error: 'GitHub rate limit reached', changes: 0 } });
    expect(Math.abs(Date.parse(link.nextSyncAt) - Date.parse(retryAt))).toBeLessThan(1_000);
    expect((await dispatchFor(setup.caller)).claimed).toBe(0);
    // The organization's other GitHub links share the token: they wait too; its calendar links do not.
    const other = await invoke('createLink', setup.caller, { params: { projectId: setup.project.id }, body: { type: 'github', target: 'acme/other' } });
    const calendar = await invoke('createLink', setup.caller, { params: { projectId: setup.project.id }, body: { type: 'googleCalendar', target: 'team@example.com' } });
    expect([other.status, calendar.status]).toEqual([201, 201]);
    expect(await dispatchFor(setup.caller)).toMatchObject({ claimed: 1, github: 0, unchanged: 1 });
    await sql("UPDATE integration_links SET next_sync_at = now() WHERE id = $1", [setup.link.id]); // the reset has come
    expect(await dispatchFor(setup.caller)).toMatchObject({ github: 2 });
  });

  it('does not let the outcome of a stale run overwrite the link, but imports its issues (a late page is not lost)', async () => {
    const setup = await linked('github');
    const stale = await runOf(setup.caller, setup.link.id);
    await sql("UPDATE integration_links SET run_started_at = now() - interval '31 minutes' WHERE id = $1", [setup.link.id]);
    const current = await runOf(setup.caller, setup.link.id);
    expect(current).not.toBe(stale);
    const applied = await applySyncResult(githubResult(setup, stale, [issue(1)], { status: 'failed', error: 'late', etag: '"old"' }), trace);
    expect(applied).toMatchObject({ state: 'stale', created: 1, finished: false });
    expect(await linkRow(setup.link.id)).toMatchObject({ run_id: current, last_sync_at: null, etag: null });
    expect(await importedTasks(setup.project.id)).toHaveLength(1);
    await applySyncResult(githubResult(setup, current, [], { status: 'unchanged', error: null }), trace);
    expect(await listed(setup.caller, setup.project.id, setup.link.id)).toMatchObject({ running: false, lastSync: { status: 'unchanged' } });
  });

  it('imports a run\'s pages that arrive after its outcome, and never lets an older copy of an issue overwrite a newer one', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    const older = issue(1, { title: 'Old title' });
    const newer = issue(1, { title: 'New title', closed: true });
    // SQS keeps no order: the outcome (which moves `since` past these issues) first, then the pages, newest first.
    await applySyncResult(githubResult(setup, runId, [], { status: 'ok', error: null, since: newer.updatedAt }), trace);
    expect(await applySyncResult(githubResult(setup, runId, [newer, issue(2)]), trace)).toMatchObject({ state: 'applied', created: 2 });
    expect(await applySyncResult(githubResult(setup, runId, [older]), trace)).toMatchObject({ created: 0, updated: 0 });
    const [first] = await importedTasks(setup.project.id);
    expect(first).toMatchObject({ external_id: 'acme/repo#1', title: 'New title', status: 'done', version: '1' });
    expect(await eventsOf(setup.project.id, 'task.updated')).toHaveLength(0);
  });

  it('applies an edit made in the second its issue was last read (GitHub\'s updated_at has whole seconds)', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    const read = issue(1, { updatedAt: '2031-05-05T10:00:00Z' });
    await applySyncResult(githubResult(setup, runId, [read]), trace);
    const edited = { ...read, title: 'Edited in the same second' };
    expect(await applySyncResult(githubResult(setup, runId, [edited]), trace)).toMatchObject({ updated: 1 });
    expect(await applySyncResult(githubResult(setup, runId, [edited]), trace)).toMatchObject({ updated: 0 });
    expect((await importedTasks(setup.project.id))[0]).toMatchObject({ title: 'Edited in the same second', version: '2' });
  });

  it('drops the results of a link that no longer exists', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    expect((await invoke('deleteLink', setup.caller, { params: { linkId: setup.link.id } })).status).toBe(204);
    const applied = await applySyncResult(githubResult(setup, runId, [issue(1)], { status: 'ok', error: null }), trace);
    expect(applied).toMatchObject({ state: 'dropped', created: 0 });
    expect(await importedTasks(setup.project.id)).toHaveLength(0);
  });

  it('is what the syncResults consumer runs; a message that is not a SyncResult fails towards the DLQ', async () => {
    const setup = await linked('github');
    const runId = await runOf(setup.caller, setup.link.id);
    const consumer = await loadHandler<(event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>>(taskflow.queues.syncResults.consumer.entry);
    const record = (body: unknown, id: string) =>
      sqsRecord(
        { MessageId: id, ReceiptHandle: id, Body: JSON.stringify(body), Attributes: { ApproximateReceiveCount: '1' }, MessageAttributes: { requestId: { DataType: 'String', StringValue: 'req-sync-1' } } },
        'arn:aws:sqs:us-east-1:000000000000:syncResults',
        'us-east-1',
      );
    const good = githubResult(setup, runId, [issue(1)], { status: 'ok', error: null });
    const response = await consumer({ Records: [record(good, 'm1'), record({ kind: 'github', runId }, 'm2'), record(good, 'm3')] }, lambdaContext('sync-results', 60_000));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm2' }]);
    expect(await importedTasks(setup.project.id)).toHaveLength(1);
    const [event] = await eventsOf(setup.project.id, 'task.created');
    const [logged] = await sql('SELECT request_id FROM event_log WHERE subject_id = $1', [event!.subject_id]);
    expect(logged.request_id).toBe('req-sync-1');
  });
});

describe('calendar runs', () => {
  it('sends upserts for due tasks, records what was written, never moves a version back, and deletes what lost its date', async () => {
    const setup = await linked('googleCalendar');
    const due = await createTask(setup.caller, setup.project.id, { title: 'Launch', dueDate: '2031-03-04', status: 'in_progress' });
    await createTask(setup.caller, setup.project.id, { title: 'Someday' });
    expect(await dispatchFor(setup.caller)).toMatchObject({ claimed: 1, googleCalendar: 1 });
    const [first] = await messagesFor('googleCalendar', setup.link.id);
    const request = CalendarSyncRequest.parse(first);
    const eventId = calendarEventId(setup.link.target, due.id);
    expect(eventId).toMatch(/^[a-v0-9]{32}$/);
    expect(request).toMatchObject({ calendarId: setup.link.target, projectId: setup.project.id, organizationId: setup.caller.orgId });
    expect(request.changes).toEqual([
      { action: 'upsert', taskId: due.id, eventId, version: 1, event: { summary: 'Launch', description: expect.stringContaining('in progress'), date: '2031-03-04' } },
    ]);
    const result = (runId: string, applied: { taskId: string; eventId: string; version: number | null }[], outcome: RunOutcome | null): SyncResult => ({
      kind: 'googleCalendar', runId, linkId: setup.link.id, organizationId: setup.caller.orgId, projectId: setup.project.id, applied, outcome,
    });
    await applySyncResult(result(request.runId, [{ taskId: due.id, eventId, version: 1 }], { status: 'ok', error: null }), trace);
    const events = () => sql('SELECT task_id, event_id, synced_version::int AS version FROM calendar_events WHERE link_id = $1', [setup.link.id]);
    expect(await events()).toEqual([{ task_id: due.id, event_id: eventId, version: 1 }]);
    expect(await listed(setup.caller, setup.project.id, setup.link.id)).toMatchObject({ running: false, lastSync: { status: 'ok', changes: 1 } });

    // Nothing changed since: the next run finishes at once.
    expect(await dispatchFor(setup.caller)).toMatchObject({ claimed: 1, unchanged: 1 });

    // The task changes twice; the event shows version 3; a late copy of an older result changes nothing.
    for (const title of ['Launch!', 'Launch day']) {
      const current = (await invoke('getTask', setup.caller, { params: { taskId: due.id } })).body;
      expect((await invoke('updateTask', setup.caller, { params: { taskId: due.id }, body: { version: current.version, title } })).status).toBe(200);
    }
    expect(await dispatchFor(setup.caller)).toMatchObject({ googleCalendar: 1 });
    const [second] = await messagesFor('googleCalendar', setup.link.id);
    expect(second.changes).toMatchObject([{ action: 'upsert', eventId, version: 3, event: { summary: 'Launch day' } }]);
    await applySyncResult(result(second.runId, [{ taskId: due.id, eventId, version: 3 }], null), trace);
    await applySyncResult(result(second.runId, [{ taskId: due.id, eventId, version: 2 }], { status: 'ok', error: null }), trace);
    expect(await events()).toEqual([{ task_id: due.id, event_id: eventId, version: 3 }]);
    expect((await listed(setup.caller, setup.project.id, setup.link.id)).lastSync.changes).toBe(2);

    // The due date goes: the event is deleted (by its stored id), and so is its row.
    expect((await invoke('updateTask', setup.caller, { params: { taskId: due.id }, body: { version: 3, dueDate: null } })).status).toBe(200);
    expect(await dispatchFor(setup.caller)).toMatchObject({ googleCalendar: 1 });
    const [third] = await messagesFor('googleCalendar', setup.link.id);
    expect(third.changes).toEqual([{ action: 'delete', taskId: due.id, eventId, version: 4 }]);
    await applySyncResult(result(third.runId, [{ taskId: due.id, eventId, version: null }], { status: 'ok', error: null }), trace);
    expect(await events()).toEqual([]);
    expect(await dispatchFor(setup.caller)).toMatchObject({ claimed: 1, unchanged: 1 });
  });

  it('deletes the event of a deleted task, and sends at most 100 changes a run', async () => {
    const setup = await linked('googleCalendar');
    const gone = await createTask(setup.caller, setup.project.id, { title: 'Gone', dueDate: '2031-01-01' });
    const eventId = calendarEventId(setup.link.target, gone.id);
    await sql('INSERT INTO calendar_events (link_id, task_id, event_id, synced_version) VALUES ($1, $2, $3, 1)', [setup.link.id, gone.id, eventId]);
    expect((await invoke('deleteTask', setup.caller, { params: { taskId: gone.id } })).status).toBe(204);
    await sql(
      `INSERT INTO tasks (organization_id, project_id, title, due_date, created_by)
       SELECT $1, $2, 'Bulk ' || n, date '2031-01-01' + n, $3 FROM generate_series(1, 120) AS n`,
      [setup.caller.orgId, setup.project.id, setup.caller.userId],
    );
    await dispatchFor(setup.caller);
    const [message] = await messagesFor('googleCalendar', setup.link.id);
    expect(message.changes).toHaveLength(100);
    expect(message.changes.filter((change: { action: string }) => change.action === 'delete')).toEqual([{ action: 'delete', taskId: gone.id, eventId, version: null }]);
  });
});
