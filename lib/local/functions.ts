import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';
import { checkNeeds, localEnvironment } from '../capabilities/combine';
import type { LocalServices } from '../capabilities/capability';
import { FUNCTION_ENVIRONMENT, FUNCTION_SETTINGS } from '../capabilities/function-environment';
import { DEFAULT_MEMORY_MB, type FunctionDeclaration } from '../declaration';
import { runtimeEnvironment, withEnvironment } from './environment';
import { loadHandler } from './invoke';

// Lambda runs one invocation per environment at a time, except on Lambda Managed Instances, where an environment runs
// several at once: Lambda then sets AWS_LAMBDA_MAX_CONCURRENCY, and its runtime runs each invocation in its own
// InvokeStore context (AsyncLocalStorage), where Powertools keeps what belongs to one invocation (the logger's Lambda
// context and correlation id, a batch's records, metrics). The local runtime runs many invocations in one process, so
// it runs them that way too: otherwise the shared logger names whichever function set its context last.
const invokeStore = await InvokeStore.getInstanceAsync(true);
// A store for one invocation at a time, made before this module loaded, would keep them apart in name only.
if (!invokeStore.run({}, () => (invokeStore.run({ nested: true }, () => undefined), !invokeStore.get('nested')))) {
  throw new Error('An InvokeStore for one invocation at a time exists already: load lib/local/functions.ts before any AWS SDK or Powertools call');
}
/** What the local runtime tells Powertools: no limit is enforced here, it only has to be set. */
const LOCAL_MAX_CONCURRENCY = '1000';

/** What Lambda itself puts in every function's environment (the region and the execution role's credentials). */
function lambdaEnvironment(functionName: string, declaration: FunctionDeclaration): Record<string, string> {
  const process = runtimeEnvironment();
  return {
    AWS_REGION: process.AWS_REGION ?? 'us-east-1',
    AWS_DEFAULT_REGION: process.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: process.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.AWS_SECRET_ACCESS_KEY ?? 'local',
    ...(process.AWS_SESSION_TOKEN ? { AWS_SESSION_TOKEN: process.AWS_SESSION_TOKEN } : {}),
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(declaration.memoryMb ?? DEFAULT_MEMORY_MB),
    AWS_LAMBDA_MAX_CONCURRENCY: LOCAL_MAX_CONCURRENCY,
  };
}

/**
 * The environment one invocation of a declared function sees on the local runtime: what Lambda sets, TaskFlow's
 * defaults for every function, and what its capabilities and `sendsTo` give it (lib/capabilities/), with the
 * settings the runtime's own environment sets at that moment. Nothing else: as in Lambda, a function that did not
 * declare a capability does not have its variables.
 */
export function functionEnvironment(functionName: string, declaration: FunctionDeclaration, services: LocalServices): () => Record<string, string> {
  checkNeeds(declaration);
  return () => {
    const process = runtimeEnvironment();
    const settings = Object.fromEntries(FUNCTION_SETTINGS.flatMap((name) => (process[name] === undefined ? [] : [[name, process[name]!]])));
    return { ...lambdaEnvironment(functionName, declaration), ...FUNCTION_ENVIRONMENT, ...settings, ...localEnvironment(declaration, services, process) };
  };
}

/**
 * A declared function's handler as the local runtime invokes it: loaded (its module initialized) and run inside its
 * own environment (functionEnvironment) and its own invocation context (the InvokeStore, as on Lambda Managed
 * Instances), so the same handler code sees what it would see in Lambda, however many invocations run at once.
 */
export function localHandler<E, R>(functionName: string, declaration: FunctionDeclaration, services: LocalServices): (event: E, context: Context) => Promise<R> {
  const environment = functionEnvironment(functionName, declaration, services);
  return (event, context) =>
    withEnvironment(environment(), () =>
      invokeStore.run({ [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: context.awsRequestId }, async () => {
        const handler = await loadHandler<(event: E, context: Context) => Promise<R>>(declaration.entry);
        return handler(event, context);
      }),
    );
}
