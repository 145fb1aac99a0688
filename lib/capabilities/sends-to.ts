import { queueUrlVariable } from '../../functions/shared/resource-variables';
import type { AwsProvision, LocalServices, Platform } from './capability';

// What a function's `sendsTo` gives it, like a capability: for each queue it names, `<NAME>_QUEUE_URL` and
// sqs:SendMessage on that queue only, and OUTBOX_ROUTES (which event type goes where). Least privilege: an API
// function may not send to the Slack or e-mail queues, whose workers send what they are given.

/** The declared queues a function sends to, each once; refuses a name that is not a declared queue. */
function declaredQueues(entry: string, sendsTo: readonly string[], declared: readonly string[] | undefined): string[] {
  const names = [...new Set(sendsTo)];
  if (names.length === 0) return [];
  if (!declared) throw new Error(`${entry} sends to ${names.join(', ')}: it requires the queues construct`);
  const unknown = names.filter((name) => !declared.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `${entry} sends to ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is not a declared queue' : 'are not declared queues'} ` +
        `(declared: ${declared.join(', ') || 'none'})`,
    );
  }
  return names;
}

export function sendsToAws(entry: string, sendsTo: readonly string[], platform: Platform): AwsProvision {
  const queues = platform.queues;
  const names = declaredQueues(entry, sendsTo, queues && Object.keys(queues.queues));
  if (names.length === 0) return {};
  return {
    environment: {
      ...Object.fromEntries(names.map((name) => [queueUrlVariable(name), queues!.queues[name]!.queueUrl])),
      OUTBOX_ROUTES: JSON.stringify(queues!.routes),
    },
    grant(fn) {
      for (const name of names) queues!.queues[name]!.grantSendMessages(fn);
    },
  };
}

export function sendsToLocal(entry: string, sendsTo: readonly string[], { sqs }: LocalServices): Record<string, string> {
  const names = declaredQueues(entry, sendsTo, sqs.names);
  if (names.length === 0) return {};
  return {
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    ...Object.fromEntries(names.map((name) => [queueUrlVariable(name), sqs.queueUrl(name)])),
    OUTBOX_ROUTES: JSON.stringify(sqs.routes),
  };
}
