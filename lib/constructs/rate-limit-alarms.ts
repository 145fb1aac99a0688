import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, RATE_LIMIT_METRICS, SERVICE_NAME } from '../../functions/shared/telemetry';

export interface RateLimitAlarmsProps {
  /** The REST API and stage whose requests (API Gateway's `Count`) the refusals are a share of. */
  readonly apiName: string;
  readonly stageName: string;
}

/**
 * Review S1's monitoring: an alarm when more than 5 % of the API's requests are refused by the rate limits
 * (or the hourly request quota), and one when requests keep being served unchecked because the limiter
 * cannot reach DynamoDB (it fails open).
 */
export class RateLimitAlarms extends Construct {
  readonly refusedRate: cloudwatch.MathExpression;
  readonly refusedAlarm: cloudwatch.Alarm;
  readonly failedOpenAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RateLimitAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const metric = (metricName: string) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: SERVICE_NAME }, statistic: 'Sum', period });

    this.refusedRate = new cloudwatch.MathExpression({
      label: 'Requests refused by rate limits (%)',
      // Only with enough requests for a share to mean something.
      expression: 'IF(FILL(requests, 0) >= 100, 100 * FILL(refused, 0) / requests, 0)',
      usingMetrics: {
        requests: new cloudwatch.Metric({
          namespace: 'AWS/ApiGateway',
          metricName: 'Count',
          dimensionsMap: { ApiName: props.apiName, Stage: props.stageName },
          statistic: 'Sum',
          period,
        }),
        refused: metric(RATE_LIMIT_METRICS.refused),
      },
      period,
    });
    this.refusedAlarm = this.refusedRate.createAlarm(this, 'RefusedAlarm', {
      alarmDescription:
        'More than 5 % of API requests were refused with 429 RATE_LIMITED or QUOTA_EXCEEDED: a client in a retry loop, ' +
        'an attack, or limits too low for real use. The functions\' "request refused" log lines name the code, organization and user; docs/runbooks/rate-limits.md.',
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.failedOpenAlarm = metric(RATE_LIMIT_METRICS.failedOpen).createAlarm(this, 'FailedOpenAlarm', {
      alarmDescription:
        'API requests are being served without rate-limit checks: the functions cannot reach (or are refused by) the ' +
        'rate-limit DynamoDB table, and fail open. Only stage throttling limits callers meanwhile. The warnings ' +
        '"rate limit check failed" in the functions\' logs carry the error; docs/runbooks/rate-limits.md.',
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Ten minutes in a row: a lone timeout is not an outage.
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
