import { awsJson } from './aws-json';
import { logger } from './logger';

export interface QueueDepth {
  /** Messages waiting or being processed (visible and in flight). */
  backlog: number | null;
  /** Messages in its dead-letter queue (visible and in flight). */
  deadLetters: number | null;
}

const depthAttributes = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'];

interface QueueStatus {
  url: string;
  deadLetterUrl: string | null;
  /** The integration its consumer calls. */
  integration: string | null;
}

const queues = () => JSON.parse(process.env.QUEUE_STATUS ?? '{}') as Record<string, QueueStatus>;

/** The depth of the queue whose consumer calls this integration, and of its dead-letter queue; null for what could not be read or does not exist. */
export async function integrationQueueDepth(integration: string): Promise<QueueDepth> {
  const urls = Object.values(queues()).find((queue) => queue.integration === integration);
  if (!urls) return { backlog: null, deadLetters: null };
  const send = awsJson({ service: 'sqs', endpointVariable: 'AWS_ENDPOINT_URL_SQS', targetPrefix: 'AmazonSQS', timeoutMs: 2_000 });
  const depth = async (url: string | null) => {
    if (!url) return null;
    try {
      const { Attributes = {} } = await send<{ Attributes?: Record<string, string> }>('GetQueueAttributes', { QueueUrl: url, AttributeNames: depthAttributes });
      return depthAttributes.reduce((sum, attribute) => sum + Number(Attributes[attribute] ?? 0), 0);
    } catch (error) {
      logger.warn('queue depth could not be read', { url, error });
      return null;
    }
  };
  const [backlog, deadLetters] = await Promise.all([depth(urls.url), depth(urls.deadLetterUrl)]);
  return { backlog, deadLetters };
}
