import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueUrlVariable } from '../../functions/shared/resource-variables';
import type { AppDeclaration, FunctionDeclaration } from '../../lib/declaration';
import { sqsClient, startSqs, type LocalSqs } from '../../lib/local/sqs';

// The local SQS itself: queues as declared, messages moved to the DLQ after maxReceiveCount by local-aws-sqs,
// redrive back, and the fault switches. No consumer runs here: the test receives as a consumer would.

const consumer: FunctionDeclaration = { entry: 'test/support/fake-consumer.ts', description: 'unused', needs: [] };
const app = {
  name: 'LocalSqsTest',
  queues: {
    work: { description: 'work', events: ['thing.done', 'thing.undone'], consumer, batchSize: 10, maxReceiveCount: 2, maxConcurrency: 5 },
    other: { description: 'other', events: ['thing.done'], consumer: { ...consumer, timeoutSeconds: 7 }, batchSize: 5, maxReceiveCount: 4, maxConcurrency: 5 },
  },
} satisfies Pick<AppDeclaration, 'name' | 'queues'>;

let sqs: LocalSqs;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startSqs(app, { visibilityTimeoutSeconds: 1 });
  client = sqsClient(sqs.environment);
});

afterAll(async () => {
  client?.destroy();
  await sqs?.stop();
});

const receive = async (queueUrl: string, max = 10) =>
  (
    await client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: max, WaitTimeSeconds: 0, AttributeNames: ['All'], MessageAttributeNames: ['All'] }),
    )
  ).Messages ?? [];

