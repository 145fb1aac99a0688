import { Duration, Fn } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, RECOVERY_TARGETS, RESTORE_METRICS, SERVICE_NAME } from '../../functions/shared/telemetry';
import type { DatabaseAccess } from '../capabilities/capability';
import type { FunctionDeclaration } from '../declaration';
import { TaskFlowFunction } from './function';
import { copyMigrations } from './migrations';
import { acknowledgeNag } from './nag';

export const RESTORE_RUNBOOK = 'docs/runbooks/restore.md';

export interface RestoreTestingProps {
  /** The validator (`taskflow.functions.restoreValidation`). */
  readonly declaration: FunctionDeclaration;
  readonly database: DatabaseAccess;
  readonly vaultArn: string;
  readonly instanceArn: string;
  /** Where the restored copy goes: the instance's own subnet group and security group. */
  readonly subnetGroupName: string;
  readonly instanceSecurityGroupId: string;
}

/**
 * AWS Backup restore testing, weekly (review M9): the latest recovery point of the database (continuous or snapshot)
 * is restored to a new instance beside the primary; when the restore completes, the validator runs TaskFlow's checks on
 * it, reports SUCCESSFUL or FAILED to AWS Backup and publishes the measured RTO and RPO; AWS Backup then deletes the
 * copy. Alarms: RTO over 1 h, RPO over 5 minutes, a failed validation, and no test for a week.
 */
export class RestoreTesting extends Construct {
  readonly plan: backup.CfnRestoreTestingPlan;
  readonly selection: backup.CfnRestoreTestingSelection;
  readonly validator: TaskFlowFunction;
  readonly alarms: { rto: cloudwatch.Alarm; rpo: cloudwatch.Alarm; validation: cloudwatch.Alarm; missing: cloudwatch.Alarm };

  constructor(scope: Construct, id: string, props: RestoreTestingProps) {
    super(scope, id);
    this.plan = new backup.CfnRestoreTestingPlan(this, 'Plan', {
      restoreTestingPlanName: 'TaskFlow_weekly_restore_test',
      // Mondays 04:00 UTC, after the night's snapshot; started within the hour.
      scheduleExpression: 'cron(0 4 ? * MON *)',
      startWindowHours: 1,
      recoveryPointSelection: {
        algorithm: 'LATEST_WITHIN_WINDOW',
        includeVaults: [props.vaultArn],
        recoveryPointTypes: ['CONTINUOUS', 'SNAPSHOT'],
        selectionWindowDays: 7,
      },
    });
    const role = new iam.Role(this, 'RestoreRole', {
      assumedBy: new iam.ServicePrincipal('backup.amazonaws.com'),
      description: 'AWS Backup restores the TaskFlow database for its weekly restore test',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSBackupServiceRolePolicyForRestores')],
    });
    acknowledgeNag(role, { id: 'AwsSolutions-IAM4', reason: 'AWS Backup\'s own service-role policy for restores, the documented role of restore testing.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores'],
    });
    this.selection = new backup.CfnRestoreTestingSelection(this, 'Selection', {
      restoreTestingPlanName: this.plan.restoreTestingPlanName,
      restoreTestingSelectionName: 'TaskFlow_database',
      protectedResourceType: 'RDS',
      protectedResourceArns: [props.instanceArn],
      iamRoleArn: role.roleArn,
      // The copy sits where the primary does, in its security group: the validator (the migrations' group) reaches it.
      restoreMetadataOverrides: {
        dbsubnetgroupname: props.subnetGroupName,
        vpcsecuritygroupids: Fn.join('', ['["', props.instanceSecurityGroupId, '"]']),
      },
      validationWindowHours: 2,
    });
    this.selection.addResourceDependency(this.plan);

    this.validator = new TaskFlowFunction(this, 'Validator', {
      declaration: props.declaration,
      platform: { database: props.database },
      commandHooks: copyMigrations,
    });
    this.validator.addToRolePolicy(new iam.PolicyStatement({ actions: ['backup:DescribeRestoreJob', 'backup:PutRestoreValidationResult'], resources: ['*'] }));
    acknowledgeNag(this.validator, {
      id: 'AwsSolutions-IAM5',
      reason: 'DescribeRestoreJob and PutRestoreValidationResult take no resource-level permissions (the restore job is not an IAM resource).',
      appliesTo: ['Resource::*'],
    });
    new events.Rule(this, 'RestoreCompleted', {
      description: 'A restore job of the database completed: the validator checks it when a restore test made it',
      eventPattern: { source: ['aws.backup'], detailType: ['Restore Job State Change'], detail: { status: ['COMPLETED'], resourceType: ['RDS'] } },
      targets: [new targets.LambdaFunction(this.validator, { retryAttempts: 2 })],
    });

    const metric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: SERVICE_NAME }, statistic, period: Duration.days(1) });
    const runbook = `Runbook: ${RESTORE_RUNBOOK}.`;
    const over = (alarmId: string, metricName: string, threshold: number, description: string) =>
      metric(metricName, 'Maximum').createAlarm(this, alarmId, {
        alarmDescription: `${description} ${runbook}`,
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    this.alarms = {
      rto: over('RtoAlarm', RESTORE_METRICS.duration, RECOVERY_TARGETS.rtoSeconds, 'SEV2: the weekly restore test took longer than the 1 h RTO target to restore the database.'),
      rpo: over('RpoAlarm', RESTORE_METRICS.recoveryPointAge, RECOVERY_TARGETS.rpoSeconds, 'SEV2: the weekly restore test\'s latest recovery point was older than the 5 minute RPO target.'),
      validation: over('ValidationAlarm', RESTORE_METRICS.validationFailed, 0, 'SEV2: a database restored by the weekly restore test failed TaskFlow\'s checks (or could not be checked).'),
      // A test that silently stopped running is a backup nobody has tried.
      missing: metric(RESTORE_METRICS.duration, 'SampleCount').createAlarm(this, 'MissingAlarm', {
        alarmDescription: `SEV3: no restore test has reported for 7 days. ${runbook}`,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 7,
        datapointsToAlarm: 7,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    };
  }
}
