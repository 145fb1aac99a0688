import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SYNTHETIC_OPERATIONS } from '../../functions/domain/synthetic-transaction';
import { functionId } from '../declaration';
import { type CapabilityModule, required } from './capability';
import { acknowledgeNag } from '../constructs/nag';

/**
 * The canary's pre-traffic hook: it runs the synthetic transaction by invoking the route functions it calls
 * (SYNTHETIC_FUNCTIONS: operationId → the SSM parameter holding the function's `live` alias ARN, read when the hook
 * runs, since those functions are in stacks that deploy alongside the hook's; locally, the function's name), the one
 * being deployed at its new version, which it learns from CodeDeploy (GetDeployment). Out of the VPC: it uploads the
 * file to S3's public endpoint as a browser would, and calls CodeDeploy and Lambda.
 */
export const syntheticTransaction: CapabilityModule = {
  summary: 'Invokes the functions of the synthetic transaction and reads the deployment it gates (the pre-traffic hook)',
  network: 'internet',
  internetBecause: 'it uploads the transaction\'s file to S3 with a presigned POST, as a browser does, and calls the Lambda and CodeDeploy APIs',
  // Where CodeDeploy answers: locally, nothing runs CodeDeploy, so whoever invokes the hook says where (its tests' fake).
  settings: ['AWS_ENDPOINT_URL_CODEDEPLOY'],
  aws(platform) {
    const functions = required(platform.syntheticFunctions, 'synthetic-transaction', 'the synthetic transaction\'s functions');
    return {
      environment: { SYNTHETIC_FUNCTIONS: JSON.stringify(functions) },
      grant(fn) {
        const stack = Stack.of(fn);
        const parameterArns = Object.values(functions).map((name) =>
          stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: name.replace(/^\//, '') }),
        );
        // The functions' names are CloudFormation's (`<stack>-<id><hash>`): known only to the stacks that hold them.
        // `/TaskFlow/reads/listActivity-arn` → the functions of the stack TaskFlow-Reads.
        const stackNames = [...new Set(Object.values(functions).map((name) => {
          const [, app, group] = name.split('/');
          return `${app}-${group!.charAt(0).toUpperCase()}${group!.slice(1)}`;
        }))];
        const functionArns = stackNames.flatMap((stackName) => {
          const arn = stack.formatArn({ service: 'lambda', resource: 'function', resourceName: `${stackName}-*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
          return [arn, `${arn}:*`];
        });
        const deploymentGroups = stack.formatArn({ service: 'codedeploy', resource: 'deploymentgroup', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: parameterArns }));
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: functionArns }));
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['codedeploy:GetDeployment'], resources: [deploymentGroups] }));
        acknowledgeNag(fn, {
          id: 'AwsSolutions-IAM5',
          reason:
            'The pre-traffic hook invokes the route functions of the synthetic transaction, whose names CloudFormation gives ' +
            'them in their own stacks (`TaskFlow-Reads-…`, `TaskFlow-Mutations-…`, any version or alias), and reads the ' +
            'deployment it was called for, whose group it cannot know in advance (GetDeployment takes a deployment id).',
          appliesTo: [...functionArns, deploymentGroups].map((arn) => `Resource::${nagArn(stack, arn)}`),
        });
      },
    };
  },
  local: ({ lambda }) => ({
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    SYNTHETIC_FUNCTIONS: JSON.stringify(Object.fromEntries(SYNTHETIC_OPERATIONS.map((operationId) => [operationId, functionId({ operationId })]))),
  }),
};

/** An ARN as cdk-nag names it in a finding: `arn:<AWS::Partition>:…:<AWS::Region>:<AWS::AccountId>:…`. */
function nagArn(stack: Stack, arn: string): string {
  return stack.resolve(arn)['Fn::Join'][1].map((part: unknown) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`)).join('');
}
