import { createHash } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AppDeclaration, FunctionDeclaration } from '../../lib/declaration';
import { startEventSources, type EventSourceMappings } from '../../lib/local/event-sources';
import { sqsClient, startSqs, type LocalSqs } from '../../lib/local/sqs';
import { invocations } from '../support/fake-consumer';

// Lambda's SQS event-source mapping, locally: the event it builds, batches, partial batch responses, errors,
// timeouts, redelivery after the visibility timeout, the DLQ after maxReceiveCount, and a clean stop.
// The consumer is a test double (test/support/fake-consumer.ts) that answers according to the message bodies.

const consumer: FunctionDeclaration = { entry: 'test/support/fake-consumer.ts', description: 'fake consumer', timeoutSeconds: 2, needs: [] };
const app = {
  name: 'EsmTest',
  queues: {
    jobs: { description: 'jobs', consumer, batchSize: 10, maxReceiveCount: 2, maxConcurrency: 5 },
    small: { description: 'small batches', consumer, batchSize: 2, maxReceiveCount: 3, maxConcurrency: 5 },
    paced: { description: 'one message at a time, two at once', consumer, batchSize: 1, maxReceiveCount: 3, maxConcurrency: 2 },
  },
} satisfies Pick<AppDeclaration, 'name' | 'queues'>;

let sqs: LocalSqs;
let client: SQSClient;
let mappings: EventSourceMappings | undefined;
const logged: string[] = [];

beforeAll(async () => {
  sqs = await startSqs(app, { visibilityTimeoutSeconds: 1 });
  client = sqsClient(sqs.environment);
});

afterAll(async () => {
  await mappings?.stop();
  client?.destroy();
  await sqs?.stop();
});

beforeEach(() => {
  invocations().length = 0;
  logged.length = 0;
});

afterEach(async () => {
  await mappings?.stop();
  mappings = undefined;
});

const start = (options: { concurrency?: number } = {}) =>
  (mappings = startEventSources({ app, sqs, idlePollMs: 20, log: (line) => logged.push(line), ...options }));

async function sendAll(queue: keyof typeof app.queues, bodies: string[]): Promise<string[]> {
  const sent = await client.send(
    new SendMessageBatchCommand({ QueueUrl: sqs.queueUrl(queue), Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })) }),
  );
  return bodies.map((_, i) => sent.Successful!.find((entry) => entry.Id === String(i))!.MessageId!);
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const depth = async (queueUrl: string) => {
  const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }));
  return { visible: Number(Attributes!.ApproximateNumberOfMessages), inFlight: Number(Attributes!.ApproximateNumberOfMessagesNotVisible) };
};
const empty = async (queueUrl: string) => {
  const { visible, inFlight } = await depth(queueUrl);
  return visible === 0 && inFlight === 0;
};
const bodiesSeen = () => invocations().flatMap((invocation) => invocation.event.Records.map((record) => record.body));
/** The most invocations that were running at the same moment. */
const peakConcurrency = () => {
  const all = invocations();
  return Math.max(0, ...all.map((a) => all.filter((b) => b.started <= a.started && a.started < (b.ended ?? Infinity)).length));
};

