import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as fis from 'aws-cdk-lib/aws-fis';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { FAULT_TARGET_TAG, type FaultTarget, FIS_CONFIG_PREFIX, fisConfigBucketName } from './fault-injection';
import { acknowledgeNag } from './nag';

export interface FaultExperimentsProps {
  readonly app: string;
  /** The PostgreSQL instance (the failover experiment's target). */
  readonly databaseArn: string;
  /** The subnets the functions run in (their DynamoDB traffic is what the network experiment cuts). */
  readonly applicationSubnetIds: readonly string[];
  /** Stop conditions, by what they guard. */
  readonly stopOn: {
    /** The API's fast-burn alarms (availability, mutation latency): the customers' experience past what we accept. */
    readonly api: readonly cloudwatch.IAlarm[];
    /** The workers' dead-letter alarms and the outbox's: a message the retries did not absorb. */
    readonly workers: readonly cloudwatch.IAlarm[];
  };
}

/** How long each experiment's faults last once started. */
const FAULT_DURATION = 'PT10M';

/**
 * The GameDay experiments (review M5) as AWS FIS templates: off unless someone starts one (`aws fis
 * start-experiment --experiment-template-id …`, docs/gameday.md), each stopped by FIS as soon as one of its alarms
 * goes into ALARM. The Lambda ones need the FIS extension on the functions (`-c faultInjection=true`,
 * lib/constructs/fault-injection.ts); without it they find no target and do not start.
 */
export class FaultExperiments extends Construct {
  readonly role: iam.Role;
  readonly configBucket: s3.Bucket;
  readonly logGroup: logs.LogGroup;
  readonly templates: Readonly<Record<'apiFaults' | 'workerFaults' | 'databaseFailover' | 'dynamoDbUnreachable', fis.CfnExperimentTemplate>>;

