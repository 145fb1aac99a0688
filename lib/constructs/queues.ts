import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { outboxRoutes, type QueueDeclaration, queueName, visibilityTimeoutSeconds } from '../declaration';
import type { Database } from './database';
import { type IntegrationSettings, type OutboxQueues, TaskFlowFunction, type WebSocketSettings } from './function';

export interface QueuesProps<QueueName extends string> {
  /** The application name (`taskflow.name`): queues are named `<name>-<queue>` and `<name>-<queue>-dlq`. */
  readonly name: string;
  /** The declared queues (`taskflow.queues`). */
  readonly queues: Readonly<Record<QueueName, QueueDeclaration>>;
  /** The SQS interface endpoint of the VPC. */
  readonly endpoint: ec2.IConnectable;
  /** For consumers that need `database`. */
  readonly database: Database;
  /** For consumers that need `idempotency`. */
  readonly idempotencyTable: dynamodb.ITable;
  /** For consumers that need `slack` or `sendgrid`. */
  readonly integrations: IntegrationSettings;
  /** For consumers that need `connections`. */
  readonly connectionsTable: dynamodb.ITable;
  readonly integrationsTable: dynamodb.ITable;
  /** For consumers that need `websocket` (the broadcast worker). */
  readonly webSocket: WebSocketSettings;
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
 * The declared queues, one per consumer (a bulkhead: a slow Slack does not hold up e-mail). Each has a
 * dead-letter queue (after `maxReceiveCount` receives) with an alarm as soon as it holds a message, and a
 * consumer function fed by an event source mapping that reports partial batch failures, so one poison
 * message is retried (and dead-lettered) alone, and that runs at most `maxConcurrency` invocations at once. Queue names are fixed (the same in AWS and locally, and
 * how the operator CLI finds them).
 */
export class Queues<QueueName extends string = string> extends Construct implements OutboxQueues {
  readonly queues: Readonly<Record<QueueName, sqs.Queue>>;
  readonly deadLetterQueues: Readonly<Record<QueueName, sqs.Queue>>;
  /** In alarm while a dead-letter queue holds any message. */
  readonly deadLetterAlarms: Readonly<Record<QueueName, cloudwatch.Alarm>>;
  readonly consumers: Readonly<Record<QueueName, TaskFlowFunction>>;
  readonly routes: Readonly<Record<string, readonly string[]>>;
  readonly integrations: Readonly<Record<string, string>>;
  readonly endpoint: ec2.IConnectable;

  constructor(scope: Construct, id: string, props: QueuesProps<QueueName>) {
    super(scope, id);
    this.endpoint = props.endpoint;
    this.routes = outboxRoutes(props.queues);
    this.integrations = Object.fromEntries(
      Object.entries(props.queues as Record<string, QueueDeclaration>).flatMap(([name, queue]) => (queue.integration ? [[name, queue.integration]] : [])),
    );
    const declared = Object.entries(props.queues) as [QueueName, QueueDeclaration][];

    const queues = {} as Record<QueueName, sqs.Queue>;
    const deadLetterQueues = {} as Record<QueueName, sqs.Queue>;
    const deadLetterAlarms = {} as Record<QueueName, cloudwatch.Alarm>;
    for (const [name, declaration] of declared) {
      const prefix = queueId(name);
      const sourceName = queueName(props.name, name);
      const deadLetterName = queueName(props.name, name, true);

      // Only its own source queue may use this dead-letter queue. The source's ARN is built from its known
      // name: referencing the queue itself would make each queue depend on the other (RedrivePolicy one way,
      // RedriveAllowPolicy the other), a circular dependency CloudFormation refuses.
      const sourceArn = Stack.of(this).formatArn({ service: 'sqs', resource: sourceName, arnFormat: ArnFormat.NO_RESOURCE_NAME });
      const deadLetterQueue = new sqs.Queue(this, `${prefix}DeadLetterQueue`, {
        queueName: deadLetterName,
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

      deadLetterAlarms[name] = deadLetterQueue
        .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM })
        .createAlarm(this, `${prefix}DeadLetterAlarm`, {
          alarmDescription:
            `${deadLetterName} holds messages that failed ${declaration.maxReceiveCount} times in ${sourceName} ` +
            `(${declaration.description}). Read the consumer's logs, fix the cause, then redrive them to ${sourceName} (docs/runbooks/dlq-redrive.md).`,
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // SQS stops publishing the metrics of an idle queue: no data means no message.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
    }
    this.queues = queues;
    this.deadLetterQueues = deadLetterQueues;
    this.deadLetterAlarms = deadLetterAlarms;

    // Consumers after every queue exists: a consumer may itself send to the queues (notifications → slack, email).
    const consumers = {} as Record<QueueName, TaskFlowFunction>;
    for (const [name, declaration] of declared) {
      const consumer = new TaskFlowFunction(this, `${queueId(name)}Consumer`, {
        declaration: declaration.consumer,
        database: props.database,
        idempotencyTable: props.idempotencyTable,
        queues: this,
        integrations: props.integrations,
        connectionsTable: props.connectionsTable,
        integrationsTable: props.integrationsTable,
        webSocket: props.webSocket,
      });
      consumer.addEventSource(
        new SqsEventSource(queues[name], {
          batchSize: declaration.batchSize,
          reportBatchItemFailures: true,
          // A bulkhead for what the consumer calls (the database, Slack's rate limits): a backlog or a redrive
          // drains at this pace instead of scaling out; the rest waits on the queue.
          maxConcurrency: declaration.maxConcurrency,
        }),
      );
      consumers[name] = consumer;
    }
    this.consumers = consumers;
  }
}
