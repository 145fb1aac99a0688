import { Arn, ArnFormat, Aws, Stack, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { taskflow } from '../app';
import { TaskFlowFunction } from './function';
import { acknowledgeNag } from './nag';

// AWS FIS's Lambda actions (aws:lambda:invocation-error, -add-delay) act through the FIS Lambda extension: a layer on
// the function, started by AWS_LAMBDA_EXEC_WRAPPER, that polls an S3 location (AWS_FIS_CONFIGURATION_LOCATION) where a
// running experiment writes the fault to apply. The layer runs on every invocation and polls S3 even when no experiment
// runs, so it is opt-in: `cdk deploy -c faultInjection=true` (a staging stack's GameDays, docs/gameday.md). Without the
// flag the functions carry nothing of it and the Lambda experiment templates find no target (FIS refuses to start them).

/** The CDK context flag that puts the FIS extension on the API and worker functions. */
export const FAULT_INJECTION_CONTEXT = 'faultInjection';
/** The tag by which the Lambda experiment templates find their targets: `api` or `workers`. */
export const FAULT_TARGET_TAG = 'TaskFlowFaultTarget';
export type FaultTarget = 'api' | 'workers';
/** Where in the configuration bucket FIS writes the faults and the extension reads them. */
export const FIS_CONFIG_PREFIX = 'FisConfigs';
/** AWS's public parameter naming the extension layer's version in each region (the functions are arm64). */
export const FIS_EXTENSION_LAYER_PARAMETER = '/aws/service/fis/lambda-extension/AWS-FIS-extension-arm64/1.x.x';
/** The most an invocation waits for the extension's current configuration: a fault applies from the first one. */
const POLL_MAX_WAIT_MS = '2000';

/**
 * The configuration bucket's name, known to the function stacks before the operations stack creates the bucket
 * (it deploys last): one per account and region.
 */
export function fisConfigBucketName(): string {
  return `${taskflow.name.toLowerCase()}-fis-config-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
}

/**
 * Every TaskFlow function of `stack` gets the extension layer, its variables, read access to the configuration
 * prefix, and the tag the experiment templates target (`group`). Only with `-c faultInjection=true` (lib/stacks/taskflow.ts).
 */
export function prepareForFaultInjection(stack: Stack, group: FaultTarget): void {
  const functions = stack.node.findAll().filter((construct): construct is TaskFlowFunction => construct instanceof TaskFlowFunction);
  if (functions.length === 0) return;
  const layer = lambda.LayerVersion.fromLayerVersionArn(stack, 'FisExtension', ssm.StringParameter.valueForStringParameter(stack, FIS_EXTENSION_LAYER_PARAMETER));
  const bucket = fisConfigBucketName();
  const bucketArn = Arn.format({ service: 's3', region: '', account: '', resource: bucket, arnFormat: ArnFormat.NO_RESOURCE_NAME }, stack);
  for (const fn of functions) {
    fn.addLayers(layer);
    fn.addEnvironment('AWS_LAMBDA_EXEC_WRAPPER', '/opt/aws-fis/bootstrap');
    fn.addEnvironment('AWS_FIS_CONFIGURATION_LOCATION', `${bucketArn}/${FIS_CONFIG_PREFIX}/`);
    fn.addEnvironment('AWS_FIS_POLL_MAX_WAIT_MILLISECONDS', POLL_MAX_WAIT_MS);
    Tags.of(fn).add(FAULT_TARGET_TAG, group);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucketArn], conditions: { StringLike: { 's3:prefix': [`${FIS_CONFIG_PREFIX}/*`] } } }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${bucketArn}/${FIS_CONFIG_PREFIX}/*`] }));
    acknowledgeNag(fn, {
      id: 'AwsSolutions-IAM5',
      reason: 'The FIS extension reads the fault configurations FIS writes under one prefix of the configuration bucket (staging only: -c faultInjection=true).',
      appliesTo: [`Resource::arn:<AWS::Partition>:s3:::${taskflow.name.toLowerCase()}-fis-config-<AWS::AccountId>-<AWS::Region>/${FIS_CONFIG_PREFIX}/*`],
    });
  }
}
