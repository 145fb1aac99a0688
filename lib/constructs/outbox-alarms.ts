import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, OUTBOX_METRICS, SERVICE_NAME } from '../../functions/shared/telemetry';

/** Above this age (seconds) of the oldest unpublished outbox entry, events are late. */
export const OUTBOX_AGE_THRESHOLD_SECONDS = 5;

export interface OutboxAlarmsProps {
  /** The name of the outbox relay function (the `outboxRelay` schedule). */
  readonly relayFunctionName: string;
}

/**
 * Whether the outbox is published on time (review: an event reaches its queues within seconds of the commit):
 * the age of the oldest unpublished entry, which the relay emits on every poll (so a missing point means the
 * relay is not running: breaching), and the relay's own errors.
 */
export class OutboxAlarms extends Construct {
  /** In alarm when an outbox entry has waited more than 5 s to be published, or no age was reported for a minute. */
  readonly ageAlarm: cloudwatch.Alarm;
  /** In alarm when the relay failed (error or timeout) in 2 of 3 consecutive minutes. */
  readonly relayErrorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: OutboxAlarmsProps) {
    super(scope, id);

    this.ageAlarm = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: OUTBOX_METRICS.oldestUnpublishedAge,
      dimensionsMap: { service: SERVICE_NAME },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(1),
    }).createAlarm(this, 'AgeAlarm', {
      alarmDescription:
        `The oldest unpublished outbox entry is more than ${OUTBOX_AGE_THRESHOLD_SECONDS} s old, or the outbox relay ` +
        'reported nothing for a minute (not running, or unable to read the outbox: see OutboxRelayFailures): events reach the queues late. See the relay\'s logs and docs/runbooks/outbox-lag.md.',
      threshold: OUTBOX_AGE_THRESHOLD_SECONDS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.relayErrorsAlarm = new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'Errors',
      dimensionsMap: { FunctionName: props.relayFunctionName },
      period: Duration.minutes(1),
      statistic: cloudwatch.Stats.SUM,
    }).createAlarm(this, 'RelayErrorsAlarm', {
        alarmDescription: 'The outbox relay failed (an error or a timeout) in 2 of the last 3 minutes; see its logs and docs/runbooks/outbox-lag.md.',
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
  }
}
