import { type CapabilityModule, required } from './capability';

/**
 * Reads the depth of every declared queue and its dead-letter queue (QUEUE_STATUS: their URLs by queue name, with
 * the integration each one's consumer calls), for the integrations' health.
 */
export const queueStatus: CapabilityModule = {
  summary: 'Reads the depth of every declared queue and dead-letter queue (QUEUE_STATUS)',
  aws(platform) {
    const { queues, deadLetterQueues, integrations } = required(platform.queues, 'queue-status', 'the queues construct');
    return {
      environment: {
        // Queue URLs are tokens without quotes: they stay intact inside the JSON and CloudFormation joins them.
        QUEUE_STATUS: queueStatusVariable(Object.keys(queues), (name, deadLetter) => (deadLetter ? deadLetterQueues[name]?.queueUrl : queues[name]!.queueUrl), integrations),
      },
      grant(fn) {
        for (const [name, queue] of Object.entries(queues)) {
          for (const watched of [queue, deadLetterQueues[name]]) watched?.grant(fn, 'sqs:GetQueueAttributes');
        }
      },
    };
  },
  local: ({ sqs }) => ({ AWS_ENDPOINT_URL_SQS: sqs.endpoint, QUEUE_STATUS: queueStatusVariable(sqs.names, sqs.queueUrl, sqs.integrations) }),
};

/** QUEUE_STATUS: each queue's URL, its dead-letter queue's and the integration its consumer calls, by queue name. */
function queueStatusVariable(names: readonly string[], url: (name: string, deadLetter: boolean) => string | undefined, integrations: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.fromEntries(names.map((name) => [name, { url: url(name, false), deadLetterUrl: url(name, true) ?? null, integration: integrations[name] ?? null }])),
  );
}
