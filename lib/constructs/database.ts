import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DatabaseAccess } from '../capabilities/capability';
import { DATABASE_NAME, DATABASE_PORT, DATABASE_USERS } from '../capabilities/database-names';
import { acknowledgeNag } from './nag';
import type { Network } from './network';

export interface DatabaseProps {
  readonly network: Network;
  /** The instance's identifier (the replica's ends in `-replica`); fixed, so a replacement fails loudly. */
  readonly instanceIdentifier: string;
  /** @default db.t4g.medium */
  readonly instanceType?: ec2.InstanceType;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** A read replica for long reads (the weekly reports). @default false */
  readonly readReplica?: boolean;
}

const POSTGRES_LOGS = ['postgresql', 'upgrade'] as const;

/**
 * PostgreSQL (Multi-AZ, encrypted, IAM auth, TLS forced) behind RDS Proxy.
 *
 * Two roles: the master user (owner of the schema, used only by the deploy-time migrate function,
 * which connects to the instance directly) and `taskflow_app` (data access only, used by the API
 * through the proxy with IAM authentication). Each kind of client gets its own security group.
 */
export class Database extends Construct implements DatabaseAccess {
  readonly vpc: ec2.IVpc;
  /** Where database clients (Lambda functions) run. */
  readonly clientSubnets: ec2.SubnetSelection;
  readonly instance: rds.DatabaseInstance;
  /** The read replica, when `readReplica` was asked for: functions that need `read-replica` connect to it directly, with IAM auth. */
  readonly replica?: rds.DatabaseInstanceReadReplica;
  readonly proxy: rds.DatabaseProxy;
  /** Master credentials, rotated every 30 days. */
  readonly masterSecret: secretsmanager.ISecret;
  /** `taskflow_app` credentials: the proxy logs in with them; the migrate function sets the role's password from them. */
  readonly appSecret: secretsmanager.ISecret;
  /** Functions in this group may connect to the proxy and the SQS endpoint (and nothing else in the database tier). */
  readonly proxyClients: ec2.SecurityGroup;
  /** Functions in this group may connect to the instance directly (the migrate function, the restore validator). */
  readonly adminClients: ec2.SecurityGroup;
  /** The instance's own group: a copy restored for a restore test is put in it, so the same clients reach it. */
  readonly instanceSecurityGroup: ec2.SecurityGroup;
  /** The instance's subnet group, where a restored copy goes too. */
  readonly subnetGroupName: string;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const { network } = props;
    this.vpc = network.vpc;
    this.clientSubnets = network.applicationSubnets;

