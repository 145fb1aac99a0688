import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttribute, SQSRecord } from 'aws-lambda';
import { DEFAULT_TIMEOUT_SECONDS, queueName, type AppDeclaration, type FunctionDeclaration, type QueueDeclaration } from '../declaration';
import { loadHandler } from './invoke';
import { Invocations, pascal, pause, type AsyncHandler } from './lambda';
import { LOCAL_ACCOUNT_ID, sqsClient, type LocalSqs } from './sqs';

export type SqsConsumer = AsyncHandler<SQSEvent, SQSBatchResponse | void | undefined | null>;

export interface EventSourceOptions {
  app: Pick<AppDeclaration, 'name' | 'queues'>;
  sqs: Pick<LocalSqs, 'environment' | 'queueUrl'>;
  /**
   * Batches in flight per queue at most, for every queue; by default each queue's declared `maxConcurrency`,
   * as Lambda's event source mapping caps its invocations.
   */
  concurrency?: number;
  /** Pause after a receive that found nothing. */
  idlePollMs?: number;
  /**
   * The handler to invoke for a declared function (the local runtime's: run in the function's own environment);
   * by default its module's `handler`, in this process's environment.
   */
  handlerFor?<H extends AsyncHandler<never, unknown>>(functionName: string, declaration: FunctionDeclaration): H;

  log?: (line: string) => void;
}

export interface EventSourceMappings {
  /** Stops polling and waits for the batches being handled (their handlers see no time left). */
  stop(): Promise<void>;
}

const MAX_CONCURRENCY = 20;

/**
 * Lambda's SQS event-source mappings for every declared queue, as Lambda's pollers run them: receive up to 10
 * messages (all system and message attributes), invoke the consumer on each `batchSize` of them with the SQSEvent Lambda builds,
 * then delete what succeeded: all of the batch, or all but the `batchItemFailures` of a partial batch response;
 * nothing when the handler throws or times out. At most the queue's `maxConcurrency` batches are in flight at once.
 * What is not deleted reappears after the visibility timeout, and after `maxReceiveCount` receives SQS
 * (local-aws-sqs, by the queue's RedrivePolicy) moves it to the DLQ.
 */
export function startEventSources(options: EventSourceOptions): EventSourceMappings {
  const idlePollMs = options.idlePollMs ?? 100;
  const log = options.log ?? (() => undefined);
  const client = sqsClient(options.sqs.environment);
  const region = options.sqs.environment.AWS_REGION!;
  const invocations = new Invocations();
  const loops = Object.entries(options.app.queues).map(([name, queue]) => poll(name, queue));

  async function poll(name: string, queue: QueueDeclaration): Promise<void> {
    const queueUrl = options.sqs.queueUrl(name);
    const arn = `arn:aws:sqs:${region}:${LOCAL_ACCOUNT_ID}:${queueName(options.app.name, name)}`;
    const functionName = `${pascal(name)}Consumer`;
    const timeoutMs = (queue.consumer.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    const concurrency = Math.min(MAX_CONCURRENCY, Math.max(1, options.concurrency ?? queue.maxConcurrency));
    const inFlight = new Set<Promise<void>>();
    let failing = false;

    while (!invocations.stopped) {
      if (inFlight.size >= concurrency) {
        await Promise.race(inFlight);
        continue;
      }
      let messages: Message[];
      try {
        const received = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            // As Lambda's pollers: up to 10 messages a receive, handed out in batches of `batchSize`, so that a
            // queue of one-message batches (feedFanout's shards) starts them side by side, not one receive each.
            MaxNumberOfMessages: Math.min(10, Math.max(queue.batchSize, (concurrency - inFlight.size) * queue.batchSize)),
            // Short polls: local-aws-sqs holds a long poll for its whole wait unless a full batch arrives
            // (SQS answers as soon as there is one message), which would only add latency here.
            WaitTimeSeconds: 0,
            // local-aws-sqs reads the older name; SQS accepts both.
            AttributeNames: ['All'],
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        messages = received.Messages ?? [];
        failing = false;
      } catch (error) {
        if (invocations.stopped) break;
        if (!failing) log(`${functionName}: receiving from ${queueName(options.app.name, name)} failed: ${(error as Error).message}`);
        failing = true;
        await pause(1000, invocations.signal);
        continue;
      }
      if (messages.length === 0) {
        await pause(idlePollMs, invocations.signal);
        continue;
      }
      // A batch already received is handled even while stopping, so it does not sit out a visibility timeout.
      for (let i = 0; i < messages.length; i += queue.batchSize) {
        const batch = handle(messages.slice(i, i + queue.batchSize)).finally(() => inFlight.delete(batch));
        inFlight.add(batch);
      }
    }
    await Promise.allSettled(inFlight);

    async function handle(messages: Message[]): Promise<void> {
      const event: SQSEvent = { Records: messages.map((message) => sqsRecord(message, arn, region)) };
      let failed: ReadonlySet<string> | 'all';
      try {
        const result = await invocations.invoke(async () => (options.handlerFor ? options.handlerFor<SqsConsumer>(functionName, queue.consumer) : loadHandler<SqsConsumer>(queue.consumer.entry)), event, functionName, timeoutMs);
        failed = batchItemFailures(result, event);
        if (failed === 'all') log(`${functionName}: invalid partial batch response; the whole batch stays on the queue`);
      } catch (error) {
        log(`${functionName}: ${(error as Error).stack ?? String(error)} (the batch of ${messages.length} stays on the queue)`);
        failed = 'all';
      }
      const succeeded = failed === 'all' ? [] : messages.filter((message) => !failed.has(message.MessageId!));
      if (succeeded.length === 0) return;
      try {
        const deleted = await client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: succeeded.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle! })),
          }),
        );
        for (const failure of deleted.Failed ?? []) log(`${functionName}: could not delete a message: ${failure.Code} ${failure.Message}`);
      } catch (error) {
        log(`${functionName}: deleting ${succeeded.length} handled messages failed: ${(error as Error).message}`);
      }
    }
  }

  return {
    async stop() {
      await invocations.stop();
      await Promise.all(loops);
      client.destroy();
    },
  };
}

/** One record of the SQSEvent Lambda's poller builds from a received message. */
export function sqsRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const { ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, ...others } = message.Attributes ?? {};
  const record: SQSRecord = {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: ApproximateReceiveCount!,
      SentTimestamp: SentTimestamp!,
      SenderId: SenderId!,
      ApproximateFirstReceiveTimestamp: ApproximateFirstReceiveTimestamp!,
      ...others,
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, messageAttribute(value)]),
    ),
    md5OfBody: message.MD5OfBody!,
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
  return record;
}

function messageAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  return {
    ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
    ...(value.BinaryValue !== undefined ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') } : {}),
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map((bytes) => Buffer.from(bytes).toString('base64')),
    dataType: value.DataType!,
  };
}

/**
 * The messages a consumer's answer reports as failed, as Lambda reads a partial batch response: nothing
 * (null, no or an empty `batchItemFailures`) is a complete success; an identifier that is empty, missing or
 * not in the batch makes the whole batch a failure.
 */
export function batchItemFailures(result: unknown, event: SQSEvent): ReadonlySet<string> | 'all' {
  if (result === null || result === undefined || typeof result !== 'object') return new Set();
  const failures = (result as Partial<SQSBatchResponse>).batchItemFailures;
  if (failures === null || failures === undefined) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const ids = new Set(event.Records.map((record) => record.messageId));
  const failed = new Set<string>();
  for (const failure of failures as unknown[]) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !ids.has(id)) return 'all';
    failed.add(id);
  }
  return failed;
}
