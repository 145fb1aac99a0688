import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';

import { METRICS_NAMESPACE, SERVICE_NAME, TASK_UPDATE_METRICS } from '../../functions/shared/telemetry';

/**
 * The task-update conflict rate (review C6: target under 1 % of updates), as a metric an operator can
 * graph and an alarm when it stays above target, with enough updates for the rate to mean something.
 */
export class ConflictRateAlarm extends Construct {
  readonly rate: cloudwatch.MathExpression;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const count = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME },
        statistic: 'Sum',
        period: Duration.minutes(15),
      });
    this.rate = new cloudwatch.MathExpression({
      label: 'Task update conflict rate (%)',
      // FILL: a period with conflicts and no successful update is a 100 % rate, not a missing point.
      expression: 'IF(FILL(updates, 0) + FILL(conflicts, 0) >= 100, 100 * FILL(conflicts, 0) / (FILL(updates, 0) + FILL(conflicts, 0)), 0)',
      usingMetrics: { updates: count(TASK_UPDATE_METRICS.updates), conflicts: count(TASK_UPDATE_METRICS.conflicts) },
      period: Duration.minutes(15),
    });
    this.alarm = this.rate.createAlarm(this, 'Alarm', {
      alarmDescription: 'More than 1 % of task updates ended in VERSION_CONFLICT (see task_conflicts for which fields); docs/runbooks/conflict-rate.md',
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
