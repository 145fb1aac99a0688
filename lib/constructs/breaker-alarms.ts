import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { BREAKER_METRICS, METRICS_NAMESPACE, SERVICE_NAME } from '../../functions/shared/telemetry';

/**
 * Review C4: an alarm per integration while its circuit breaker is open. The breaker reports every call it
 * refuses and the moment it opens, so an open breaker with work waiting keeps the alarm in ALARM; it goes
 * back to OK ten minutes after the last refusal.
 */
export class BreakerAlarms extends Construct {
  readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: { integrations: readonly string[] }) {
    super(scope, id);
    this.alarms = Object.fromEntries(
      props.integrations.map((integration) => [
        integration,
        new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: BREAKER_METRICS.open,
          dimensionsMap: { service: SERVICE_NAME, integration },
          statistic: 'Sum',
          // Waiting deliveries are refused every few minutes (at most 5 apart): any refusal in 10 minutes holds the alarm.
          period: Duration.minutes(5),
        }).createAlarm(this, `${integration.charAt(0).toUpperCase()}${integration.slice(1)}BreakerOpen`, {
          alarmDescription:
            `The ${integration} circuit breaker is open: ${integration} fails or times out, so TaskFlow stopped calling it and its ` +
            'deliveries wait. GET /health/integrations shows the last failure and the backlog; see docs/runbooks/integration-outage.md.',
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          datapointsToAlarm: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ]),
    );
  }
}
