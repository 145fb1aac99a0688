import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as rds from 'aws-cdk-lib/aws-rds';
import { beforeAll, describe, expect, it } from 'vitest';
import { RESTORE_METRICS } from '../../functions/shared/telemetry';
import { DatabaseBackups } from '../../lib/constructs/backups';
import { PROJECT_ROOT } from '../../lib/constructs/function';
import { logicalId, type Resource, resourcesOfType, SYNTH_TIMEOUT_MS, type Synthesized, synthesizeTaskFlow } from './synth';

// Review M9: backups that are restored and checked every week, with the measured RTO and RPO alarmed.
let synthesized: Synthesized;
let resources: Record<string, Resource>;

beforeAll(() => {
  synthesized = synthesizeTaskFlow();
  resources = synthesized.resources;
}, SYNTH_TIMEOUT_MS);

const ofType = (type: string) => resourcesOfType(resources, type).map(([, resource]) => resource);

describe('backups', () => {
  it('backs the database up continuously (35 days of point-in-time restore) and snapshots it daily, into a locked vault', () => {
    const [plan] = ofType('AWS::Backup::BackupPlan');
    const rules = plan!.Properties.BackupPlan.BackupPlanRule as any[];
    expect(rules.find((rule) => rule.EnableContinuousBackup)).toMatchObject({ Lifecycle: { DeleteAfterDays: 35 } });
    expect(rules.find((rule) => !rule.EnableContinuousBackup)).toMatchObject({ ScheduleExpression: 'cron(0 3 * * ? *)', Lifecycle: { DeleteAfterDays: 90 } });
    const [vault] = ofType('AWS::Backup::BackupVault');
    expect(vault!.Properties.LockConfiguration).toEqual({ MinRetentionDays: 7, MaxRetentionDays: 400 });
    expect(vault!.DeletionPolicy).toBe('Retain');
    const [selection] = ofType('AWS::Backup::BackupSelection');
    expect(JSON.stringify(selection!.Properties.BackupSelection.Resources)).toContain(logicalId(synthesized.stacks.data.database.instance));
  });

  it('copies the daily snapshots to a second region\'s vault when one is given', () => {
    const stack = new Stack(new App(), 'Copy');
    const instance = rds.DatabaseInstance.fromDatabaseInstanceAttributes(stack, 'Db', {
      instanceIdentifier: 'db', instanceEndpointAddress: 'db.example', port: 5432, securityGroups: [],
    });
    const copyVaultArn = 'arn:aws:backup:eu-west-1:123456789012:backup-vault:taskflow-copy';
    new DatabaseBackups(stack, 'Backups', { instance, copyVaultArn });
    const rules = Object.values(Template.fromStack(stack).findResources('AWS::Backup::BackupPlan'))[0]!.Properties.BackupPlan.BackupPlanRule as any[];
    expect(rules.find((rule) => !rule.EnableContinuousBackup).CopyActions).toEqual([{ DestinationBackupVaultArn: copyVaultArn, Lifecycle: { DeleteAfterDays: 90 } }]);
    expect(rules.find((rule) => rule.EnableContinuousBackup).CopyActions).toBeUndefined();
  });

  it('turns point-in-time recovery on for every DynamoDB table and keeps the files bucket versioned', () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables.length).toBe(Object.keys(synthesized.stacks.data.storage.tables).length);
    for (const table of tables) expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(resources[logicalId(synthesized.stacks.data.storage.filesBucket)]!.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });
});

describe('restore testing', () => {
  it('restores the database\'s latest recovery point every week, beside the primary', () => {
    const [plan] = ofType('AWS::Backup::RestoreTestingPlan');
    expect(plan!.Properties).toMatchObject({
      ScheduleExpression: 'cron(0 4 ? * MON *)',
      RecoveryPointSelection: { Algorithm: 'LATEST_WITHIN_WINDOW', RecoveryPointTypes: ['CONTINUOUS', 'SNAPSHOT'] },
    });
    const [selection] = ofType('AWS::Backup::RestoreTestingSelection');
    expect(selection!.Properties).toMatchObject({ ProtectedResourceType: 'RDS', ValidationWindowHours: 2 });
    expect(Object.keys(selection!.Properties.RestoreMetadataOverrides)).toEqual(['dbsubnetgroupname', 'vpcsecuritygroupids']);
  });

  it('validates each completed restore with the validator, which reaches the copy and reports to AWS Backup', () => {
    const validator = synthesized.stacks.operations.restoreTesting.validator;
    const id = logicalId(validator);
    const [rule] = ofType('AWS::Events::Rule').filter((rule) => JSON.stringify(rule.Properties.Targets).includes(id));
    expect(rule!.Properties.EventPattern).toMatchObject({ source: ['aws.backup'], 'detail-type': ['Restore Job State Change'], detail: { status: ['COMPLETED'] } });
    expect(resources[id]!.Properties.Environment.Variables).toHaveProperty('DB_MASTER_SECRET_ARN');
    expect(resources[id]!.Properties.VpcConfig).toBeDefined();
    const statements = ofType('AWS::IAM::Policy').flatMap((policy) => policy.Properties.PolicyDocument.Statement as any[]);
    expect(statements.some((statement) => [statement.Action].flat().includes('backup:PutRestoreValidationResult'))).toBe(true);
    expect(ofType('AWS::EC2::VPCEndpoint').some((endpoint) => JSON.stringify(endpoint.Properties.ServiceName).includes('.backup'))).toBe(true);
  });

  it('alarms on RTO over 1 h, RPO over 5 minutes, a failed validation and a week without a test, each naming its runbook', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').filter((alarm) => (Object.values(RESTORE_METRICS) as string[]).includes(alarm.Properties.MetricName));
    const threshold = (metric: string, statistic: string) => alarms.find((a) => a.Properties.MetricName === metric && a.Properties.Statistic === statistic)?.Properties.Threshold;
    expect(threshold(RESTORE_METRICS.duration, 'Maximum')).toBe(3_600);
    expect(threshold(RESTORE_METRICS.recoveryPointAge, 'Maximum')).toBe(300);
    expect(threshold(RESTORE_METRICS.validationFailed, 'Maximum')).toBe(0);
    expect(threshold(RESTORE_METRICS.duration, 'SampleCount')).toBe(1);
    expect(alarms).toHaveLength(4);
    for (const alarm of alarms) {
      const runbook = /docs\/runbooks\/[\w-]+\.md/.exec(alarm.Properties.AlarmDescription)?.[0];
      expect(runbook && existsSync(path.join(PROJECT_ROOT, runbook))).toBe(true);
      expect(alarm.Properties.AlarmActions).toBeDefined();
    }
  });
});