describe('SQS event-source mappings', () => {
  it('invokes the consumer with the SQSEvent Lambda builds, then deletes the batch', async () => {
    const sent = await client.send(
      new SendMessageCommand({
        QueueUrl: sqs.queueUrl('jobs'),
        MessageBody: '{"hello":"world"}',
        MessageAttributes: {
          requestId: { DataType: 'String', StringValue: 'req-1' },
          attempt: { DataType: 'Number', StringValue: '1' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from('bytes') },
        },
      }),
    );
    start();
    await until(() => invocations().length === 1);
    const [invocation] = invocations();
    const region = sqs.environment.AWS_REGION;
    expect(invocation!.functionName).toBe('JobsConsumer');
    expect(invocation!.remainingMs).toBeGreaterThan(1_500);
    expect(invocation!.remainingMs).toBeLessThanOrEqual(2_000);
    expect(invocation!.event).toEqual({
      Records: [
        {
          messageId: sent.MessageId,
          receiptHandle: expect.any(String),
          body: '{"hello":"world"}',
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: expect.stringMatching(/^\d{13}$/),
            SenderId: expect.any(String),
            ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
          },
          messageAttributes: {
            requestId: { stringValue: 'req-1', stringListValues: [], binaryListValues: [], dataType: 'String' },
            attempt: { stringValue: '1', stringListValues: [], binaryListValues: [], dataType: 'Number' },
            blob: { binaryValue: Buffer.from('bytes').toString('base64'), stringListValues: [], binaryListValues: [], dataType: 'Binary' },
          },
          md5OfBody: createHash('md5').update('{"hello":"world"}').digest('hex'),
          md5OfMessageAttributes: sent.MD5OfMessageAttributes,
          eventSource: 'aws:sqs',
          eventSourceARN: `arn:aws:sqs:${region}:000000000000:EsmTest-jobs`,
          awsRegion: region,
        },
      ],
    });
    await until(() => empty(sqs.queueUrl('jobs')));
    await new Promise((r) => setTimeout(r, 1_200)); // past the visibility timeout: nothing comes back
    expect(invocations()).toHaveLength(1);
  });

  it('keeps only the partial batch response\'s failures, which come back after the visibility timeout and then go to the DLQ', async () => {
    const [ok1, failing, ok2] = await sendAll('jobs', ['ok-1', 'fail-1', 'ok-2']);
    start();
    await until(() => invocations().length >= 1);
    expect(invocations()[0]!.event.Records.map((r) => r.messageId)).toEqual([ok1, failing, ok2]);

    // Redelivered alone, receive count 2 (= maxReceiveCount), fails again, then dead-lettered.
    await until(() => invocations().length >= 2);
    const second = invocations()[1]!.event.Records;
    expect(second.map((r) => [r.messageId, r.attributes.ApproximateReceiveCount])).toEqual([[failing, '2']]);
    expect(invocations()[1]!.ended! - invocations()[0]!.ended!).toBeGreaterThanOrEqual(900);

    const dlq = sqs.queueUrl('jobs', true);
    await until(async () => (await depth(dlq)).visible === 1);
    expect(await empty(sqs.queueUrl('jobs'))).toBe(true);
    const dead = await client.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10 }));
    expect(dead.Messages!.map((m) => [m.MessageId, m.Body])).toEqual([[failing, 'fail-1']]);
    await client.send(new DeleteMessageCommand({ QueueUrl: dlq, ReceiptHandle: dead.Messages![0]!.ReceiptHandle! }));
    expect(invocations()).toHaveLength(2);
  });

  it('deletes nothing when the consumer throws: the whole batch is redelivered', async () => {
    await sendAll('jobs', ['ok-a', 'throw', 'ok-b']);
    start();
    await until(() => invocations().length >= 2);
    const [first, second] = invocations();
    expect(second!.event.Records.map((r) => r.body).sort()).toEqual(first!.event.Records.map((r) => r.body).sort());
    expect(second!.event.Records.every((r) => r.attributes.ApproximateReceiveCount === '2')).toBe(true);
    await until(async () => (await depth(sqs.queueUrl('jobs', true))).visible === 3);
    expect(logged.some((line) => line.includes('the consumer failed'))).toBe(true);
    await drainDlq('jobs');
  });

  it('treats a batchItemFailures entry naming no message of the batch as a failed batch', async () => {
    await sendAll('jobs', ['ok-x', 'bad-id']);
    start();
    await until(() => invocations().length >= 2);
    expect(invocations()[1]!.event.Records.map((r) => r.body).sort()).toEqual(['bad-id', 'ok-x']);
    await until(async () => (await depth(sqs.queueUrl('jobs', true))).visible === 2);
    await drainDlq('jobs');
  });

  it('fails a batch whose consumer outlives its timeout, as Lambda does (nothing deleted)', async () => {
    await sendAll('jobs', ['slow:2600']);
    start();
    await until(() => logged.some((line) => line.includes('Task timed out after 2.00 seconds')), 5_000);
    await until(() => invocations().length >= 2, 5_000);
    expect(invocations()[1]!.event.Records[0]!.attributes.ApproximateReceiveCount).toBe('2');
    await mappings!.stop();
    mappings = undefined;
    await until(async () => (await depth(sqs.queueUrl('jobs', true))).visible === 1);
    await drainDlq('jobs');
  });

  it('receives at most batchSize messages per invocation, with a few batches in flight at once', async () => {
    await sendAll('small', ['slow:300 a', 'slow:300 b', 'slow:300 c', 'slow:300 d', 'slow:300 e', 'slow:300 f']);
    start();
    await until(() => bodiesSeen().length === 6);
    expect(invocations().every((invocation) => invocation.event.Records.length <= 2)).toBe(true);
    await until(() => invocations().every((i) => i.ended !== undefined));
    // Concurrent: some batch started before another one had ended.
    const all = invocations();
    expect(all.some((a) => all.some((b) => a !== b && a.started < b.ended! && b.started < a.ended!))).toBe(true);
    await until(() => empty(sqs.queueUrl('small')));
  });

  it('runs at most the queue\'s declared maxConcurrency batches at once, as Lambda\'s maximum concurrency does', async () => {
    await sendAll('paced', ['slow:400 a', 'slow:400 b', 'slow:400 c', 'slow:400 d', 'slow:400 e', 'slow:400 f']);
    start();
    await until(() => bodiesSeen().length === 6 && invocations().every((i) => i.ended !== undefined));
    expect(invocations().every((invocation) => invocation.functionName === 'PacedConsumer')).toBe(true);
    expect(peakConcurrency()).toBe(app.queues.paced.maxConcurrency);
    await until(() => empty(sqs.queueUrl('paced')));
  });

  it('lets an explicit concurrency option override the declared maxConcurrency', async () => {
    await sendAll('paced', ['slow:300 a', 'slow:300 b', 'slow:300 c', 'slow:300 d']);
    start({ concurrency: 1 });
    await until(() => bodiesSeen().length === 4 && invocations().every((i) => i.ended !== undefined));
    expect(peakConcurrency()).toBe(1);
    await until(() => empty(sqs.queueUrl('paced')));
  });

  it('stop() stops polling and waits for the batch in flight, which is then deleted', async () => {
    await sendAll('jobs', ['slow:500']);
    start();
    await until(() => invocations().length === 1);
    const stopping = Date.now();
    await mappings!.stop();
    mappings = undefined;
    expect(invocations()[0]!.ended).toBeDefined();
    expect(invocations()[0]!.ended!).toBeGreaterThanOrEqual(stopping);
    expect(await empty(sqs.queueUrl('jobs'))).toBe(true);

    // No poller is left: a message sent now stays on the queue.
    await client.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl('jobs'), MessageBody: 'after stop' }));
    await new Promise((r) => setTimeout(r, 300));
    expect(invocations()).toHaveLength(1);
    expect((await depth(sqs.queueUrl('jobs'))).visible).toBe(1);
    const { Messages } = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('jobs') }));
    await client.send(new DeleteMessageCommand({ QueueUrl: sqs.queueUrl('jobs'), ReceiptHandle: Messages![0]!.ReceiptHandle! }));
  });
});

/** Empties a DLQ the test filled (PurgeQueue would refuse a second purge within 60 s). */
async function drainDlq(queue: keyof typeof app.queues): Promise<void> {
  const queueUrl = sqs.queueUrl(queue, true);
  for (;;) {
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    if (Messages.length === 0) return;
    await client.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
}
