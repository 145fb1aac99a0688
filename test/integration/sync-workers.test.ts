import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CalendarSyncRequest, GithubSyncRequest, RunOutcome, SyncResult } from '../../functions/domain/messages';
import { BreakerOpen, readStatuses } from '../../functions/integrations/breaker';
import { fetchChangedIssues } from '../../functions/integrations/github';
import { forgetGoogleTokens } from '../../functions/integrations/google-auth';
import { applyCalendarChanges } from '../../functions/integrations/google-calendar';
import { IntegrationUnavailable } from '../../functions/integrations/http';
import { INTEGRATION_NAMES, type IntegrationName } from '../../functions/integrations/services';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { taskflow } from '../../lib/app';
import { queueName } from '../../lib/declaration';
import { sqsRecord } from '../../lib/local/event-sources';
import { loadHandler } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { GITHUB_RATE_LIMIT, SANDBOX_SERVICES, startSandboxes, type Sandboxes } from '../../lib/local/sandboxes';
import { LOCAL_ACCOUNT_ID, sqsClient, startSqs, type LocalSqs } from '../../lib/local/sqs';
import { ownIntegrationsTable } from '../support/integrations-table';
import { bodyOf, drain } from '../support/queues';

// Issue 6: the GitHub and Google Calendar sync workers (out of the VPC, no database) against the sandboxes. They
// call the service and send what they found or did to syncResults; rate limits end a run (no retry storm, not a
// breaker failure); an outage fails the run's message and hides it for later; a refusal ends the run 'failed'.

let sandboxes: Sandboxes;
let sqs: LocalSqs;
let client: SQSClient;

const trace = { requestId: 'req-sync', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
type SyncQueue = 'github' | 'googleCalendar';

beforeAll(async () => {
  sandboxes = await startSandboxes();
  // Queues of this file's own, whose messages come back after 1 s unless a consumer hides them longer.
  sqs = await startSqs(taskflow, { visibilityTimeoutSeconds: 1 });
  client = sqsClient(sqs.environment);
  await ownIntegrationsTable();
  Object.assign(process.env, sandboxes.environment, sqs.environment);
});

afterAll(async () => {
  client?.destroy();
  await sandboxes?.stop();
  await sqs?.stop();
});

beforeEach(async () => {
  for (const service of SANDBOX_SERVICES) sandboxes.setFault(service, { mode: 'ok' });
  sandboxes.github.setRateLimit({ limit: GITHUB_RATE_LIMIT });
  sandboxes.clearCalls();
  forgetGoogleTokens();
  for (const name of INTEGRATION_NAMES) await dynamoDb()('DeleteItem', { TableName: process.env.INTEGRATIONS_TABLE_NAME, Key: { id: { S: name } } });
  await drain(sqs, 'syncResults', { quietMs: 100 });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const run = () => ({ runId: randomUUID(), linkId: randomUUID(), organizationId: 'org_sync', projectId: randomUUID() });

function githubRequest(repository: string, last: Pick<RunOutcome, 'etag' | 'since'> = { etag: null, since: null }): GithubSyncRequest {
  return { ...run(), repository, etag: last.etag ?? null, since: last.since ?? null };
}

/**
 * Sends the message to the queue, receives it and hands it to the queue's consumer as Lambda would (with the
 * declared 300 s timeout), then deletes it if the consumer did not report it failed (the event source's part).
 */
async function consume(queue: SyncQueue, body: { runId: string }): Promise<{ failed: boolean }> {
  const queueUrl = sqs.queueUrl(queue);
  await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body), MessageAttributes: { requestId: { DataType: 'String', StringValue: trace.requestId } } }));
  let message: Message | undefined;
  while (!message) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
    );
    // Another test's message that came back is left alone.
    message = Messages.find((candidate) => JSON.parse(candidate.Body!).runId === body.runId);
  }
  const arn = `arn:aws:sqs:${process.env.AWS_REGION}:${LOCAL_ACCOUNT_ID}:${queueName(taskflow.name, queue)}`;
  const event: SQSEvent = { Records: [sqsRecord(message, arn, process.env.AWS_REGION!)] };
  const consumer = await loadHandler<(event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>>(taskflow.queues[queue].consumer.entry);
  const response = await consumer(event, lambdaContext(queue, (taskflow.queues[queue].consumer.timeoutSeconds ?? 300) * 1000));
  const messageId = message.MessageId;
  const failed = response.batchItemFailures.some((failure) => failure.itemIdentifier === messageId);
  if (!failed) await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
  return { failed };
}