    const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 });
    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: 'TaskFlow PostgreSQL: TLS required, slow statements logged',
      parameters: {
        'rds.force_ssl': '1',
        log_min_duration_statement: '1000',
      },
    });

    // A fixed identifier lets the exported log groups exist (with retention) before RDS writes to them,
    // and makes an accidental replacement fail loudly instead of silently creating a new database.
    const { instanceIdentifier } = props;
    // Named log groups are deleted with the stack (which the instance's deletion protection already
    // guards): retained, they would block creating the stack again.
    const logGroups = POSTGRES_LOGS.map(
      (log) =>
        new logs.LogGroup(this, `${log.charAt(0).toUpperCase()}${log.slice(1)}Logs`, {
          logGroupName: `/aws/rds/instance/${instanceIdentifier}/${log}`,
          retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
    );

    const instanceSecurityGroup = (this.instanceSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: this.vpc,
      description: 'TaskFlow PostgreSQL instance',
      allowAllOutbound: false,
    }));

    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine,
      instanceIdentifier,
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
      vpc: this.vpc,
      vpcSubnets: network.databaseSubnets,
      securityGroups: [instanceSecurityGroup],
      credentials: rds.Credentials.fromGeneratedSecret(DATABASE_USERS.master),
      databaseName: DATABASE_NAME,
      port: DATABASE_PORT,
      parameterGroup,
      multiAz: true,
      deletionProtection: true,
      backupRetention: Duration.days(7),
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: 20,
      maxAllocatedStorage: 200,
      iamAuthentication: true,
      caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
      cloudwatchLogsExports: [...POSTGRES_LOGS],
      autoMinorVersionUpgrade: true,
      publiclyAccessible: false,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    for (const logGroup of logGroups) this.instance.node.addDependency(logGroup);
    this.subnetGroupName = (this.instance.node.findChild('SubnetGroup') as rds.SubnetGroup).subnetGroupName;
    this.masterSecret = this.instance.secret!;

    const appSecret = new rds.DatabaseSecret(this, 'AppSecret', {
      username: DATABASE_USERS.app,
      dbname: DATABASE_NAME,
    });
    this.appSecret = appSecret.attach(this.instance);
    // The instance is snapshotted when the stack goes; its credentials stay with the snapshot.
    // (The master secret is the one the instance generated; `instance.secret` is its attachment.)
    for (const secret of [this.instance.node.findChild('Secret') as rds.DatabaseSecret, appSecret]) secret.applyRemovalPolicy(RemovalPolicy.RETAIN);

    this.instance.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      endpoint: network.secretsManagerEndpoint,
      vpcSubnets: network.databaseSubnets,
    });

    this.proxy = this.instance.addProxy('Proxy', {
      secrets: [this.masterSecret, this.appSecret],
      vpc: this.vpc,
      vpcSubnets: network.databaseSubnets,
      securityGroups: [
        new ec2.SecurityGroup(this, 'ProxySecurityGroup', { vpc: this.vpc, description: 'TaskFlow RDS Proxy' }),
      ],
      iamAuth: true,
      requireTLS: true,
      idleClientTimeout: Duration.minutes(30),
      // As long as a client waits to connect (DB_CONNECT_TIMEOUT_MS, 5 s): no borrow outlives its caller.
      borrowTimeout: Duration.seconds(5),
    });

    this.proxyClients = new ec2.SecurityGroup(this, 'ProxyClients', {
      vpc: this.vpc,
      description: 'TaskFlow functions that reach PostgreSQL through RDS Proxy',
    });
    this.proxy.connections.allowFrom(this.proxyClients, ec2.Port.tcp(DATABASE_PORT), 'TaskFlow functions to RDS Proxy');
    // Functions in the VPC publish their outbox entries to the queues through the SQS endpoint.
    network.sqsEndpoint.connections.allowDefaultPortFrom(this.proxyClients, 'TaskFlow functions to SQS');

    this.adminClients = new ec2.SecurityGroup(this, 'AdminClients', {
      vpc: this.vpc,
      description: 'TaskFlow deploy-time migrations, straight to the PostgreSQL instance',
    });
    this.instance.connections.allowDefaultPortFrom(this.adminClients, 'TaskFlow migrations to PostgreSQL');

    if (props.readReplica) {
      // Asynchronous: reads there may lag the primary by seconds, which a weekly report does not mind.
      this.replica = new rds.DatabaseInstanceReadReplica(this, 'ReadReplica', {
        sourceDatabaseInstance: this.instance,
        instanceIdentifier: `${instanceIdentifier}-replica`,
        instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
        vpc: this.vpc,
        vpcSubnets: network.databaseSubnets,
        securityGroups: [new ec2.SecurityGroup(this, 'ReplicaSecurityGroup', { vpc: this.vpc, description: 'TaskFlow PostgreSQL read replica', allowAllOutbound: false })],
        parameterGroup,
        // Encrypted as its source is (CloudFormation takes no StorageEncrypted for a replica).
        storageType: rds.StorageType.GP3,
        iamAuthentication: true,
        caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
        autoMinorVersionUpgrade: true,
        publiclyAccessible: false,
        deletionProtection: true,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      this.replica.connections.allowDefaultPortFrom(this.proxyClients, 'TaskFlow functions to the read replica');
      acknowledgeNag(this.replica, {
        id: 'AwsSolutions-RDS2',
        reason:
          'A read replica is encrypted when its source is (this one is, with the same key); CloudFormation refuses ' +
          'StorageEncrypted on a replica, which is what this rule reads.',
      });
      acknowledgeNag(this.replica, {
        id: 'AwsSolutions-RDS3',
        reason:
          'The replica serves the weekly reports only: when it is down, their run fails and the next day\'s run does the week ' +
          '(one report per project and week); the primary, which every request needs, is Multi-AZ.',
      });
      acknowledgeNag(this.replica, {
        id: 'AwsSolutions-RDS11',
        reason: 'As the primary: PostgreSQL\'s default port, in isolated subnets that only TaskFlow\'s functions may reach.',
      });
    }
    // The migrate function reads both secrets (the rotation function is let in by addRotationSingleUser).
    network.secretsManagerEndpoint.connections.allowDefaultPortFrom(this.adminClients, 'TaskFlow migrations to Secrets Manager');
    // The restore validator reports to AWS Backup from the same group.
    network.backupEndpoint.connections.allowDefaultPortFrom(this.adminClients, 'TaskFlow restore validator to AWS Backup');

    acknowledgeNag(this.instance, {
        id: 'AwsSolutions-RDS11',
        reason:
          'PostgreSQL keeps its default port 5432: the instance sits in isolated subnets and only the proxy, ' +
          'the migrate function and the rotation function security groups may reach it; a non-default port adds no protection there.',
    });
    acknowledgeNag(appSecret, {
        id: 'AwsSolutions-SMG4',
        reason:
          'The taskflow_app password is only used by RDS Proxy to log in on behalf of IAM-authenticated clients; ' +
          'the migrate function sets the role password from this secret at every deploy, so a scheduled rotation would race it. ' +
          'No client ever reads it. Rotate by updating the secret and redeploying.',
    });
  }

  get proxyEndpoint(): string {
    return this.proxy.endpoint;
  }

  grantProxyConnect(grantee: iam.IGrantable, user: string): void {
    this.proxy.grantConnect(grantee, user);
  }

  get instanceEndpointAddress(): string {
    return this.instance.dbInstanceEndpointAddress;
  }

  get instanceEndpointPort(): string {
    return this.instance.dbInstanceEndpointPort;
  }

  get readReplica(): DatabaseAccess['readReplica'] {
    const { replica } = this;
    return replica && { endpointAddress: replica.dbInstanceEndpointAddress, grantConnect: (grantee, user) => void replica.grantConnect(grantee, user) };
  }
}
