import type { Message } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { taskflow } from '../../lib/app';
import { sqsRecord } from '../../lib/local/event-sources';
import { loadHandler } from '../../lib/local/invoke';
import { lambdaContext } from '../../lib/local/proxy-event';
import { startSandboxes, type Sandboxes } from '../../lib/local/sandboxes';
import { startSqs, type LocalSqs } from '../../lib/local/sqs';
import { ownIntegrationsTable } from './integrations-table';
import { drain } from './queues';

type QueueName = keyof typeof taskflow.queues;
type Consumer = (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

export interface NotificationPipeline {
  /** Set before the file's tests run. */
  sqs: LocalSqs;
  sandboxes: Sandboxes;
  /** Delivers messages to a queue's consumer as Lambda's poller would; answers the ids of the failed ones. */
  deliver(queue: QueueName, messages: Message[]): Promise<string[]>;
}

/**
 * The queue consumers as Lambda runs them, on the local SQS, the third-party sandboxes and an integrations table of
 * the file's own. Each test starts with empty queues, no recorded calls and closed circuit breakers.
 */
export function notificationPipeline(): NotificationPipeline {
  const consumers = {} as Record<QueueName, Consumer>;
  const pipeline = {
    async deliver(queue: QueueName, messages: Message[]): Promise<string[]> {
      const event = { Records: messages.map((message) => sqsRecord(message, `arn:aws:sqs:us-east-1:000000000000:${queue}`, 'us-east-1')) };
      const timeout = (taskflow.queues[queue].consumer.timeoutSeconds ?? 10) * 1000;
      const response = await consumers[queue](event, lambdaContext(queue, timeout));
      return (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier);
    },
  } as NotificationPipeline;

  beforeAll(async () => {
    pipeline.sqs = await startSqs(taskflow, { visibilityTimeoutSeconds: 1 });
    pipeline.sandboxes = await startSandboxes();
    await ownIntegrationsTable();
    Object.assign(process.env, pipeline.sqs.environment, pipeline.sandboxes.environment);
    for (const [name, queue] of Object.entries(taskflow.queues)) consumers[name as QueueName] = await loadHandler<Consumer>(queue.consumer.entry);
  });

  afterAll(async () => {
    await pipeline.sandboxes.stop();
    await pipeline.sqs.stop();
  });

  beforeEach(async () => {
    for (const queue of Object.keys(taskflow.queues)) await drain(pipeline.sqs, queue, { quietMs: 50 });
    pipeline.sandboxes.clearCalls();
    for (const id of ['slack', 'sendgrid']) await dynamoDb()('DeleteItem', { TableName: process.env.INTEGRATIONS_TABLE_NAME, Key: { id: { S: id } } });
  });

  return pipeline;
}
