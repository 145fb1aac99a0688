import { queueUrlVariable } from './resource-variables';
import { awsJson } from './aws-json';
import { requiredEnv } from './env';
import { groupsOf } from './groups';

export interface OutgoingMessage {
  /** Unique within one call: the outbox entry's id. */
  id: string;
  body: string;
  attributes: Record<string, string>;
}

export interface SendResult {
  sent: string[];
  failed: { id: string; reason: string }[];
}

// SQS's limits per SendMessageBatch call: ten entries, and 256 KB of bodies and attributes together (SQS's limit
// before 2025, which the local emulator and older queues keep).
const BATCH = 10;
const BATCH_BYTES = 256 * 1024;

/**
 * Sends messages to a declared queue (its URL is in `<NAME>_QUEUE_URL`) in batches of ten; a failed
 * entry, a failed call or an unknown queue is reported, never thrown, so the caller can retry just those.
 */
export async function sendMessages(queue: string, messages: OutgoingMessage[]): Promise<SendResult> {
  // Made per call (it is cheap): the endpoint and credentials are read from the environment each time.
  const send = awsJson({ service: 'sqs', endpointVariable: 'AWS_ENDPOINT_URL_SQS', targetPrefix: 'AmazonSQS', timeoutMs: 2_000 });
  const result: SendResult = { sent: [], failed: [] };
  const chunks = batches(messages);
  // The batches go out at once: a round of the relay lasts one call, far inside its claim's lease.
  await Promise.all(chunks.map(async (chunk) => {
    try {
      const queueUrl = requiredEnv(queueUrlVariable(queue));
      const answer = await send<{ Successful?: { Id: string }[]; Failed?: { Id: string; Code?: string; Message?: string }[] }>('SendMessageBatch', {
        QueueUrl: queueUrl,
        Entries: chunk.map((message) => ({
          Id: message.id,
          MessageBody: message.body,
          MessageAttributes: Object.fromEntries(
            Object.entries(message.attributes).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
          ),
        })),
      });
      result.sent.push(...(answer.Successful ?? []).map((entry) => entry.Id));
      result.failed.push(...(answer.Failed ?? []).map((entry) => ({ id: entry.Id, reason: `${entry.Code}: ${entry.Message}` })));
    } catch (error) {
      result.failed.push(...chunk.map((message) => ({ id: message.id, reason: String((error as Error).message ?? error) })));
    }
  }));
  return result;
}

/** The messages in order, in batches of at most BATCH entries and BATCH_BYTES (a larger message goes alone). */
function batches(messages: OutgoingMessage[]): OutgoingMessage[][] {
  return groupsOf(messages, {
    count: BATCH,
    bytes: BATCH_BYTES,
    // An attribute counts its name, its value and its data type (`String`).
    sizeOf: (message) => Buffer.byteLength(message.body) + Object.entries(message.attributes).reduce((sum, [name, value]) => sum + name.length + value.length + 6, 0),
  });
}

/**
 * A queue's URL from its ARN (arn:aws:sqs:<region>:<account>:<name>, as an SQS event record's eventSourceARN),
 * on the endpoint the SDK would use: AWS_ENDPOINT_URL_SQS (the local emulator) or the region's.
 */
export function queueUrlFromArn(arn: string, env: NodeJS.ProcessEnv = process.env): string {
  const [, , service, region, account, name] = arn.split(':');
  if (service !== 'sqs' || !region || !account || !name) throw new Error(`not an SQS queue ARN: ${arn}`);
  const endpoint = (env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL ?? `https://sqs.${region}.amazonaws.com`).replace(/\/+$/, '');
  return `${endpoint}/${account}/${name}`;
}

/**
 * SQS's longest visibility timeout is 12 hours counted from the receive, not from the change: a minute less
 * leaves room for the time the message has already been held.
 */
export const MAX_VISIBILITY_SECONDS = 43_200 - 60;

/**
 * Hides a received message for `seconds` from now (ChangeMessageVisibility; clamped to 0..12 h): it is not
 * received again before then. Needs sqs:ChangeMessageVisibility on the queue (an SQS event source's role has it).
 */
export async function changeMessageVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
  const send = awsJson({ service: 'sqs', endpointVariable: 'AWS_ENDPOINT_URL_SQS', targetPrefix: 'AmazonSQS', timeoutMs: 2_000 });
  await send('ChangeMessageVisibility', {
    QueueUrl: queueUrl,
    ReceiptHandle: receiptHandle,
    VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds))),
  });
}
