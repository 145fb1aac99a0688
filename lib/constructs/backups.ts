import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import type * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { acknowledgeNag } from './nag';

export interface DatabaseBackupsProps {
  readonly instance: rds.IDatabaseInstance;
  /**
   * A vault in another region the daily snapshots are copied to (`cdk deploy -c backupCopyVaultArn=arn:aws:backup:…`):
   * a region lost does not take the backups with it. None: no copy.
   */
  readonly copyVaultArn?: string;
}

/** How long each kind of recovery point is kept (docs/architecture.md, Backups). */
export const BACKUP_RETENTION = {
  /** Point-in-time restore to any second in this window: AWS Backup's maximum for continuous backups. */
  continuousDays: 35,
  dailySnapshotDays: 90,
  /** The vault lock's bounds: no recovery point can be deleted sooner or kept longer. */
  lockMinDays: 7,
  lockMaxDays: 400,
} as const;

/**
 * AWS Backup for PostgreSQL (review M9): continuous backup (point-in-time restore to any second of the last 35 days,
 * RPO of about 5 minutes, the transaction logs' upload interval) and a daily snapshot kept 90 days, optionally copied
 * to a vault in a second region. The vault is locked in governance mode (recovery points kept 7 to 400 days; an
 * administrator with the right permission can still remove the lock, which compliance mode would forbid for good).
 */
export class DatabaseBackups extends Construct {
  readonly vault: backup.BackupVault;
  readonly plan: backup.BackupPlan;

  constructor(scope: Construct, id: string, props: DatabaseBackupsProps) {
    super(scope, id);
    this.vault = new backup.BackupVault(this, 'Vault', {
      lockConfiguration: { minRetention: Duration.days(BACKUP_RETENTION.lockMinDays), maxRetention: Duration.days(BACKUP_RETENTION.lockMaxDays) },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const copyActions: backup.BackupPlanCopyActionProps[] = props.copyVaultArn
      ? [{ destinationBackupVault: backup.BackupVault.fromBackupVaultArn(this, 'CopyVault', props.copyVaultArn), deleteAfter: Duration.days(BACKUP_RETENTION.dailySnapshotDays) }]
      : [];
    this.plan = new backup.BackupPlan(this, 'Plan', {
      backupVault: this.vault,
      backupPlanRules: [
        new backup.BackupPlanRule({
          ruleName: 'Continuous',
          enableContinuousBackup: true,
          deleteAfter: Duration.days(BACKUP_RETENTION.continuousDays),
          scheduleExpression: events.Schedule.cron({ hour: '2', minute: '0' }),
        }),
        new backup.BackupPlanRule({
          ruleName: 'DailySnapshot',
          scheduleExpression: events.Schedule.cron({ hour: '3', minute: '0' }),
          deleteAfter: Duration.days(BACKUP_RETENTION.dailySnapshotDays),
          copyActions,
        }),
      ],
    });
    const selection = this.plan.addSelection('Database', {
      resources: [backup.BackupResource.fromRdsDatabaseInstance(props.instance)],
      allowRestores: true,
    });
    acknowledgeNag(selection, {
      id: 'AwsSolutions-IAM4',
      reason: 'AWS Backup\'s own service-role policies for backups and restores (the documented way to give AWS Backup access to RDS).',
      appliesTo: ['Backup', 'Restores'].map((kind) => `Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyFor${kind}`),
    });
  }
}
