import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME, SYNTHETIC_CANARY_METRICS } from '../../functions/shared/telemetry';

/**
 * The scheduled synthetic transaction (review M7, every 5 minutes), as the feed probe's: one alarm on a failed run, one
 * when no run reported for two 5-minute periods in a row (a canary that does not run checks nothing; a single period
 * may hold no run now and then, the rule's runs not being on the periods' boundaries). Runbook: docs/runbooks/canary.md.
 */
export class SyntheticCanaryAlarms extends Construct {
  /** A run failed. */
  readonly failuresAlarm: cloudwatch.Alarm;
  /** No run reported for 10 minutes. */
  readonly silentAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const runs = (statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: SYNTHETIC_CANARY_METRICS.failures,
        dimensionsMap: { service: SERVICE_NAME },
        statistic,
        period: Duration.minutes(5),
      });
    this.failuresAlarm = runs(cloudwatch.Stats.SUM).createAlarm(this, 'FailuresAlarm', {
      alarmDescription:
        'The synthetic transaction failed (create a task, change its status, comment, upload and confirm a file, see the events ' +
        'on the feed): users may be failing the same way. The step and the answer are in the canary\'s logs ("synthetic ' +
        'transaction failed"). Runbook: docs/runbooks/canary.md.',
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // A run that reports nothing is the other alarm's concern.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.silentAlarm = runs(cloudwatch.Stats.SAMPLE_COUNT).createAlarm(this, 'SilentAlarm', {
      alarmDescription:
        'The synthetic transaction has not reported for two 5-minute periods: its schedule or function is not running, so nothing ' +
        'checks what users do. See the SyntheticCanary rule and function in TaskFlow-Workers. Runbook: docs/runbooks/canary.md.',
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
