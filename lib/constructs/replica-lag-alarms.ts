import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, REPLICA_METRICS, REPORTS_MAX_REPLICA_LAG_SECONDS, SERVICE_NAME } from '../../functions/shared/telemetry';

/** Replica lag thresholds (review S4): a ticket above the first, a page above the second (where the reports leave it). */
export const REPLICA_LAG_SECONDS = { warning: 10, critical: REPORTS_MAX_REPLICA_LAG_SECONDS } as const;

/**
 * The read replica's lag as the replicaHeartbeat schedule measures it every minute (from a fresh write on the
 * primary, so an idle primary does not read as lag). Only for a stack with a replica.
 */
export class ReplicaLagAlarms extends Construct {
  readonly warning: cloudwatch.Alarm;
  readonly critical: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const lag = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: REPLICA_METRICS.lagSeconds,
      dimensionsMap: { service: SERVICE_NAME },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(1),
    });
    this.warning = lag.createAlarm(this, 'WarningAlarm', {
      alarmDescription:
        `SEV3 ticket: the read replica was more than ${REPLICA_LAG_SECONDS.warning} s behind the primary for 5 minutes in a row; ` +
        `the weekly reports still read it until it is ${REPLICA_LAG_SECONDS.critical} s behind. docs/runbooks/replica-lag.md`,
      threshold: REPLICA_LAG_SECONDS.warning,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.critical = lag.createAlarm(this, 'CriticalAlarm', {
      alarmDescription:
        `SEV2 page: the read replica is more than ${REPLICA_LAG_SECONDS.critical} s behind the primary (or its lag was not measured) ` +
        'for 3 minutes: the weekly reports read the primary meanwhile. docs/runbooks/replica-lag.md',
      threshold: REPLICA_LAG_SECONDS.critical,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      // The heartbeat reports every minute: a replica whose lag nobody measures is not known to be fine.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
