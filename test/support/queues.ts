import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { LocalSqs } from '../../lib/local/sqs';

/** Reads (and deletes) everything on a local queue until it stays empty for `quietMs`. */
export async function drain(sqs: LocalSqs, queue: string, { quietMs = 300, deadLetter = false } = {}): Promise<Message[]> {
  const client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const url = sqs.queueUrl(queue, deadLetter);
  const messages: Message[] = [];
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'], WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    quietSince = Date.now();
    messages.push(...Messages);
    await client.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
  client.destroy();
  return messages;
}

export const bodyOf = (message: Message) => JSON.parse(message.Body!);