const attributes = async (queueUrl: string) => (await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes!;

const count = async (queueUrl: string) => {
  const a = await attributes(queueUrl);
  return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible);
};

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('local SQS', () => {
  it('creates each declared queue and DLQ as the stack does, and gives the handlers their environment', async () => {
    expect(sqs.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sqs.queueUrl('work')).toBe(`${sqs.endpoint}/000000000000/LocalSqsTest-work`);
    expect(sqs.queueUrl('work', true)).toBe(`${sqs.endpoint}/000000000000/LocalSqsTest-work-dlq`);
    expect(() => sqs.queueUrl('nope')).toThrow(/nope/);
    expect(sqs.environment).toMatchObject({
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_REGION: expect.any(String),
      AWS_ACCESS_KEY_ID: expect.any(String),
      AWS_SECRET_ACCESS_KEY: expect.any(String),
      [queueUrlVariable('work')]: sqs.queueUrl('work'),
      [queueUrlVariable('other')]: sqs.queueUrl('other'),
    });
    expect(JSON.parse(sqs.environment.OUTBOX_ROUTES!)).toEqual({ 'thing.done': ['work', 'other'], 'thing.undone': ['work'] });

    const work = await attributes(sqs.queueUrl('work'));
    const region = sqs.environment.AWS_REGION;
    expect(work.VisibilityTimeout).toBe('1');
    expect(JSON.parse(work.RedrivePolicy!)).toEqual({ maxReceiveCount: 2, deadLetterTargetArn: `arn:aws:sqs:${region}:000000000000:LocalSqsTest-work-dlq` });
    const dlq = await attributes(sqs.queueUrl('work', true));
    expect(JSON.parse(dlq.RedriveAllowPolicy!)).toEqual({ redrivePermission: 'byQueue', sourceQueueArns: [work.QueueArn] });
    expect(JSON.parse((await attributes(sqs.queueUrl('other'))).RedrivePolicy!).maxReceiveCount).toBe(4);
  });

  it('keeps the declared visibility timeout (six times the consumer timeout) unless a test overrides it', async () => {
    const declared = await startSqs(app);
    try {
      const declaredClient = sqsClient(declared.environment);
      const other = await declaredClient.send(new GetQueueAttributesCommand({ QueueUrl: declared.queueUrl('other'), AttributeNames: ['VisibilityTimeout'] }));
      const work = await declaredClient.send(new GetQueueAttributesCommand({ QueueUrl: declared.queueUrl('work'), AttributeNames: ['VisibilityTimeout'] }));
      declaredClient.destroy();
      expect(other.Attributes!.VisibilityTimeout).toBe('42');
      expect(work.Attributes!.VisibilityTimeout).toBe('60');
    } finally {
      await declared.stop();
    }
  });

  it('moves a message received maxReceiveCount times and never deleted to the DLQ, from where it can be redriven', async () => {
    const queueUrl = sqs.queueUrl('work');
    const { MessageId } = await client.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison', MessageAttributes: { kind: { DataType: 'String', StringValue: 'test' } } }),
    );
    const receiveCounts: string[] = [];
    for (let i = 0; i < 2; i++) {
      // Each receive waits out the 1 s visibility timeout of the previous one.
      const [message] = await eventually(() => receive(queueUrl), (messages) => messages.length > 0);
      expect(message!.MessageId).toBe(MessageId);
      receiveCounts.push(message!.Attributes!.ApproximateReceiveCount!);
    }
    expect(receiveCounts).toEqual(['1', '2']);

    const [dead] = await eventually(() => receive(sqs.queueUrl('work', true)), (messages) => messages.length > 0);
    expect(dead).toMatchObject({ MessageId, Body: 'poison', MessageAttributes: { kind: { DataType: 'String', StringValue: 'test' } } });
    expect(await receive(queueUrl)).toEqual([]);

    // Redrive (what the DLQ runbook does): back to the source queue, receivable again.
    await eventually(() => count(sqs.queueUrl('work', true)), (n) => n === 1); // visible again after its 1 s
    await eventually(() => attributes(sqs.queueUrl('work', true)), (a) => a.ApproximateNumberOfMessages === '1');
    const dlqArn = (await attributes(sqs.queueUrl('work', true))).QueueArn!;
    await client.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    const [redriven] = await eventually(() => receive(queueUrl), (messages) => messages.length > 0);
    expect(redriven!.Body).toBe('poison');
  });

  describe('fault switches', () => {
    it('failSends: SendMessage and SendMessageBatch answer 500 InternalError and enqueue nothing', async () => {
      const queueUrl = sqs.queueUrl('other');
      const before = await count(queueUrl);
      sqs.faults.failSends = true;
      try {
        const single = await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'lost' })).catch((e: unknown) => e);
        expect(single).toMatchObject({ name: 'InternalError', $metadata: { httpStatusCode: 500 } });
        const batch = await client
          .send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: '1', MessageBody: 'lost' }] }))
          .catch((e: unknown) => e);
        expect(batch).toMatchObject({ name: 'InternalError', $metadata: { httpStatusCode: 500 } });

        // The raw JSON-protocol answer (what a hand-rolled client like functions/shared/aws-json reads).
        const raw = await fetch(sqs.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage' },
          body: JSON.stringify({ QueueUrl: queueUrl, MessageBody: 'lost' }),
        });
        expect(raw.status).toBe(500);
        expect(raw.headers.get('x-amzn-query-error')).toBe('InternalError;Receiver');
        expect(await raw.json()).toEqual({ __type: 'InternalError', message: expect.any(String) });

        // The query protocol gets its XML error.
        const query = await fetch(sqs.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ Action: 'SendMessage', QueueUrl: queueUrl, MessageBody: 'lost' }),
        });
        expect(query.status).toBe(500);
        expect(await query.text()).toContain('<Code>InternalError</Code>');

        // Everything else still works.
        await expect(receive(queueUrl)).resolves.toEqual([]);
      } finally {
        sqs.faults.failSends = false;
      }
      expect(await count(queueUrl)).toBe(before);
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'after' }));
      const [after] = await receive(queueUrl);
      expect(after!.Body).toBe('after');
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: after!.ReceiptHandle! }));
    });

    it('duplicateSends: every send is applied twice, each copy a message of its own', async () => {
      const queueUrl = sqs.queueUrl('other');
      sqs.faults.duplicateSends = true;
      try {
        const sent = await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'once', MessageAttributes: { id: { DataType: 'String', StringValue: 'e1' } } }));
        const batch = await client.send(
          new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [{ Id: 'a', MessageBody: 'batched-a' }, { Id: 'b', MessageBody: 'batched-b' }] }),
        );
        expect(sent.MessageId).toBeDefined();
        expect(batch.Successful).toHaveLength(2);
      } finally {
        sqs.faults.duplicateSends = false;
      }
      const received = await receive(queueUrl, 10);
      expect(received.map((m) => m.Body).sort()).toEqual(['batched-a', 'batched-a', 'batched-b', 'batched-b', 'once', 'once']);
      expect(new Set(received.map((m) => m.MessageId)).size).toBe(6);
      expect(received.filter((m) => m.Body === 'once').map((m) => m.MessageAttributes?.id?.StringValue)).toEqual(['e1', 'e1']);

      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'single again' }));
      await new Promise((r) => setTimeout(r, 1_100)); // the six above become visible again too
      const again = await receive(queueUrl, 10);
      expect(again.filter((m) => m.Body === 'single again')).toHaveLength(1);
    });
  });
});
