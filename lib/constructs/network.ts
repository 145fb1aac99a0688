import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /** @default 10.40.0.0/16 */
  readonly cidr?: string;
  /** @default one month */
  readonly flowLogRetention?: logs.RetentionDays;
}

/**
 * The VPC: two AZs, isolated subnets only (no NAT gateway, no internet route). Functions reach AWS
 * services through VPC endpoints: gateway endpoints for DynamoDB and S3, interface endpoints for
 * Secrets Manager (the migrate function and the secret rotation read secrets from inside the VPC) and
 * SQS (functions that write the outbox publish to the queues from inside the VPC).
 */
export class Network extends Construct {
  static readonly DATABASE_SUBNETS = 'Database';
  static readonly APPLICATION_SUBNETS = 'Application';

  readonly vpc: ec2.Vpc;
  /** RDS instance, RDS Proxy, secret rotation. */
  readonly databaseSubnets: ec2.SubnetSelection = { subnetGroupName: Network.DATABASE_SUBNETS };
  /** Lambda functions that need the VPC. */
  readonly applicationSubnets: ec2.SubnetSelection = { subnetGroupName: Network.APPLICATION_SUBNETS };
  readonly secretsManagerEndpoint: ec2.InterfaceVpcEndpoint;
  readonly sqsEndpoint: ec2.InterfaceVpcEndpoint;
  /** AWS Backup's API: the restore validator reports its result there (lib/constructs/restore-testing.ts). */
  readonly backupEndpoint: ec2.InterfaceVpcEndpoint;
  readonly flowLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);

    this.flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.40.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: Network.DATABASE_SUBNETS, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
        { name: Network.APPLICATION_SUBNETS, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 22 },
      ],
      restrictDefaultSecurityGroup: true,
      flowLogs: {
        CloudWatch: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
      gatewayEndpoints: {
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
      },
    });

    // Private DNS: the SDK's default endpoint resolves to it. Closed by default: each client security
    // group is let in explicitly (the migrate function, the secret rotation function).
    this.secretsManagerEndpoint = this.vpc.addInterfaceEndpoint('SecretsManager', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: this.applicationSubnets,
      privateDnsEnabled: true,
      open: false,
    });
    // Same for SQS: each function that sends to the queues from the VPC lets its own group in.
    this.sqsEndpoint = this.vpc.addInterfaceEndpoint('Sqs', {
      service: ec2.InterfaceVpcEndpointAwsService.SQS,
      subnets: this.applicationSubnets,
      privateDnsEnabled: true,
      open: false,
    });
    this.backupEndpoint = this.vpc.addInterfaceEndpoint('Backup', {
      service: ec2.InterfaceVpcEndpointAwsService.BACKUP,
      subnets: this.applicationSubnets,
      privateDnsEnabled: true,
      open: false,
    });
  }
}
