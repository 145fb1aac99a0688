import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Logger } from '@aws-lambda-powertools/logger';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { BreakerOpen, readStatuses } from '../../functions/integrations/breaker';
import { call, callIntegration, IntegrationUnavailable, RetryLater, retryAfterMs, TransportError, type IntegrationCall } from '../../functions/integrations/http';
import { INTEGRATION_NAMES } from '../../functions/integrations/services';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { taskflow } from '../../lib/app';
import { queueName } from '../../lib/declaration';
import { sqsRecord } from '../../lib/local/event-sources';
import { loadHandler } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { SANDBOX_CREDENTIALS, startSandboxes, type Sandboxes } from '../../lib/local/sandboxes';
import { LOCAL_ACCOUNT_ID, sqsClient, startSqs, type LocalSqs } from '../../lib/local/sqs';
import { ownIntegrationsTable } from '../support/integrations-table';

// Review C4: the one HTTP layer for the integrations (timeouts, retries with backoff and Retry-After, the
// circuit breaker), against the Slack and SendGrid sandboxes.
let sandboxes: Sandboxes;
let sqs: LocalSqs;

const trace = { requestId: 'req-c4', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

/** users.lookupByEmail, as the Slack worker calls it. */
function lookup(options: Partial<IntegrationCall> = {}) {
  return callIntegration('slack', '/users.lookupByEmail', {
    method: 'POST',
    headers: { Authorization: `Bearer ${SANDBOX_CREDENTIALS.SLACK_BOT_TOKEN}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email: 'ann@example.com' }).toString(),
    trace,
    ...options,
  });
}

/** A logger that does `onRetry` when the layer says it tries again (to end a fault after the first try). */
const onRetry = (then: () => void) => ({ info: then }) as unknown as Logger;

const statuses = () => sandboxes.calls('slack').map((call) => call.status);
const slackStatus = async () => (await readStatuses()).find((status) => status.integration === 'slack')!;

beforeAll(async () => {
  sandboxes = await startSandboxes();
  // Queues of this file's own, whose messages come back after 1 s unless a consumer hides them longer.
  sqs = await startSqs(taskflow, { visibilityTimeoutSeconds: 1 });
  await ownIntegrationsTable();
  Object.assign(process.env, sandboxes.environment, sqs.environment);
});

afterAll(async () => {
  await sandboxes.stop();
  await sqs.stop();
});

beforeEach(async () => {
  sandboxes.setFault('slack', { mode: 'ok' });
  sandboxes.setFault('sendgrid', { mode: 'ok' });
  sandboxes.clearCalls();
  for (const name of INTEGRATION_NAMES) await dynamoDb()('DeleteItem', { TableName: process.env.INTEGRATIONS_TABLE_NAME, Key: { id: { S: name } } });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('calls to the integrations', () => {
  it('retries a 503 and answers the next try\'s answer, with the correlation headers on every try', async () => {
    sandboxes.setFault('slack', { mode: 'error', status: 503 });
    const answer = await lookup({ log: onRetry(() => sandboxes.setFault('slack', { mode: 'ok' })) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ ok: true, user: { profile: { email: 'ann@example.com' } } });
    expect(statuses()).toEqual([503, 200]);
    for (const call of sandboxes.calls('slack')) expect(call.headers).toMatchObject({ 'x-request-id': 'req-c4', traceparent: trace.traceparent });
    expect(await slackStatus()).toMatchObject({ state: 'closed', lastFailureReason: 'HTTP 503', lastSuccessAt: expect.any(String) });
  });

  it('waits as long as a 429\'s Retry-After asks before trying again', async () => {
    sandboxes.setFault('slack', { mode: 'rate-limit', retryAfterSeconds: 1 });
    const answer = await lookup({ log: onRetry(() => sandboxes.setFault('slack', { mode: 'ok' })) });
    expect(answer.status).toBe(200);
    const [limited, served] = sandboxes.calls('slack');
    expect([limited!.status, served!.status]).toEqual([429, 200]);
    expect(Date.parse(served!.at) - Date.parse(limited!.at)).toBeGreaterThanOrEqual(1_000);
  });

  it('throws RetryLater at once when the Retry-After asked does not fit in the budget', async () => {
    sandboxes.setFault('slack', { mode: 'rate-limit', retryAfterSeconds: 120 });
    const started = Date.now();
    const error = await lookup({ budgetMs: 5_000 }).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(RetryLater);
    expect((error as RetryLater).retryAfterMs).toBe(120_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(statuses()).toEqual([429]);
  });

  it('reads Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7_000);
    expect(retryAfterMs('Sun, 01 Mar 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Sun, 01 Mar 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  it('takes an answer slower than the read timeout for a failure of the service', async () => {
    sandboxes.setFault('slack', { mode: 'slow', latencyMs: 2_000 });
    const started = Date.now();
    const error = await lookup({ timeouts: { connectMs: 500, readMs: 200 }, budgetMs: 600 }).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(RetryLater); // no time for a second try
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await slackStatus()).toMatchObject({ state: 'closed', lastFailureReason: expect.stringContaining('no answer within 200 ms') });
  });

  it('ends a try whose answer trickles in (never silent for a read timeout) at the try\'s time, not the Lambda\'s', async () => {
    // A byte every 100 ms for 10 s: the socket is never silent for 300 ms, so only the overall limit ends it.
    const trickle = createServer((_, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      let sent = 0;
      const timer = setInterval(() => (++sent >= 100 ? (clearInterval(timer), res.end()) : res.write('.')), 100);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((done) => trickle.listen(0, '127.0.0.1', done));
    try {
      const { port } = trickle.address() as { port: number };
      const started = Date.now();
      const error = await call(`http://127.0.0.1:${port}/slow`, { method: 'GET', headers: {}, trace, timeouts: { connectMs: 500, readMs: 300, totalMs: 1_000 } }).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(TransportError);
      expect((error as Error).message).toContain('no complete answer within 1000 ms');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      trickle.closeAllConnections();
      await new Promise((done) => trickle.close(done));
    }
  });

  it('gives up with IntegrationUnavailable after four tries', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // no backoff (the sandbox still fails every call)
    sandboxes.setFault('slack', { mode: 'down' });
    await expect(lookup()).rejects.toBeInstanceOf(IntegrationUnavailable);
    expect(sandboxes.calls('slack')).toHaveLength(4);
  });

  it('does not retry a 4xx other than 429, nor count it against the service', async () => {
    for (let i = 0; i < 12; i += 1) {
      const answer = await callIntegration('sendgrid', '/v3/mail/send', { method: 'POST', headers: { Authorization: 'Bearer SG.revoked' }, body: '{}', trace });
      expect(answer.status).toBe(401);
    }
    expect(sandboxes.calls('sendgrid')).toHaveLength(12);
    expect((await readStatuses()).find((status) => status.integration === 'sendgrid')).toMatchObject({ state: 'closed', lastFailureAt: null });
  });

  it('opens the breaker after ten failed calls, and then refuses calls without making them', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // no backoff (the sandbox still fails every call)
    sandboxes.setFault('slack', { mode: 'error', status: 503 });
    await expect(lookup()).rejects.toBeInstanceOf(IntegrationUnavailable); // 4 calls
    await expect(lookup()).rejects.toBeInstanceOf(IntegrationUnavailable); // 8
    const refused = await lookup().catch((failure: unknown) => failure); // 9, 10: open
    expect(refused).toBeInstanceOf(BreakerOpen);
    expect(statuses()).toEqual(Array(10).fill(503));
    expect(await slackStatus()).toMatchObject({ state: 'open', openedAt: expect.any(String) });

    sandboxes.setFault('slack', { mode: 'ok' });
    const error = await lookup().catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(BreakerOpen);
    expect((error as BreakerOpen).retryAfterMs).toBeGreaterThan(25_000);
    expect(sandboxes.calls('slack')).toHaveLength(10);
  });

  it('hides a Slack message the open breaker refused until the breaker turns half-open, and reports it failed', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    sandboxes.setFault('slack', { mode: 'down' });
    for (let i = 0; i < 3; i += 1) await lookup().catch(() => undefined); // 10 calls without an answer: open
    expect((await slackStatus()).state).toBe('open');
    vi.restoreAllMocks();

    const client = sqsClient(sqs.environment);
    const queueUrl = sqs.queueUrl('slack');
    const body = { notificationId: randomUUID(), organizationId: 'org_c4', eventId: randomUUID(), kind: 'assigned', text: 'Hello', email: 'bob@example.com' };
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] }));
    expect(Messages).toHaveLength(1);
    const arn = `arn:aws:sqs:${process.env.AWS_REGION}:${LOCAL_ACCOUNT_ID}:${queueName(taskflow.name, 'slack')}`;
    const event: SQSEvent = { Records: Messages.map((message) => sqsRecord(message, arn, process.env.AWS_REGION!)) };
    const consumer = await loadHandler<(event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>>(taskflow.queues.slack.consumer.entry);
    const response = await consumer(event, lambdaContext('slack', 40_000));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: Messages[0]!.MessageId }]);
    expect(sandboxes.calls('slack')).toHaveLength(10); // not one more

    // Past the queue's 1 s, it is still hidden (for the ~30 s until half-open).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const again = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    expect(again.Messages ?? []).toHaveLength(0);
    const { Attributes = {} } = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessagesNotVisible'] }));
    expect(Attributes.ApproximateNumberOfMessagesNotVisible).toBe('1');
    client.destroy();
  });
});
