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
    // The next pages by time: from the last item's updated_at on (inclusive: its item again, dropped), no page number.
    expect(calls.slice(1).map((call) => [call.path, call.query])).toEqual([
      [`/repos/${repository}/issues`, { state: 'all', sort: 'updated', direction: 'asc', per_page: '100', since: '2026-01-01T01:39:00Z' }],
      [`/repos/${repository}/issues`, { state: 'all', sort: 'updated', direction: 'asc', per_page: '100', since: '2026-01-01T03:18:00Z' }],
    ]);
    expect(calls.slice(1).map((call) => call.headers)).not.toContainEqual(expect.objectContaining({ 'if-none-match': expect.anything() }));

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
    // Two pages, then the budget was spent: the third page waits for the reset (the second ended at item 199).
    expect(sandboxes.calls('github').map((call) => call.status)).toEqual([200, 200]);
    expect(one.issues).toHaveLength(160);
    expect(one.outcome).toMatchObject({ status: 'rate_limited', retryAt: new Date(reset * 1000).toISOString(), since: '2026-01-01T03:18:00Z', error: expect.stringContaining('rate limit') });

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

  it('pages by time: an issue edited while a run pages moves to the end, and no issue is skipped (page numbers would skip one)', async () => {
    const repository = seedRepository(250);
    const edited = '2026-01-02T00:00:00Z';
    // As the first page is served, issue 3 (on it) is edited: it moves to the end of the list, and everything after
    // it one place back (issue 101, first of page 2 by number, onto page 1's range).
    sandboxes.github.onListIssues((page) => {
      if (page.repository === repository && page.numbers.includes(3) && sandboxes.github.issues(repository)[2]!.updatedAt !== edited) {
        sandboxes.github.updateIssue(repository, 3, { title: 'Issue 3, edited', updatedAt: edited });
      }
    });
    try {
      const one = await fetchChangedIssues(githubRequest(repository), { trace, budgetMs: 200_000 });
      expect(one.outcome).toMatchObject({ status: 'ok', since: edited });
      const two = await fetchChangedIssues(githubRequest(repository, one.outcome), { trace, budgetMs: 200_000 });

      // Every issue was returned (by the run, or else the next), and the edit too.
      const returned = [...one.issues, ...two.issues];
      const expected = sandboxes.github.issues(repository).filter((issue) => !issue.pullRequest).map((issue) => `${repository}#${issue.number}`);
      expect(new Set(returned.map((issue) => issue.externalId))).toEqual(new Set(expected));
      expect(one.issues.map((issue) => issue.externalId)).toEqual([...expected, `${repository}#3`]);
      expect(one.issues.at(-1)).toMatchObject({ externalId: `${repository}#3`, title: 'Issue 3, edited', updatedAt: edited });
    } finally {
      sandboxes.github.onListIssues(null);
    }
  });

  it('pages through a time many issues share by page number, for that since only: none skipped, none twice', async () => {
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1) + minute * 60_000).toISOString();
    const repository = `acme/ties-${randomUUID().slice(0, 8)}`;
    sandboxes.github.createIssue(repository, { title: 'Alone', updatedAt: at(0) });
    for (let i = 0; i < 150; i += 1) sandboxes.github.createIssue(repository, { title: `Bulk ${i}`, updatedAt: at(1) });
    for (let i = 0; i < 10; i += 1) sandboxes.github.createIssue(repository, { title: `Later ${i}`, updatedAt: at(2) });
    const pages = () => sandboxes.calls('github').map((call) => [call.query.since ?? null, call.query.page ?? null]);

    const { issues, outcome } = await fetchChangedIssues(githubRequest(repository), { trace, budgetMs: 200_000 });
    // Page 1 ends in the bulk; from its time on, a whole page of it (all seen but one); then that time's page 2.
    expect(pages()).toEqual([
      [null, null],
      ['2026-01-01T00:01:00Z', null],
      ['2026-01-01T00:01:00Z', '2'],
    ]);
    expect(issues.map((issue) => issue.externalId)).toEqual(Array.from({ length: 161 }, (_, i) => `${repository}#${i + 1}`));
    expect(outcome).toMatchObject({ status: 'ok', since: '2026-01-01T00:02:00Z' });

    // A first page wholly at one time is that time's page 1: on with page 2.
    sandboxes.clearCalls();
    const same = `acme/same-${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 230; i += 1) sandboxes.github.createIssue(same, { title: `Same ${i}`, updatedAt: at(5) });
    const run = await fetchChangedIssues(githubRequest(same), { trace, budgetMs: 200_000 });
    expect(pages()).toEqual([
      [null, null],
      ['2026-01-01T00:05:00Z', '2'],
      ['2026-01-01T00:05:00Z', '3'],
    ]);
    expect(run.issues.map((issue) => issue.externalId)).toEqual(Array.from({ length: 230 }, (_, i) => `${same}#${i + 1}`));
    expect(run.outcome).toMatchObject({ status: 'ok', since: '2026-01-01T00:05:00Z' });
  });

  it('ends the run failed, not retried, when a page is not a list of issues; the pages before it still count', async () => {
    const repository = seedRepository(150);
    // The second page (asked since the first's last item) answers 200 with an object.
    sandboxes.github.onListIssues((page) => (page.repository === repository && page.query.since ? { body: '{"message":"Something went wrong"}' } : undefined));
    try {
      const request = githubRequest(repository);
      expect(await consume('github', request)).toEqual({ failed: false });
      const { issues, outcome } = await githubRun(request.runId);
      expect(sandboxes.calls('github').map((call) => call.status)).toEqual([200, 200]);
      expect(issues).toHaveLength(80);
      expect(outcome).toEqual({
        status: 'failed',
        error: expect.stringContaining(`page 2 of ${repository}'s issues with JSON that is not a list`),
        etag: expect.any(String),
        since: '2026-01-01T01:39:00Z',
        retryAt: null,
      });

      // Not JSON at all (a proxy's page), or an item that is not an issue: the first page, nothing returned.
      for (const [body, reason] of [
        ['<html><body>Bad gateway</body></html>', 'not JSON'],
        ['[{"title":"no number"}]', 'without a number or an updated_at'],
      ] as const) {
        sandboxes.github.onListIssues((page) => (page.repository === repository ? { body } : undefined));
        const run = await fetchChangedIssues(githubRequest(repository), { trace, budgetMs: 200_000 });
        expect(run.issues).toEqual([]);
        expect(run.outcome).toMatchObject({ status: 'failed', error: expect.stringContaining(reason), since: null, etag: null });
      }
    } finally {
      sandboxes.github.onListIssues(null);
    }
    expect(await statusOf('github')).toMatchObject({ state: 'closed', lastFailureAt: null });
  });

  it('refuses a repository name with a . or .. part (/repos/../user/issues is /user/issues) before any call', async () => {
    for (const repository of ['acme/..', '../issues', 'acme/.', 'acme', 'acme/widgets/..']) {
      const { issues, outcome } = await fetchChangedIssues(githubRequest(repository), { trace });
      expect(issues).toEqual([]);
      expect(outcome).toMatchObject({ status: 'failed', error: expect.stringContaining('is not owner/name') });
    }
    expect(sandboxes.calls('github')).toEqual([]);
  });

  it('takes a 403 secondary rate limit without Retry-After as a minute\'s wait, and since stays at the pages returned', async () => {
    const repository = seedRepository(150);
    sandboxes.github.onListIssues((page) =>
      page.repository === repository && page.query.since
        ? { status: 403, body: JSON.stringify({ message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', status: '403' }) }
        : undefined,
    );
    try {
      const before = Date.now();
      const { issues, outcome } = await fetchChangedIssues(githubRequest(repository), { trace, budgetMs: 200_000 });
      const after = Date.now();
      expect(sandboxes.calls('github').map((call) => call.status)).toEqual([200, 403]);
      expect(issues).toHaveLength(80);
      expect(outcome).toMatchObject({ status: 'rate_limited', since: '2026-01-01T01:39:00Z', error: expect.stringContaining('secondary rate limit (HTTP 403)') });
      expect(Date.parse(outcome.retryAt!)).toBeGreaterThanOrEqual(before + 60_000 - 1);
      expect(Date.parse(outcome.retryAt!)).toBeLessThanOrEqual(after + 60_000);
      expect(await statusOf('github')).toMatchObject({ state: 'closed', lastFailureAt: null });

      // The next run goes on from there: the rest, nothing lost.
      sandboxes.github.onListIssues(null);
      const next = await fetchChangedIssues(githubRequest(repository, outcome), { trace, budgetMs: 200_000 });
      const expected = sandboxes.github.issues(repository).filter((issue) => !issue.pullRequest).map((issue) => `${repository}#${issue.number}`);
      expect(new Set([...issues, ...next.issues].map((issue) => issue.externalId))).toEqual(new Set(expected));
    } finally {
      sandboxes.github.onListIssues(null);
    }
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
/** A delete: `version` the task's when it lost its due date; null (default) when the task is gone. */
const remove = (taskId: string, eventId: string, version: number | null = null): Change => ({ action: 'delete', taskId, eventId, version });

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
    // Each upsert reads the event first (none: an insert with its id); a delete of a task gone deletes at once.
    expect(calendarCalls()).toEqual(['GET 404', 'POST 200', 'GET 404', 'POST 200', 'DELETE 404']);
    expect(sandboxes.googleCalendar.events(calendarId)).toEqual([
      expect.objectContaining({ id: 'taskevent00a', summary: 'Write the docs', description: 'In TaskFlow', start: { date: '2026-03-10' }, end: { date: '2026-03-11' } }),
      expect.objectContaining({ id: 'taskevent00b', start: { date: '2026-12-31' }, end: { date: '2027-01-01' } }),
    ]);

    sandboxes.clearCalls('googleCalendar');
    const second = calendarRequest(calendarId, [upsert(taskIds.a, 'taskevent00a', 4, '2026-03-11', 'Write all the docs'), remove(taskIds.b, 'taskevent00b', 2)]);
    await consume('googleCalendar', second);
    expect((await calendarRun(second.runId)).outcome).toMatchObject({ status: 'ok' });
    // An update and a delete with a version: read, then written with If-Match (the etag read).
    expect(calendarCalls()).toEqual(['GET 200', 'PUT 200', 'GET 200', 'DELETE 204']);
    const writes = sandboxes.calls('googleCalendar').filter((call) => call.method !== 'GET');
    expect(writes.map((call) => call.headers['if-match'])).toEqual([expect.stringMatching(/^"\d+"$/), expect.stringMatching(/^"\d+"$/)]);
    expect(sandboxes.googleCalendar.events(calendarId)).toEqual([expect.objectContaining({ id: 'taskevent00a', summary: 'Write all the docs', start: { date: '2026-03-11' } })]);

    sandboxes.clearCalls('googleCalendar');
    const third = calendarRequest(calendarId, [remove(taskIds.b, 'taskevent00b'), remove(taskIds.b, 'taskevent00b', 3), remove(taskIds.c, 'taskevent00c', 1)]);
    await consume('googleCalendar', third);
    expect(await calendarRun(third.runId)).toMatchObject({
      applied: [{ taskId: taskIds.b, version: null }, { taskId: taskIds.b, version: null }, { taskId: taskIds.c, version: null }],
      outcome: { status: 'ok' },
    });
    // Deleted already (410; found cancelled) or never made (404): done.
    expect(calendarCalls()).toEqual(['DELETE 410', 'GET 200', 'GET 404']);

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
    expect(calendarCalls()).toEqual(['GET 404', 'POST 200', 'GET 401', 'GET 200', 'PUT 200']);
  });

  it('does not make an event twice when an insert\'s answer is lost: the retry meets 409, reads the event and updates it', async () => {
    const calendarId = newCalendar();
    sandboxes.setFault('googleCalendar', { mode: 'lost', methods: ['POST'] });
    const { applied, outcome } = await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, 'lostinsert001', 7)]), {
      trace,
      log: onRetry(() => sandboxes.setFault('googleCalendar', { mode: 'ok' })),
    });
    expect(outcome).toMatchObject({ status: 'ok', error: null });
    expect(applied).toEqual([{ taskId: taskIds.a, eventId: 'lostinsert001', version: 7 }]);
    expect(calendarCalls()).toEqual(['GET 404', 'POST null', 'POST 409', 'GET 200', 'PUT 200']);
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
    expect(calendarCalls()).toEqual(['GET 404', 'POST 200', 'DELETE 503', 'DELETE 503', 'DELETE 503', 'DELETE 503']);
    expect(await calendarRun(request.runId)).toMatchObject({ applied: [{ taskId: taskIds.a, eventId: 'beforeoutage01', version: 2 }], outcome: null });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('googleCalendar'), MaxNumberOfMessages: 10 }));
    expect(Messages.filter((message) => JSON.parse(message.Body!).runId === request.runId)).toEqual([]);
  });

  it('an older run\'s changes landing after a newer one\'s leave Google showing the newer: skipped, not reported applied', async () => {
    const calendarId = newCalendar();
    const id = 'raceevent0001';
    const shown = () =>
      sandboxes.googleCalendar
        .events(calendarId, { includeDeleted: true })
        .map((event) => ({ status: event.status, summary: event.summary, date: event.start.date, version: event.extendedProperties.private.taskflowVersion }));
    expect((await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, id, 5, '2026-04-02', 'Renamed')]), { trace })).applied).toHaveLength(1);

    // The older run (version 3) ends after it, through the worker: one read, nothing written, nothing reported applied.
    sandboxes.clearCalls('googleCalendar');
    const older = calendarRequest(calendarId, [upsert(taskIds.a, id, 3, '2026-03-10', 'Old title')]);
    expect(await consume('googleCalendar', older)).toEqual({ failed: false });
    expect(await calendarRun(older.runId)).toMatchObject({ applied: [], outcome: { status: 'ok', error: null } });
    expect(calendarCalls()).toEqual(['GET 200']);
    expect(shown()).toEqual([{ status: 'confirmed', summary: 'Renamed', date: '2026-04-02', version: '5' }]);

    // An older delete (the task lost its due date at version 4, and got one again at 5): the event is kept.
    sandboxes.clearCalls('googleCalendar');
    expect(await applyCalendarChanges(calendarRequest(calendarId, [remove(taskIds.a, id, 4)]), { trace })).toMatchObject({ applied: [], skipped: 1, outcome: { status: 'ok', error: null } });
    expect(calendarCalls()).toEqual(['GET 200']);
    expect(shown()).toEqual([{ status: 'confirmed', summary: 'Renamed', date: '2026-04-02', version: '5' }]);

    // A newer delete (version 6) deletes it, and a late copy of the version-5 upsert does not bring it back...
    expect((await applyCalendarChanges(calendarRequest(calendarId, [remove(taskIds.a, id, 6)]), { trace })).applied).toEqual([{ taskId: taskIds.a, eventId: id, version: null }]);
    expect(await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, id, 5, '2026-04-02', 'Renamed')]), { trace })).toMatchObject({ applied: [], skipped: 1 });
    expect(shown()).toEqual([{ status: 'cancelled', summary: 'Renamed', date: '2026-04-02', version: '5' }]);
    // ... a newer one does (a due date again, version 7); the task gone deletes it whatever it shows, without reading it.
    expect((await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, id, 7, '2026-05-01', 'Back')]), { trace })).applied).toEqual([{ taskId: taskIds.a, eventId: id, version: 7 }]);
    expect(shown()).toEqual([{ status: 'confirmed', summary: 'Back', date: '2026-05-01', version: '7' }]);
    sandboxes.clearCalls('googleCalendar');
    expect((await applyCalendarChanges(calendarRequest(calendarId, [remove(taskIds.a, id)]), { trace })).applied).toEqual([{ taskId: taskIds.a, eventId: id, version: null }]);
    expect(calendarCalls()).toEqual(['DELETE 204']);
    expect(shown()).toEqual([expect.objectContaining({ status: 'cancelled' })]);
  });

  it('two runs of one link at once: in whatever order their calls land, every event ends showing the newer version', async () => {
    const calendarId = newCalendar();
    const ids = ['concurrent01', 'concurrent02', 'concurrent03', 'concurrent04'];
    const tasks = ids.map(() => randomUUID());
    // Half the events exist already (version 1), half are new.
    await applyCalendarChanges(calendarRequest(calendarId, ids.slice(0, 2).map((id, i) => upsert(tasks[i]!, id, 1))), { trace });
    const [older, newer] = await Promise.all([
      applyCalendarChanges(calendarRequest(calendarId, ids.map((id, i) => upsert(tasks[i]!, id, 3, '2026-03-10', 'Old title'))), { trace }),
      applyCalendarChanges(calendarRequest(calendarId, ids.map((id, i) => upsert(tasks[i]!, id, 5, '2026-04-02', 'New title'))), { trace }),
    ]);
    expect(newer).toMatchObject({ skipped: 0, outcome: { status: 'ok', error: null } });
    expect(newer.applied.map((change) => change.version)).toEqual([5, 5, 5, 5]);
    expect(older.outcome).toMatchObject({ status: 'ok', error: null });
    expect(older.applied.length + older.skipped).toBe(4);
    expect(sandboxes.googleCalendar.events(calendarId).map((event) => [event.id, event.summary, event.extendedProperties.private.taskflowVersion])).toEqual(
      ids.map((id) => [id, 'New title', '5']),
    );
  });

  it('tries a write whose answer was lost again with the etag it read: 412, so it reads the event again and writes it', async () => {
    const calendarId = newCalendar();
    await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, 'lostupdate001', 1)]), { trace });
    sandboxes.clearCalls('googleCalendar');
    sandboxes.setFault('googleCalendar', { mode: 'lost', methods: ['PUT'] });
    const { applied, outcome } = await applyCalendarChanges(calendarRequest(calendarId, [upsert(taskIds.a, 'lostupdate001', 2, '2026-03-12', 'Renamed')]), {
      trace,
      log: onRetry(() => sandboxes.setFault('googleCalendar', { mode: 'ok' })),
    });
    expect(outcome).toMatchObject({ status: 'ok', error: null });
    expect(applied).toEqual([{ taskId: taskIds.a, eventId: 'lostupdate001', version: 2 }]);
    expect(calendarCalls()).toEqual(['GET 200', 'PUT null', 'PUT 412', 'GET 200', 'PUT 200']);
    expect(sandboxes.googleCalendar.events(calendarId)).toEqual([
      expect.objectContaining({ summary: 'Renamed', start: { date: '2026-03-12' }, extendedProperties: { private: { taskflowTaskId: taskIds.a, taskflowVersion: '2' } } }),
    ]);
  });

  it('takes Google\'s 429 for its rate limit: one call, RetryLater as asked (else 60 s), and not a failure for the shared breaker', async () => {
    const calendarId = newCalendar();
    sandboxes.setFault('googleCalendar', { mode: 'rate-limit', retryAfterSeconds: 30 });
    const request = calendarRequest(calendarId, [upsert(taskIds.a, 'ratelimited01', 1)]);
    await expect(applyCalendarChanges(request, { trace })).rejects.toMatchObject({ name: 'RetryLater', retryAfterMs: 30_000 });
    // usageLimits without a Retry-After.
    sandboxes.setFault('googleCalendar', { mode: 'error', status: 429 });
    await expect(applyCalendarChanges(request, { trace })).rejects.toMatchObject({ name: 'RetryLater', retryAfterMs: 60_000 });
    expect(calendarCalls()).toEqual(['GET 429', 'GET 429']);
    expect(await statusOf('googleCalendar')).toMatchObject({ state: 'closed', lastFailureAt: null });
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
