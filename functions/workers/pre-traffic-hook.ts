import { runSyntheticTransaction, SYNTHETIC_ORGANIZATION, SYNTHETIC_USER, type SyntheticCall } from '../domain/synthetic-transaction';
import { awsJson } from '../shared/aws-json';
import { requiredEnv } from '../shared/env';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { invokeClient } from './synthetic-clients';

/** What CodeDeploy invokes a lifecycle hook with. */
export interface LifecycleHookEvent {
  DeploymentId: string;
  LifecycleEventHookExecutionId: string;
}

/** The function version a Lambda deployment moves its alias to, from the deployment's AppSpec. */
export interface DeploymentTarget {
  functionName: string;
  version: string;
}

// CodeDeploy fails a deployment whose hook has not reported after an hour: the transaction gets a few minutes at most.
const TRANSACTION_TIMEOUT_MS = 120_000;

const codeDeploy = () => awsJson({ service: 'codedeploy', endpointVariable: 'AWS_ENDPOINT_URL_CODEDEPLOY', targetPrefix: 'CodeDeploy_20141006', timeoutMs: 10_000, jsonVersion: '1.1' });
const ssm = () => awsJson({ service: 'ssm', endpointVariable: 'AWS_ENDPOINT_URL_SSM', targetPrefix: 'AmazonSSM', timeoutMs: 10_000, jsonVersion: '1.1' });

/**
 * The canary's pre-traffic hook (CodeDeploy BeforeAllowTraffic): runs the synthetic transaction with the deployed
 * function at its new version (the others at their `live` alias) before any traffic moves to it, and reports
 * Succeeded or Failed to CodeDeploy — Failed too when the hook itself fails (a hook that never reports fails the
 * deployment only after an hour). A failed transaction stops the deployment: the alias stays on the previous version.
 * Its lines carry the deployment's id as their correlation id.
 */
export const handler = lambdaHandler(runHook, (event) => event.DeploymentId);

async function runHook(event: LifecycleHookEvent): Promise<{ status: 'Succeeded' | 'Failed' }> {
  let status: 'Succeeded' | 'Failed' = 'Failed';
  try {
    const target = await deploymentTarget(event.DeploymentId);
    const functions = await syntheticFunctions();
    const exercised = Object.entries(functions).filter(([, name]) => functionNameOf(name) === target.functionName).map(([operationId]) => operationId);
    const functionOf = (call: SyntheticCall) => {
      const name = functions[call.operationId];
      if (!name) throw new Error(`SYNTHETIC_FUNCTIONS names no function for ${call.operationId}`);
      return functionNameOf(name) === target.functionName ? `${target.functionName}:${target.version}` : name;
    };
    const outcome = await runSyntheticTransaction(
      invokeClient(functionOf, { orgId: SYNTHETIC_ORGANIZATION, userId: SYNTHETIC_USER }, Date.now() + TRANSACTION_TIMEOUT_MS),
      SYNTHETIC_ORGANIZATION,
    );
    status = 'Succeeded';
    logger.info('synthetic transaction passed', { deploymentId: event.DeploymentId, target, exercised, steps: outcome.steps });
  } catch (error) {
    logger.error('synthetic transaction failed: the deployment stops', { deploymentId: event.DeploymentId, error: error as Error });
  }
  await codeDeploy()('PutLifecycleEventHookExecutionStatus', {
    deploymentId: event.DeploymentId,
    lifecycleEventHookExecutionId: event.LifecycleEventHookExecutionId,
    status,
  });
  return { status };
}

/** `arn:aws:lambda:r:a:function:NAME:live`, `NAME:live` or `NAME` → NAME. */
function functionNameOf(reference: string): string {
  return reference.replace(/^arn:[^:]+:lambda:[^:]*:[^:]*:function:/, '').split(':')[0]!;
}

/**
 * operationId → the function serving it: SYNTHETIC_FUNCTIONS holds each one's name, or the SSM parameter (a path,
 * `/TaskFlow/…`) its stack writes its `live` alias ARN to, read now.
 */
async function syntheticFunctions(): Promise<Record<string, string>> {
  const declared = JSON.parse(requiredEnv('SYNTHETIC_FUNCTIONS')) as Record<string, string>;
  const entries = await Promise.all(
    Object.entries(declared).map(async ([operationId, reference]) => {
      if (!reference.startsWith('/')) return [operationId, reference] as const;
      const { Parameter } = await ssm()<{ Parameter?: { Value?: string } }>('GetParameter', { Name: reference });
      if (!Parameter?.Value) throw new Error(`the SSM parameter ${reference} has no value`);
      return [operationId, Parameter.Value] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** The function and version the deployment moves to, from its AppSpec (CloudFormation writes it as JSON or YAML). */
export async function deploymentTarget(deploymentId: string): Promise<DeploymentTarget> {
  const { deploymentInfo } = await codeDeploy()<{ deploymentInfo?: { revision?: { appSpecContent?: { content?: string }; string?: { content?: string } } } }>(
    'GetDeployment',
    { deploymentId },
  );
  const content = deploymentInfo?.revision?.appSpecContent?.content ?? deploymentInfo?.revision?.string?.content ?? '';
  const field = (name: string) => new RegExp(`"?${name}"?\\s*:\\s*"?([^"\\s,}]+)`).exec(content)?.[1];
  const functionName = field('Name');
  const version = field('TargetVersion');
  if (!functionName || !version) throw new Error(`deployment ${deploymentId}: no function and target version in its AppSpec`);
  return { functionName: functionNameOf(functionName), version };
}
