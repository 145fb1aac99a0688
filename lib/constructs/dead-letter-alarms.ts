import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { taskflow } from '../app';
import { type QueueDeclaration, queueName } from '../declaration';
import { queueId } from './queues';

export interface DeadLetterAlarmsProps<QueueName extends string> {
  readonly queues: Readonly<Record<QueueName, QueueDeclaration>>;
  /** The name of a declared queue's dead-letter queue (CloudWatch's `QueueName` dimension). */
  readonly deadLetterQueueName: (queue: QueueName) => string;
}

/** An alarm per declared queue as soon as its dead-letter queue holds a message (review S2). */
export class DeadLetterAlarms<QueueName extends string = string> extends Construct {
  readonly alarms: Readonly<Record<QueueName, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: DeadLetterAlarmsProps<QueueName>) {
    super(scope, id);
    const alarms = {} as Record<QueueName, cloudwatch.Alarm>;
    for (const [name, declaration] of Object.entries(props.queues) as [QueueName, QueueDeclaration][]) {
      const sourceName = queueName(taskflow.name, name);
      const deadLetterName = queueName(taskflow.name, name, true);
      alarms[name] = new cloudwatch.Metric({
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        dimensionsMap: { QueueName: props.deadLetterQueueName(name) },
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }).createAlarm(this, `${queueId(name)}DeadLetterAlarm`, {
        alarmDescription:
          `${deadLetterName} holds messages that failed ${declaration.maxReceiveCount} times in ${sourceName} ` +
          `(${declaration.description}). Read the consumer's logs, fix the cause, then redrive them to ${sourceName} (${declaration.runbook ?? 'docs/runbooks/dlq-redrive.md'}).`,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // SQS stops publishing the metrics of an idle queue: no data means no message.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    this.alarms = alarms;
  }
}