  constructor(scope: Construct, id: string, props: FaultExperimentsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // FIS writes a running Lambda experiment's faults here; the extension polls them. Nothing else is kept.
    this.configBucket = new s3.Bucket(this, 'Config', {
      bucketName: fisConfigBucketName(),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(1) }],
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledgeNag(this.configBucket, {
      id: 'AwsSolutions-S1',
      reason: 'A hand-off of fault settings between FIS and the Lambda extension, expired after a day; the experiments are logged (FIS log group) and in CloudTrail.',
    });
    this.logGroup = new logs.LogGroup(this, 'Log', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('fis.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: `${props.app}: what the GameDay experiments may do (FIS)`,
    });
    const functionArns = stack.formatArn({ service: 'lambda', resource: 'function', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const { databaseArn } = props;
    const subnetArns = props.applicationSubnetIds.map((subnet) => stack.formatArn({ service: 'ec2', resource: 'subnet', resourceName: subnet }));
    const statements = [
      // The Lambda actions: FIS reads each tagged function's configuration location and writes the fault there.
      new iam.PolicyStatement({ actions: ['lambda:GetFunction'], resources: [functionArns], conditions: { StringLike: { [`aws:ResourceTag/${FAULT_TARGET_TAG}`]: ['api', 'workers'] } } }),
      new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:DeleteObject'], resources: [this.configBucket.arnForObjects(`${FIS_CONFIG_PREFIX}/*`)] }),
      // Resolving targets by tag.
      new iam.PolicyStatement({ actions: ['tag:GetResources'], resources: ['*'] }),
      // The failover: a reboot of the one instance, forcing the Multi-AZ standby to take over.
      new iam.PolicyStatement({ actions: ['rds:RebootDBInstance', 'rds:DescribeDBInstances'], resources: [databaseArn] }),
      // DynamoDB unreachable: FIS clones each subnet's network ACL, adds deny rules for DynamoDB's addresses, swaps it
      // in, and swaps the original back at the end. The ACLs it creates carry its managedByFIS tag.
      new iam.PolicyStatement({ actions: ['ec2:DescribeNetworkAcls', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs', 'ec2:DescribeManagedPrefixLists', 'ec2:GetManagedPrefixListEntries'], resources: ['*'] }),
      new iam.PolicyStatement({ actions: ['ec2:CreateNetworkAcl', 'ec2:CreateTags'], resources: ['*'], conditions: { StringEquals: { 'aws:RequestTag/managedByFIS': 'true' } } }),
      new iam.PolicyStatement({
        actions: ['ec2:CreateNetworkAclEntry', 'ec2:DeleteNetworkAcl'],
        resources: [stack.formatArn({ service: 'ec2', resource: 'network-acl', resourceName: '*' })],
        conditions: { StringEquals: { 'ec2:ResourceTag/managedByFIS': 'true' } },
      }),
      new iam.PolicyStatement({ actions: ['ec2:ReplaceNetworkAclAssociation'], resources: [...subnetArns, stack.formatArn({ service: 'ec2', resource: 'network-acl', resourceName: '*' })] }),
      // Experiment logs to the log group (FIS sets up the delivery).
      new iam.PolicyStatement({ actions: ['logs:CreateLogDelivery', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups'], resources: ['*'] }),
    ];
    for (const statement of statements) this.role.addToPolicy(statement);
    acknowledgeNag(this.role, {
      id: 'AwsSolutions-IAM5',
      reason:
        'FIS resolves targets by tag (tag:GetResources has no resource scope); Lambda actions reach only functions tagged as targets and one bucket prefix; ' +
        'the network experiment creates network ACLs that do not exist yet (scoped by the managedByFIS tag) and describes VPC resources (no resource scope); log delivery has no resource scope.',
      appliesTo: [
        'Resource::*',
        `Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*`,
        `Resource::<${stack.getLogicalId(this.configBucket.node.defaultChild as s3.CfnBucket)}.Arn>/${FIS_CONFIG_PREFIX}/*`,
        'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-acl/*',
      ],
    });

    // Typed `any` in the L1: the keys are CloudFormation's own.
    const logConfiguration = { cloudWatchLogsConfiguration: { LogGroupArn: this.logGroup.logGroupArn }, logSchemaVersion: 2 };
    const stopConditions = (alarms: readonly cloudwatch.IAlarm[]) => alarms.map((alarm) => ({ source: 'aws:cloudwatch:alarm', value: alarm.alarmArn }));
    const functions = (group: FaultTarget) => ({ resourceType: 'aws:lambda:function', resourceTags: { [FAULT_TARGET_TAG]: group }, selectionMode: 'ALL' });
    const template = (id: string, description: string, rest: Omit<fis.CfnExperimentTemplateProps, 'description' | 'roleArn' | 'logConfiguration' | 'tags'>) =>
      new fis.CfnExperimentTemplate(this, id, { description, roleArn: this.role.roleArn, logConfiguration, tags: { Name: `${props.app}-${id}` }, ...rest });

    // A group's functions: some invocations fail, some start late (the FIS extension's two Lambda actions).
    const lambdaFaults = (
      id: string,
      target: string,
      group: FaultTarget,
      faults: { errorPercent: number; delayPercent: number; delayMs: number },
      stopOn: readonly cloudwatch.IAlarm[],
      description: string,
    ) =>
      template(id, description, {
        targets: { [target]: functions(group) },
        actions: {
          Errors: { actionId: 'aws:lambda:invocation-error', targets: { Functions: target }, parameters: { duration: FAULT_DURATION, invocationPercentage: String(faults.errorPercent), preventExecution: 'true' } },
          Latency: {
            actionId: 'aws:lambda:invocation-add-delay',
            targets: { Functions: target },
            parameters: { duration: FAULT_DURATION, invocationPercentage: String(faults.delayPercent), startupDelayMilliseconds: String(faults.delayMs) },
          },
        },
        stopConditions: stopConditions(stopOn),
      });

    this.templates = {
      apiFaults: lambdaFaults('ApiFaults', 'ApiFunctions', 'api', { errorPercent: 5, delayPercent: 25, delayMs: 1000 }, props.stopOn.api,
        'API functions: 5 % of invocations fail and 25 % start 1 s late, for 10 minutes; stops on the API fast-burn alarms'),
      workerFaults: lambdaFaults('WorkerFaults', 'WorkerFunctions', 'workers', { errorPercent: 10, delayPercent: 50, delayMs: 2000 }, props.stopOn.workers,
        'Worker functions: 10 % of invocations fail and half start 2 s late, for 10 minutes; stops on a dead-letter or the outbox alarm'),
      databaseFailover: template('DatabaseFailover', 'PostgreSQL rebooted with a forced Multi-AZ failover; stops on the API fast-burn alarms', {
        targets: { Database: { resourceType: 'aws:rds:db', resourceArns: [databaseArn], selectionMode: 'ALL' } },
        actions: { Failover: { actionId: 'aws:rds:reboot-db-instances', targets: { DBInstances: 'Database' }, parameters: { forceFailover: 'true' } } },
        stopConditions: stopConditions(props.stopOn.api),
      }),
      dynamoDbUnreachable: template('DynamoDbUnreachable', "DynamoDB unreachable from the functions' subnets for 5 minutes (network ACL); stops on the API fast-burn alarms", {
        targets: { Subnets: { resourceType: 'aws:ec2:subnet', resourceArns: subnetArns, selectionMode: 'ALL' } },
        actions: { Disrupt: { actionId: 'aws:network:disrupt-connectivity', targets: { Subnets: 'Subnets' }, parameters: { scope: 'dynamodb', duration: 'PT5M' } } },
        stopConditions: stopConditions(props.stopOn.api),
      }),
    };
  }
}