/** What the workers sent to syncResults for a run (the one with an outcome last: SQS keeps no order). */
async function results<K extends SyncResult['kind']>(runId: string, kind: K): Promise<Extract<SyncResult, { kind: K }>[]> {
  const messages = await drain(sqs, 'syncResults');
  return messages
    .map((message) => bodyOf(message) as SyncResult)
    .filter((result): result is Extract<SyncResult, { kind: K }> => result.runId === runId && result.kind === kind)
    .sort((a, b) => Number(a.outcome !== null) - Number(b.outcome !== null));
}

/** The run's outcome (one result, the last sent, carries it) and every issue it sent. */
async function githubRun(runId: string) {
  const sent = await results(runId, 'github');
  expect(sent.filter((result) => result.outcome !== null)).toHaveLength(1);
  return { outcome: sent.at(-1)!.outcome!, issues: sent.flatMap((result) => result.issues), messages: sent };
}

const statusOf = async (name: IntegrationName) => (await readStatuses()).find((status) => status.integration === name)!;

/** A logger that does `then` when the HTTP layer says it tries again. */
const onRetry = (then: () => void) => ({ info: (message: string) => message.includes('trying again') && then(), warn: () => undefined }) as unknown as Logger;

/** A repository of its own: `count` items updated a minute apart from 2026-01-01, every fifth a pull request, every third without a body. */
function seedRepository(count: number, body = (i: number) => (i % 3 === 0 ? null : `Body ${i + 1}`)): string {
  const repository = `acme/sync-${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < count; i += 1) {
    sandboxes.github.createIssue(repository, {
      title: `Issue ${i + 1}`,
      body: body(i),
      state: i % 4 === 3 ? 'closed' : 'open',
      pullRequest: i % 5 === 4,
      updatedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
    });
  }
  return repository;
}

describe('the github worker', () => {
  it('imports the issues across pages, leaves the pull requests out, and gives the next run its ETag and since', async () => {
    const repository = seedRepository(250);
    const request = githubRequest(repository);
    expect(await consume('github', request)).toEqual({ failed: false });

    const calls = sandboxes.calls('github');
    expect(calls.map((call) => call.status)).toEqual([200, 200, 200]);
    expect(calls[0]!.path).toBe(`/repos/${repository}/issues`);
    expect(calls[0]!.query).toEqual({ state: 'all', sort: 'updated', direction: 'asc', per_page: '100' });
    expect(calls[0]!.headers).toMatchObject({ authorization: 'Bearer ghp_local-sandbox', 'user-agent': 'TaskFlow', 'x-request-id': trace.requestId });
    expect(calls[0]!.headers).not.toHaveProperty('if-none-match');
    // The Link header's next pages, as GitHub gives them.
    expect(calls.slice(1).map((call) => [call.path.replace(/\d+/, 'ID'), call.query.page])).toEqual([
      ['/repositories/ID/issues', '2'],
      ['/repositories/ID/issues', '3'],
    ]);

    const { outcome, issues } = await githubRun(request.runId);
    const expected = sandboxes.github.issues(repository).filter((issue) => !issue.pullRequest);
    expect(issues).toHaveLength(200);
    expect(issues.map((issue) => issue.externalId)).toEqual(expected.map((issue) => `${repository}#${issue.number}`));
    expect(issues[0]).toEqual({ externalId: `${repository}#1`, title: 'Issue 1', body: '', closed: false, url: `https://github.com/${repository}/issues/1`, updatedAt: '2026-01-01T00:00:00Z' });
    expect(issues[1]).toMatchObject({ externalId: `${repository}#2`, body: 'Body 2', closed: false });
    expect(issues[3]).toMatchObject({ externalId: `${repository}#4`, body: '', closed: true });
    // The newest updated_at seen (the last item, a pull request, moves the cursor too).
    expect(outcome).toEqual({ status: 'ok', error: null, etag: expect.stringMatching(/^"[0-9a-f]{64}"$/), since: '2026-01-01T04:09:00Z', retryAt: null });
  });

  it('cuts long titles and bodies to the task limits and keeps each result message well under SQS\'s 256 KB', async () => {
    const repository = `acme/long-${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 20; i += 1) {
      sandboxes.github.createIssue(repository, { title: `T${i} ${'t'.repeat(600)}`, body: `${'é'.repeat(65_000)}`, updatedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() });
    }
    const request = githubRequest(repository);
    await consume('github', request);
    const { issues, messages, outcome } = await githubRun(request.runId);
    expect(outcome.status).toBe('ok');
    expect(issues).toHaveLength(20);
    for (const issue of issues) {
      expect(issue.title).toHaveLength(500);
      expect(issue.body).toHaveLength(20_000);
    }
    expect(messages.length).toBeGreaterThan(1);
    for (const message of messages) expect(Buffer.byteLength(JSON.stringify(message))).toBeLessThan(210_000);
  });

  it('meets a 304 once nothing changed: unchanged, and no rate limit spent; then finds the changed issue', async () => {
    const repository = seedRepository(3);
    const first = githubRequest(repository);
    await consume('github', first);
    const one = (await githubRun(first.runId)).outcome;
    expect(one).toMatchObject({ status: 'ok', since: '2026-01-01T00:02:00Z' });

    // The next run asks from the newest change on (inclusive): the page differs from the first run's.
    const second = githubRequest(repository, one);
    await consume('github', second);
    const two = await githubRun(second.runId);
    expect(two.outcome).toMatchObject({ status: 'ok', since: '2026-01-01T00:02:00Z', etag: expect.any(String) });
    expect(two.outcome.etag).not.toBe(one.etag);

    const before = sandboxes.github.rateLimit();
    const third = githubRequest(repository, two.outcome);
    await consume('github', third);
    const three = await githubRun(third.runId);
    expect(three.issues).toEqual([]);
    expect(three.outcome).toEqual({ status: 'unchanged', error: null, etag: two.outcome.etag, since: two.outcome.since, retryAt: null });
    expect(sandboxes.calls('github').at(-1)).toMatchObject({ status: 304, headers: expect.objectContaining({ 'if-none-match': two.outcome.etag }) });
    expect(sandboxes.github.rateLimit().used).toBe(before.used);

    sandboxes.github.updateIssue(repository, 2, { title: 'Issue 2, renamed', state: 'closed' });
    const fourth = githubRequest(repository, three.outcome);
    await consume('github', fourth);
    const four = await githubRun(fourth.runId);
    expect(four.outcome.status).toBe('ok');
    expect(four.issues).toContainEqual(expect.objectContaining({ externalId: `${repository}#2`, title: 'Issue 2, renamed', closed: true }));
    expect(Date.parse(four.outcome.since!)).toBeGreaterThan(Date.parse(three.outcome.since!));
  });

  it('stops at the rate limit: rate_limited until the reset, no retries, and not a failure for the breaker', async () => {
    const repository = seedRepository(300);
    sandboxes.github.setRateLimit({ limit: 2 });
    const { reset } = sandboxes.github.rateLimit();
    const first = githubRequest(repository);
    expect(await consume('github', first)).toEqual({ failed: false });
    const one = await githubRun(first.runId);
    // Two pages, then the budget was spent: the third page waits for the reset.
    expect(sandboxes.calls('github').map((call) => call.status)).toEqual([200, 200]);
    expect(one.issues).toHaveLength(160);
    expect(one.outcome).toMatchObject({ status: 'rate_limited', retryAt: new Date(reset * 1000).toISOString(), since: '2026-01-01T03:19:00Z', error: expect.stringContaining('rate limit') });

    // The next run meets GitHub's 403: one call, not retried.
    const second = githubRequest(repository, one.outcome);
    expect(await consume('github', second)).toEqual({ failed: false });
    const two = await githubRun(second.runId);
    expect(sandboxes.calls('github').map((call) => call.status)).toEqual([200, 200, 403]);
    expect(two.issues).toEqual([]);
    expect(two.outcome).toMatchObject({ status: 'rate_limited', retryAt: new Date(reset * 1000).toISOString(), since: one.outcome.since, error: expect.stringContaining('API rate limit exceeded') });
    expect(await statusOf('github')).toMatchObject({ state: 'closed', lastFailureAt: null });
  });

  it('takes a 429 with Retry-After (a secondary limit) for a rate limit too: one call, retryAt as asked', async () => {
    const repository = seedRepository(2);
    sandboxes.setFault('github', { mode: 'rate-limit', retryAfterSeconds: 120 });
    const before = Date.now();
    const { outcome } = await fetchChangedIssues(githubRequest(repository), { trace, budgetMs: 200_000 });
    const after = Date.now();
    expect(outcome.status).toBe('rate_limited');
    expect(Date.parse(outcome.retryAt!)).toBeGreaterThanOrEqual(before + 120_000 - 1);
    expect(Date.parse(outcome.retryAt!)).toBeLessThanOrEqual(after + 120_000);
    expect(sandboxes.calls('github').map((call) => call.status)).toEqual([429]);
    expect(await statusOf('github')).toMatchObject({ state: 'closed', lastFailureAt: null });
  });

  it('retries a 5xx within the run', async () => {
    const repository = seedRepository(4);
    sandboxes.setFault('github', { mode: 'error', status: 502 });
    const { outcome, issues } = await fetchChangedIssues(githubRequest(repository), { trace, log: onRetry(() => sandboxes.setFault('github', { mode: 'ok' })) });
    expect(outcome.status).toBe('ok');
    expect(issues.map((issue) => issue.title)).toEqual(['Issue 1', 'Issue 2', 'Issue 3', 'Issue 4']);
    expect(sandboxes.calls('github').map((call) => call.status)).toEqual([502, 200]);
    expect(await statusOf('github')).toMatchObject({ state: 'closed', lastFailureReason: 'HTTP 502' });
  });

  it('ends a run GitHub refuses for good (no such repository, a bad token) failed, with the reason, and does not retry it', async () => {
    const missing = githubRequest('acme/does-not-exist');
    expect(await consume('github', missing)).toEqual({ failed: false });
    expect((await githubRun(missing.runId)).outcome).toEqual({
      status: 'failed',
      error: expect.stringContaining('acme/does-not-exist not found (HTTP 404)'),
      etag: null,
      since: null,
      retryAt: null,
    });

    const repository = seedRepository(1);
    vi.stubEnv('GITHUB_TOKEN', 'ghp_revoked');
    try {
      const revoked = githubRequest(repository);
      expect(await consume('github', revoked)).toEqual({ failed: false });
      expect((await githubRun(revoked.runId)).outcome).toMatchObject({ status: 'failed', error: expect.stringContaining('refused the token (HTTP 401') });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(sandboxes.calls('github').map((call) => call.status)).toEqual([404, 401]);
    expect(await statusOf('github')).toMatchObject({ state: 'closed', lastFailureAt: null });
  });

  it('GitHub down: the run fails and is hidden for later; the breaker opens and refused runs are postponed, not lost', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // no backoff (the sandbox still fails every call)
    sandboxes.setFault('github', { mode: 'down' });
    const repository = seedRepository(1);
    const first = githubRequest(repository);
    expect(await consume('github', first)).toEqual({ failed: true });
    expect(sandboxes.calls('github')).toHaveLength(4);
    await expect(fetchChangedIssues(githubRequest(repository), { trace })).rejects.toBeInstanceOf(IntegrationUnavailable); // 8 calls
    await expect(fetchChangedIssues(githubRequest(repository), { trace })).rejects.toBeInstanceOf(BreakerOpen); // 9, 10: open
    expect(await statusOf('github')).toMatchObject({ state: 'open' });
    vi.restoreAllMocks();

    sandboxes.setFault('github', { mode: 'ok' });
    const refused = githubRequest(repository);
    expect(await consume('github', refused)).toEqual({ failed: true });
    expect(sandboxes.calls('github')).toHaveLength(10); // not one more
    expect(await results(refused.runId, 'github')).toEqual([]);

    // Past the queue's 1 s, both are still hidden (30 s: the breaker's half-open time, an outage's first wait), and in the queue.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('github'), MaxNumberOfMessages: 10 }));
    expect(Messages.filter((message) => [first.runId, refused.runId].includes(JSON.parse(message.Body!).runId))).toEqual([]);
    const { Attributes = {} } = await client.send(new GetQueueAttributesCommand({ QueueUrl: sqs.queueUrl('github'), AttributeNames: ['ApproximateNumberOfMessagesNotVisible'] }));
    expect(Number(Attributes.ApproximateNumberOfMessagesNotVisible)).toBeGreaterThanOrEqual(2);
    expect(await drain(sqs, 'github', { deadLetter: true, quietMs: 100 })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------

type Change = CalendarSyncRequest['changes'][number];

const taskIds = { a: randomUUID(), b: randomUUID(), c: randomUUID() };
const upsert = (taskId: string, eventId: string, version: number, date = '2026-03-10', summary = 'Write the docs'): Change => ({
  action: 'upsert',
  taskId,
  eventId,
  version,
  event: { summary, description: 'In TaskFlow', date },
});
const remove = (taskId: string, eventId: string): Change => ({ action: 'delete', taskId, eventId });

function calendarRequest(calendarId: string, changes: Change[]): CalendarSyncRequest {
  return { ...run(), calendarId, changes };
}

const newCalendar = () => `team-${randomUUID()}@group.calendar.google.com`;
const calendarCalls = () => sandboxes.calls('googleCalendar').map((call) => `${call.method} ${call.status}`);

async function calendarRun(runId: string) {
  const sent = await results(runId, 'googleCalendar');
  expect(sent).toHaveLength(1);
  return sent[0]!;
}

describe('the google-calendar worker', () => {
  it('writes all-day events (insert once, then update with PUT), deletes them (404 and 410 are done), with one token for every run', async () => {
    const calendarId = newCalendar();
    const first = calendarRequest(calendarId, [upsert(taskIds.a, 'taskevent00a', 3), upsert(taskIds.b, 'taskevent00b', 1, '2026-12-31'), remove(taskIds.c, 'taskevent00c')]);
    expect(await consume('googleCalendar', first)).toEqual({ failed: false });
    expect(await calendarRun(first.runId)).toMatchObject({
      kind: 'googleCalendar',
      applied: [
        { taskId: taskIds.a, eventId: 'taskevent00a', version: 3 },
        { taskId: taskIds.b, eventId: 'taskevent00b', version: 1 },
        { taskId: taskIds.c, eventId: 'taskevent00c', version: null },
      ],
      outcome: { status: 'ok', error: null },
    });
    expect(calendarCalls()).toEqual(['PUT 404', 'POST 200', 'PUT 404', 'POST 200', 'DELETE 404']);
    expect(sandboxes.googleCalendar.events(calendarId)).toEqual([
      expect.objectContaining({ id: 'taskevent00a', summary: 'Write the docs', description: 'In TaskFlow', start: { date: '2026-03-10' }, end: { date: '2026-03-11' } }),
      expect.objectContaining({ id: 'taskevent00b', start: { date: '2026-12-31' }, end: { date: '2027-01-01' } }),
    ]);

    sandboxes.clearCalls('googleCalendar');
    const second = calendarRequest(calendarId, [upsert(taskIds.a, 'taskevent00a', 4, '2026-03-11', 'Write all the docs'), remove(taskIds.b, 'taskevent00b')]);
    await consume('googleCalendar', second);
    expect((await calendarRun(second.runId)).outcome).toMatchObject({ status: 'ok' });
    expect(calendarCalls()).toEqual(['PUT 200', 'DELETE 204']);
    expect(sandboxes.googleCalendar.events(calendarId)).toEqual([expect.objectContaining({ id: 'taskevent00a', summary: 'Write all the docs', start: { date: '2026-03-11' } })]);

    sandboxes.clearCalls('googleCalendar');
    const third = calendarRequest(calendarId, [remove(taskIds.b, 'taskevent00b')]);
    await consume('googleCalendar', third);
    expect(await calendarRun(third.runId)).toMatchObject({ applied: [{ taskId: taskIds.b, version: null }], outcome: { status: 'ok' } });
    expect(calendarCalls()).toEqual(['DELETE 410']);

    // One token for the three runs, on every call.
    expect(sandboxes.calls('googleOAuth').map((call) => [call.path, call.status])).toEqual([['/token', 200]]);
    expect(sandboxes.calls('googleOAuth')[0]!.body).toMatchObject({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
  });

  it('fetches a new token once when Google no longer takes the old one', async () => {
    const calendarId = newCalendar();
    await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, 'tokenevent0001', 1)]), { trace });
    sandboxes.googleCalendar.revokeTokens();
    const { outcome } = await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, 'tokenevent0001', 2)]), { trace });
    expect(outcome.status).toBe('ok');
    expect(sandboxes.calls('googleOAuth')).toHaveLength(2);
    expect(calendarCalls()).toEqual(['PUT 404', 'POST 200', 'PUT 401', 'PUT 200']);
  });

  it('does not make an event twice when an insert\'s answer is lost: the retry meets 409 and updates it', async () => {
    const calendarId = newCalendar();
    sandboxes.setFault('googleCalendar', { mode: 'lost', methods: ['POST'] });
    const { applied, outcome } = await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, 'lostinsert001', 7)]), {
      trace,
      log: onRetry(() => sandboxes.setFault('googleCalendar', { mode: 'ok' })),
    });
    expect(outcome).toMatchObject({ status: 'ok', error: null });
    expect(applied).toEqual([{ taskId: taskIds.a, eventId: 'lostinsert001', version: 7 }]);
    expect(calendarCalls()).toEqual(['PUT 404', 'POST null', 'POST 409', 'PUT 200']);
    expect(sandboxes.googleCalendar.events(calendarId, { includeDeleted: true })).toEqual([expect.objectContaining({ id: 'lostinsert001', summary: 'Write the docs', status: 'confirmed' })]);
  });

  it('reports a change Google refuses and still makes the others; the run ends failed, its message deleted', async () => {
    const calendarId = newCalendar();
    const request = calendarRequest(calendarId, [upsert(taskIds.a, 'refusedevent01', 1, '2026-02-30'), upsert(taskIds.b, 'acceptedevent1', 1), remove(taskIds.c, 'deletedevent01')]);
    expect(await consume('googleCalendar', request)).toEqual({ failed: false });
    const result = await calendarRun(request.runId);
    expect(result.applied).toEqual([
      { taskId: taskIds.b, eventId: 'acceptedevent1', version: 1 },
      { taskId: taskIds.c, eventId: 'deletedevent01', version: null },
    ]);
    expect(result.outcome).toMatchObject({ status: 'failed', error: expect.stringContaining(`upsert of task ${taskIds.a}: HTTP 400 invalid (Invalid start time.)`) });
    expect(sandboxes.googleCalendar.events(calendarId).map((event) => event.id)).toEqual(['acceptedevent1']);
  });

  it('Google Calendar failing mid-run: the changes made are reported, the message fails and is hidden for later', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const calendarId = newCalendar();
    sandboxes.setFault('googleCalendar', { mode: 'error', status: 503, methods: ['DELETE'] });
    const request = calendarRequest(calendarId, [upsert(taskIds.a, 'beforeoutage01', 2), remove(taskIds.b, 'duringoutage01'), upsert(taskIds.c, 'afteroutage001', 1)]);
    expect(await consume('googleCalendar', request)).toEqual({ failed: true });
    expect(calendarCalls()).toEqual(['PUT 404', 'POST 200', 'DELETE 503', 'DELETE 503', 'DELETE 503', 'DELETE 503']);
    expect(await calendarRun(request.runId)).toMatchObject({ applied: [{ taskId: taskIds.a, eventId: 'beforeoutage01', version: 2 }], outcome: null });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('googleCalendar'), MaxNumberOfMessages: 10 }));
    expect(Messages.filter((message) => JSON.parse(message.Body!).runId === request.runId)).toEqual([]);
  });

  it('ends the run failed, without retrying it, when Google refuses the service account', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const { clientEmail, tokenUri } = JSON.parse(sandboxes.environment.GOOGLE_CALENDAR_CREDENTIALS!);
    // Google's own key file spelling.
    vi.stubEnv('GOOGLE_CALENDAR_CREDENTIALS', JSON.stringify({ type: 'service_account', client_email: clientEmail, private_key: privateKey, token_uri: tokenUri }));
    try {
      const request = calendarRequest(newCalendar(), [upsert(taskIds.a, 'nevermade001', 1)]);
      expect(await consume('googleCalendar', request)).toEqual({ failed: false });
      expect(await calendarRun(request.runId)).toMatchObject({
        applied: [],
        outcome: { status: 'failed', error: expect.stringContaining('invalid_grant: Invalid JWT Signature.') },
      });
    } finally {
      vi.unstubAllEnvs();
    }
    expect(sandboxes.calls('googleOAuth').map((call) => call.status)).toEqual([400]);
    expect(sandboxes.calls('googleCalendar')).toEqual([]);
  });
});
