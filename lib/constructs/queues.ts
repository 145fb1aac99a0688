import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { OutboxQueues } from '../capabilities/capability';
import { outboxRoutes, type QueueDeclaration, queueIntegrations, queueName, visibilityTimeoutSeconds } from '../declaration';

export interface QueuesProps<QueueName extends string> {
  /** The application name (`taskflow.name`): queues are named `<name>-<queue>` and `<name>-<queue>-dlq`. */
  readonly name: string;
  /** The declared queues (`taskflow.queues`). */
  readonly queues: Readonly<Record<QueueName, QueueDeclaration>>;
}

/** `notifications` → `Notifications`: the construct id prefix of a declared queue. */
export function queueId(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** The outbox keeps failed sends for at most this long; a message still queued after it is lost. */
const RETENTION = Duration.days(4);
/** The most SQS allows: time to notice the alarm, fix the cause and redrive. */
const DEAD_LETTER_RETENTION = Duration.days(14);

/**
 * The declared queues, one per consumer (a bulkhead: a slow Slack does not hold up e-mail), each with a dead-letter
 * queue (after `maxReceiveCount` receives) that only it may use and redrive from. Their consumers are in the workers
 * stack, their dead-letter alarms in the operations stack; the queues hold messages, so they live with the data. Queue
 * names are fixed (the same in AWS and locally, and how the operator CLI finds them).
 */
export class Queues<QueueName extends string = string> extends Construct implements OutboxQueues {
  readonly queues: Readonly<Record<QueueName, sqs.Queue>>;
  readonly deadLetterQueues: Readonly<Record<QueueName, sqs.Queue>>;
  readonly routes: Readonly<Record<string, readonly string[]>>;
  readonly integrations: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: QueuesProps<QueueName>) {
    super(scope, id);
    this.routes = outboxRoutes(props.queues);
    this.integrations = queueIntegrations(props.queues);

    const queues = {} as Record<QueueName, sqs.Queue>;
    const deadLetterQueues = {} as Record<QueueName, sqs.Queue>;
    for (const [name, declaration] of Object.entries(props.queues) as [QueueName, QueueDeclaration][]) {
      const prefix = queueId(name);
      const sourceName = queueName(props.name, name);

      // Only its own source queue may use this dead-letter queue. The source's ARN is built from its known
      // name: referencing the queue itself would make each queue depend on the other (RedrivePolicy one way,
      // RedriveAllowPolicy the other), a circular dependency CloudFormation refuses.
      const sourceArn = Stack.of(this).formatArn({ service: 'sqs', resource: sourceName, arnFormat: ArnFormat.NO_RESOURCE_NAME });
      const deadLetterQueue = new sqs.Queue(this, `${prefix}DeadLetterQueue`, {
        queueName: queueName(props.name, name, true),
        retentionPeriod: DEAD_LETTER_RETENTION,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        redriveAllowPolicy: {
          redrivePermission: sqs.RedrivePermission.BY_QUEUE,
          sourceQueues: [sqs.Queue.fromQueueArn(this, `${prefix}Source`, sourceArn)],
        },
      });

      queues[name] = new sqs.Queue(this, `${prefix}Queue`, {
        queueName: sourceName,
        visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(declaration)),
        retentionPeriod: RETENTION,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: declaration.maxReceiveCount },
      });
      deadLetterQueues[name] = deadLetterQueue;
    }
    this.queues = queues;
    this.deadLetterQueues = deadLetterQueues;
  }
}
