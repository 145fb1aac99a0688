import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { INTEGRATIONS, INTEGRATION_NAMES } from '../../functions/integrations/services';
import { taskflow } from '../app';
import { DatabaseBackups } from '../constructs/backups';
import { Credentials, FEED_PROBE_SECRET } from '../constructs/credentials';
import { Database } from '../constructs/database';
import { Network } from '../constructs/network';
import { queueId, Queues } from '../constructs/queues';
import { Storage, tableId } from '../constructs/storage';
import { SharedValues } from './shared-values';

type TableName = keyof typeof taskflow.tables;
type QueueName = keyof typeof taskflow.queues;

export interface DataStackProps extends StackProps {
  /** A read replica for long reads (the weekly reports): `cdk deploy -c readReplica=true`. */
  readonly readReplica: boolean;
  /** A vault in a second region the daily snapshots are copied to: `cdk deploy -c backupCopyVaultArn=arn:aws:backup:…`. */
  readonly backupCopyVaultArn?: string;
}

/**
 * What TaskFlow keeps: the VPC, PostgreSQL behind RDS Proxy (and the read replica), the files bucket, the DynamoDB
 * tables, the third-party credentials and the queues with their dead-letter queues. No function of TaskFlow's own
 * runs here, so a code deploy never touches it; termination protection is on, and the database is snapshotted and
 * everything else that holds data retained when the stack is deleted. The other stacks find what they use here
 * through `shared` (SSM parameters, lib/stacks/shared-values.ts).
 */
export class DataStack extends Stack {
  readonly network: Network;
  readonly database: Database;
  readonly backups: DatabaseBackups;
  readonly storage: Storage<TableName>;
  readonly credentials: Credentials;
  readonly queues: Queues<QueueName>;
  readonly shared: SharedValues;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, {
      description: 'TaskFlow data: VPC, PostgreSQL (RDS Proxy, Multi-AZ), DynamoDB tables, files bucket, credentials, SQS queues',
      terminationProtection: true,
      ...props,
    });
    this.network = new Network(this, 'Network');
    this.database = new Database(this, 'Database', {
      network: this.network,
      // The name the single-stack deployment gave it: `cdk refactor` moves that instance here (docs/architecture.md).
      instanceIdentifier: `${taskflow.name.toLowerCase()}-postgres`,
      readReplica: props.readReplica,
    });
    this.backups = new DatabaseBackups(this, 'Backups', {
      instance: this.database.instance,
      ...(props.backupCopyVaultArn ? { copyVaultArn: props.backupCopyVaultArn } : {}),
    });
    this.storage = new Storage(this, 'Storage', { tables: taskflow.tables });
    this.credentials = new Credentials(this, 'Integrations');
    this.queues = new Queues(this, 'Queues', { name: taskflow.name, queues: taskflow.queues });

    this.shared = new SharedValues(this, taskflow.name, 'data');
    this.share();
    this.outputs();
  }

  /** Every identifier another stack reads (lib/stacks/imported-data.ts). */
  private share(): void {
    const share = (key: string, value: string, description: string) => this.shared.share(this, key, value, description);
    const { vpc } = this.network;
    for (const [index, subnet] of vpc.selectSubnets(this.network.applicationSubnets).subnetIds.entries()) {
      share(`application-subnet-${index + 1}`, subnet, 'an application subnet');
    }
    const db = this.database;
    share('proxy-clients', db.proxyClients.securityGroupId, 'the security group of the functions that reach RDS Proxy');
    share('admin-clients', db.adminClients.securityGroupId, 'the security group of the deploy-time migrations');
    share('proxy-endpoint', db.proxy.endpoint, 'the RDS Proxy endpoint');
    share('proxy-arn', db.proxy.dbProxyArn, 'the RDS Proxy');
    share('instance-address', db.instance.dbInstanceEndpointAddress, 'the PostgreSQL instance\'s address');
    share('instance-port', db.instance.dbInstanceEndpointPort, 'the PostgreSQL instance\'s port');
    share('master-secret-arn', db.masterSecret.secretArn, 'the master credentials');
    share('instance-arn', db.instance.instanceArn, 'the PostgreSQL instance (what the restore test restores)');
    share('instance-security-group', db.instanceSecurityGroup.securityGroupId, 'the PostgreSQL instance\'s security group');
    share('subnet-group-name', db.subnetGroupName, 'the PostgreSQL instance\'s subnet group');
    share('backup-vault-arn', this.backups.vault.backupVaultArn, 'the backup vault of the database');
    share('app-secret-arn', db.appSecret.secretArn, 'the taskflow_app credentials');
    if (db.replica) {
      share('replica-address', db.replica.dbInstanceEndpointAddress, 'the read replica\'s address');
      share('replica-resource-id', db.replica.instanceResourceId!, 'the read replica\'s resource id (IAM database authentication)');
    }
    for (const [name, table] of Object.entries(this.storage.tables)) share(`table-${name}`, table.tableName, `the ${name} table`);
    share('files-bucket', this.storage.filesBucket.bucketName, 'the files bucket');
    for (const [name, secret] of Object.entries(this.credentials.secrets)) share(`credentials-${name}`, secret.secretArn, `the ${name} credentials`);
    for (const [name, queue] of Object.entries(this.queues.queues)) {
      share(`queue-${name}-arn`, queue.queueArn, `the ${name} queue`);
      share(`queue-${name}-url`, queue.queueUrl, `the ${name} queue's URL`);
    }
    for (const [name, queue] of Object.entries(this.queues.deadLetterQueues)) {
      share(`dlq-${name}-arn`, queue.queueArn, `the ${name} dead-letter queue`);
      share(`dlq-${name}-url`, queue.queueUrl, `the ${name} dead-letter queue's URL`);
      share(`dlq-${name}-name`, queue.queueName, `the ${name} dead-letter queue's name`);
    }
  }

  private outputs(): void {
    new CfnOutput(this, 'FilesBucketName', { value: this.storage.filesBucket.bucketName, description: 'Bucket of file attachments' });
    for (const [name, table] of Object.entries(this.storage.tables) as [TableName, (typeof this.storage.tables)[TableName]][]) {
      new CfnOutput(this, `${tableId(name)}TableName`, { value: table.tableName, description: taskflow.tables[name].description });
    }
    for (const name of INTEGRATION_NAMES) {
      new CfnOutput(this, `${INTEGRATIONS[name].secretName}SecretArn`, {
        value: this.credentials.secrets[name].secretArn,
        description: `Store ${INTEGRATIONS[name].credential} here`,
      });
    }
    new CfnOutput(this, `${FEED_PROBE_SECRET}SecretArn`, {
      value: this.credentials.secrets.feedProbe.secretArn,
      description:
        'Store the feed probe\'s OAuth client credentials here, as JSON {"tokenUrl","clientId","clientSecret","audience"} ' +
        '(an Auth0 machine-to-machine application whose tokens carry the probe organization)',
    });
    for (const name of Object.keys(taskflow.queues) as QueueName[]) {
      new CfnOutput(this, `${queueId(name)}QueueUrl`, { value: this.queues.queues[name].queueUrl, description: taskflow.queues[name].description });
      new CfnOutput(this, `${queueId(name)}DeadLetterQueueUrl`, {
        value: this.queues.deadLetterQueues[name].queueUrl,
        description: `Dead-letter queue of ${name}: inspect, then redrive to the ${name} queue`,
      });
    }
  }
}
