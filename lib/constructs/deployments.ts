import { type CfnResource, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { deploymentGateAlarmName } from '../slo/alarm-names';
import { type DeploymentMode, lambdaDeploymentConfig } from './deployment-config';
import type { TaskFlowFunction } from './function';
import { acknowledgeNag } from './nag';
import { RollbackAlarms } from './rollback-alarms';

/** The alias every function takes its traffic through. */
export const LIVE_ALIAS = 'live';

export interface DeploymentsProps {
  /** The app's name: the SLO alarms' prefix. */
  readonly app: string;
  /** How traffic moves to a new version (`cdk deploy -c deployment=…`). */
  readonly mode: DeploymentMode;
}

export interface LiveOptions {
  /** The SLOs whose fast-burn alarm rolls this function's deployment back (lib/constructs/deployment-gates.ts). */
  readonly gates: readonly string[];
  /** The function that runs the synthetic transaction against the new version before any traffic moves to it. */
  readonly preTrafficHook?: lambda.IFunction;
}

/** One function's traffic: its alias, the version it is moving to, the deployment group that moves it, its rollback alarms. */
export interface LiveFunction {
  readonly alias: lambda.Alias;
  readonly version: lambda.Version;
  readonly group: codedeploy.LambdaDeploymentGroup;
  readonly rollback: RollbackAlarms;
}

/**
 * The canary deployments of one stack's functions (review M7): each function takes its traffic through its `live`
 * alias, which CodeDeploy moves to a new version in steps (one deployment group per alias, CodeDeploy's limit), after
 * the pre-traffic hook where there is one, rolling back on the version's own alarms and the fast-burn alarms of the
 * SLOs it gates. One CodeDeploy application and one service role per stack.
 *
 * Versions are retained (TaskFlowFunction): the previous one stays invocable after a deploy, the hour the review
 * asks and beyond, for a rollback by hand (docs/runbooks/rollback.md). Alias weights do not mix with provisioned concurrency;
 * TaskFlow's functions have none.
 */
export class Deployments extends Construct {
  readonly application: codedeploy.LambdaApplication;
  readonly config: codedeploy.ILambdaDeploymentConfig;
  readonly role: iam.Role;
  readonly functions = new Map<TaskFlowFunction, LiveFunction>();

  constructor(scope: Construct, id: string, private readonly props: DeploymentsProps) {
    super(scope, id);
    this.application = new codedeploy.LambdaApplication(this, 'Application', {
      applicationName: `${Stack.of(this).stackName}`,
    });
    this.config = lambdaDeploymentConfig(this, props.mode);
    this.role = new iam.Role(this, 'ServiceRole', {
      assumedBy: new iam.ServicePrincipal('codedeploy.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSCodeDeployRoleForLambdaLimited')],
    });
    acknowledgeNag(this.role, {
      id: 'AwsSolutions-IAM4',
      reason:
        'AWSCodeDeployRoleForLambdaLimited is the AWS-maintained minimum for CodeDeploy to move a Lambda alias, read the ' +
        'rollback alarms and invoke the hooks.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited'],
    });
  }

  /** `fn` behind its `live` alias, deployed in steps by its own deployment group. */
  live(fn: TaskFlowFunction, options: LiveOptions): LiveFunction {
    const existing = this.functions.get(fn);
    if (existing) return existing;
    const scope = new Construct(this, fn.node.id);
    const version = fn.currentVersion;
    const alias = new lambda.Alias(scope, 'Live', { aliasName: LIVE_ALIAS, version });
    const rollback = new RollbackAlarms(scope, 'Rollback', { alias, version, label: fn.node.path });
    const sloAlarms = options.gates.map((slo) =>
      cloudwatch.Alarm.fromAlarmName(scope, `Slo-${slo}`, deploymentGateAlarmName(this.props.app, slo)),
    );
    const group = new codedeploy.LambdaDeploymentGroup(scope, 'Deployment', {
      application: this.application,
      alias,
      deploymentConfig: this.config,
      role: this.role,
      alarms: [rollback.errors, rollback.latency, ...sloAlarms],
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
      ...(options.preTrafficHook ? { preHook: options.preTrafficHook } : {}),
    });
    if (options.preTrafficHook instanceof lambda.Function) {
      const hook = Stack.of(options.preTrafficHook).getLogicalId(options.preTrafficHook.node.defaultChild as CfnResource);
      acknowledgeNag(this.role, {
        id: 'AwsSolutions-IAM5',
        reason: 'CodeDeploy invokes the pre-traffic hook function (lambda:InvokeFunction on the function and its qualifiers, as CDK grants it).',
        appliesTo: [`Resource::<${hook}.Arn>:*`],
      });
    }
    // The alarms name the new version: CloudFormation updates them before it moves the alias (which starts the
    // CodeDeploy deployment), or the deployment would watch the previous version.
    alias.node.addDependency(rollback);
    const live = { alias, version, group, rollback };
    this.functions.set(fn, live);
    return live;
  }
}
