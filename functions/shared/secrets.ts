import { requiredEnv } from './env';

/**
 * A secret by name: the variable itself where it is set (the local runtime), else the Secrets Manager
 * secret named by `<NAME>_SECRET_ARN`, read through the AWS Parameters and Secrets Lambda Extension
 * (a layer CDK adds, which caches it for 5 minutes, so a rotated token is picked up), which keeps an AWS
 * SDK client (~270 KB) out of the bundle.
 */
export async function secretValue(name: string): Promise<string> {
  const direct = process.env[name];
  if (direct) return direct;
  return readSecret(requiredEnv(`${name}_SECRET_ARN`));
}

export async function readSecret(arn: string): Promise<string> {
  const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? '2773';
  const response = await fetch(`http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(arn)}`, {
    headers: { 'X-Aws-Parameters-Secrets-Token': requiredEnv('AWS_SESSION_TOKEN') },
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`reading secret ${arn} failed: ${response.status} ${await response.text()}`);
  const { SecretString } = (await response.json()) as { SecretString?: string };
  if (!SecretString) throw new Error(`secret ${arn} has no value`);
  return SecretString;
}
