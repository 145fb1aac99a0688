import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Errors of the new version above this share of its invocations roll the deployment back (the review's 1 %). */
export const ROLLBACK_ERROR_RATE = 0.01;
/** The new version's p95 duration above this multiple of the function's roll it back (the review's 1.5×). */
export const ROLLBACK_LATENCY_RATIO = 1.5;

export interface RollbackAlarmsProps {
  /** The `live` alias the traffic goes through. */
  readonly alias: lambda.Alias;
  /** The version being deployed: only its invocations count. */
  readonly version: lambda.IVersion;
  /** What the alarms' descriptions call the function. */
  readonly label: string;
}

/**
 * The rollback alarms of one function's deployment (review M7), scoped to the new version: Lambda publishes an
 * alias's metrics per `ExecutedVersion` as well, so an error of the previous version, or of another function, does
 * not block the deploy. One-minute periods, two of three breaching: the canary step lasts 5 minutes.
 *
 * - errors: the new version's errors over its invocations above 1 %;
 * - latency: its p95 duration above 1.5 × the function's p95 over the same minute. The previous version's own
 *   metric cannot be named before the deploy (its number is only known to CloudFormation); while the canary holds
 *   5 % of the traffic the function's p95 is, to within that 5 %, the previous version's.
 *
 * No invocation of the new version is no evidence either way (missing data: not breaching).
 */
export class RollbackAlarms extends Construct {
  readonly errors: cloudwatch.Alarm;
  readonly latency: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RollbackAlarmsProps) {
    super(scope, id);
    const { alias, version } = props;
    const period = Duration.minutes(1);
    const ofNewVersion = (metricName: string, statistic: string) =>
      alias.metric(metricName, {
        dimensionsMap: { FunctionName: alias.lambda.functionName, Resource: `${alias.lambda.functionName}:${alias.aliasName}`, ExecutedVersion: version.version },
        statistic,
        period,
      });
    const alarmOptions = {
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };

    this.errors = new cloudwatch.MathExpression({
      expression: 'errors / invocations',
      usingMetrics: { errors: ofNewVersion('Errors', cloudwatch.Stats.SUM), invocations: ofNewVersion('Invocations', cloudwatch.Stats.SUM) },
      period,
      label: `${props.label}: new version's error rate`,
    }).createAlarm(this, 'Errors', {
      ...alarmOptions,
      alarmDescription:
        `Rolls back a deployment of ${props.label}: the new version's errors are above ${ROLLBACK_ERROR_RATE * 100} % of its invocations ` +
        'in two minutes of three. See docs/runbooks/rollback.md and the function\'s logs for the new version.',
      threshold: ROLLBACK_ERROR_RATE,
    });

    this.latency = new cloudwatch.MathExpression({
      expression: 'newP95 / allP95',
      usingMetrics: {
        newP95: ofNewVersion('Duration', 'p95'),
        allP95: alias.lambda.metricDuration({ statistic: 'p95', period }),
      },
      period,
      label: `${props.label}: new version's p95 / the function's p95`,
    }).createAlarm(this, 'Latency', {
      ...alarmOptions,
      alarmDescription:
        `Rolls back a deployment of ${props.label}: the new version's p95 duration is above ${ROLLBACK_LATENCY_RATIO} × the function's ` +
        'in two minutes of three. See docs/runbooks/rollback.md.',
      threshold: ROLLBACK_LATENCY_RATIO,
    });
  }
}
