import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, QUOTA_METRICS, SERVICE_NAME } from '../../functions/shared/telemetry';

/**
 * Review M4: an alarm as soon as an organization passes 80 % of a plan limit (or, on enterprise, 80 % and
 * 100 % of the figures alerting starts at). Which organization and quota: the `organization crossed a
 * quota threshold` log line of the same minute.
 */
export class QuotaAlarm extends Construct {
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.alarm = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: QUOTA_METRICS.thresholdCrossed,
      dimensionsMap: { service: SERVICE_NAME },
      statistic: 'Sum',
      period: Duration.minutes(5),
    }).createAlarm(this, 'Alarm', {
      alarmDescription:
        'An organization passed 80 % of a plan quota (projects, tasks or storage); find it in the logs: ' +
        'filter message = "organization crossed a quota threshold". Offer a larger plan before it is refused (docs/runbooks/quotas.md).',
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
