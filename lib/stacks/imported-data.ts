import { ArnFormat, Fn, Lazy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INTEGRATION_NAMES } from '../../functions/integrations/services';
import { taskflow } from '../app';
import type { Credentials, DatabaseAccess, OutboxQueues, TableName } from '../capabilities/capability';
import { Network } from '../constructs/network';
import { outboxRoutes, queueIntegrations } from '../declaration';
import type { DataStack } from './data-stack';

/**
 * The data stack as another stack sees it: its resources imported from the identifiers it shares (SSM parameters), each
 * on first use, so a stack reads only the parameters its functions need. Grants on these land in the reader's own
 * policies; nothing here changes the data stack.
 */
export class ImportedData extends Construct {
  private readonly cache = new Map<string, unknown>();

  constructor(
    scope: Stack,
    id: string,
    private readonly data: DataStack,
  ) {
    super(scope, id);
  }

  private read(key: string): string {
    return this.data.shared.read(this, key);
  }

  private once<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  get database(): DatabaseAccess {
    return this.once('database', () => {
      const imported = this;
      const group = (id: string, key: string) => this.once(key, () => ec2.SecurityGroup.fromSecurityGroupId(this, id, this.read(key), { mutable: false }));
      const secret = (id: string, key: string) => this.once(key, () => secretsmanager.Secret.fromSecretCompleteArn(this, id, this.read(key)));
      // IAM database authentication as `user` (what DatabaseProxy.grantConnect and DatabaseInstance.grantConnect grant).
      const grantConnect = (grantee: iam.IGrantable, resourceId: string, user: string) =>
        void iam.Grant.addToPrincipal({
          grantee,
          actions: ['rds-db:connect'],
          resourceArns: [
            Stack.of(this).formatArn({ service: 'rds-db', resource: 'dbuser', resourceName: `${resourceId}/${user}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
          ],
        });
      const replica = this.data.database.replica && {
        get endpointAddress() {
          return imported.read('replica-address');
        },
        grantConnect: (grantee: iam.IGrantable, user: string) => grantConnect(grantee, this.read('replica-resource-id'), user),
      };
      // Each part on first use: a stack reads only the parameters its functions need.
      return {
        get vpc() {
          return imported.vpc;
        },
        clientSubnets: { subnetGroupName: Network.APPLICATION_SUBNETS },
        get proxyClients() {
          return group('ProxyClients', 'proxy-clients');
        },
        get adminClients() {
          return group('AdminClients', 'admin-clients');
        },
        get proxyEndpoint() {
          return imported.read('proxy-endpoint');
        },
        grantProxyConnect: (grantee: iam.IGrantable, user: string) =>
          grantConnect(grantee, Stack.of(this).splitArn(this.read('proxy-arn'), ArnFormat.COLON_RESOURCE_NAME).resourceName!, user),
        get instanceEndpointAddress() {
          return imported.read('instance-address');
        },
        get instanceEndpointPort() {
          return imported.read('instance-port');
        },
        get masterSecret() {
          return secret('MasterSecret', 'master-secret-arn');
        },
        get appSecret() {
          return secret('AppSecret', 'app-secret-arn');
        },
        ...(replica ? { readReplica: replica } : {}),
      };
    });
  }

  /**
   * The data stack's VPC with its application subnets, as many as it has AZs (the AZs themselves are only labels here).
   * Functions join it through their subnets and security group: nothing needs the VPC's own id or the subnets' route
   * tables, so they are not shared, and a construct that used one would fail the synthesis.
   */
  /** The application subnets' ids, one per AZ, as the data stack shares them. */
  get applicationSubnetIds(): string[] {
    return this.once('application-subnets', () => {
      const subnetCount = this.data.network.vpc.selectSubnets(this.data.network.applicationSubnets).subnetIds.length;
      return Array.from({ length: subnetCount }, (_, index) => this.read(`application-subnet-${index + 1}`));
    });
  }

  private get vpc(): ec2.IVpc {
    return this.once('vpc', () => {
      const subnetIds = this.applicationSubnetIds;
      const unshared = (what: string) =>
        Lazy.string({
          produce: () => {
            throw new Error(`${Stack.of(this).stackName} uses ${what}, which the data stack does not share (lib/stacks/imported-data.ts)`);
          },
        });
      return ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: unshared('the VPC\'s id'),
        availabilityZones: subnetIds.map((_, index) => Fn.select(index, Fn.getAzs())),
        isolatedSubnetIds: subnetIds,
        isolatedSubnetNames: [Network.APPLICATION_SUBNETS],
        isolatedSubnetRouteTableIds: subnetIds.map(() => unshared('a subnet\'s route table')),
      });
    });
  }

  get tables(): Readonly<Record<TableName, dynamodb.ITable>> {
    return this.once('tables', () => {
      const tables = {} as Record<TableName, dynamodb.ITable>;
      for (const name of Object.keys(taskflow.tables) as TableName[]) {
        // Each table on first use: a reader of one table does not read the others' names.
        Object.defineProperty(tables, name, {
          enumerable: true,
          get: () => this.once(`table-${name}`, () => dynamodb.Table.fromTableName(this, `${name}Table`, this.read(`table-${name}`))),
        });
      }
      return tables;
    });
  }

  get filesBucket(): s3.IBucket {
    return this.once('files', () => s3.Bucket.fromBucketName(this, 'FilesBucket', this.read('files-bucket')));
  }

  get credentials(): Credentials {
    return this.once('credentials', () => {
      const credentials = {} as Record<keyof Credentials, secretsmanager.ISecret>;
      for (const name of [...INTEGRATION_NAMES, 'feedProbe'] as const) {
        Object.defineProperty(credentials, name, {
          enumerable: true,
          get: () =>
            this.once(`credentials-${name}`, () => secretsmanager.Secret.fromSecretCompleteArn(this, `${name}Credentials`, this.read(`credentials-${name}`))),
        });
      }
      return credentials;
    });
  }

  get queues(): OutboxQueues {
    return this.once('queues', () => {
      const lazy = (kind: 'queue' | 'dlq') => {
        const queues = {} as Record<string, sqs.IQueue>;
        for (const name of Object.keys(taskflow.queues)) {
          Object.defineProperty(queues, name, {
            enumerable: true,
            get: () =>
              this.once(`${kind}-${name}`, () =>
                sqs.Queue.fromQueueAttributes(this, `${name}${kind === 'dlq' ? 'DeadLetterQueue' : 'Queue'}`, {
                  queueArn: this.read(`${kind}-${name}-arn`),
                  queueUrl: this.read(`${kind}-${name}-url`),
                }),
              ),
          });
        }
        return queues;
      };
      return { queues: lazy('queue'), deadLetterQueues: lazy('dlq'), routes: outboxRoutes(taskflow.queues), integrations: queueIntegrations(taskflow.queues) };
    });
  }
}
