import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * A SigV4 signer with the credentials in `env` — in Lambda, the execution role's, which Lambda puts in
 * the environment. TaskFlow signs its few AWS calls itself (an RDS IAM token, DynamoDB's and SQS's JSON APIs, S3)
 * instead of bundling SDK clients whose default credential chain alone is ~270 KB (the bundle budget, docs/architecture.md).
 */
export function sigv4(service: string, region: string, env: NodeJS.ProcessEnv = process.env): SignatureV4 {
  return new SignatureV4({
    service,
    region,
    // S3 signs the path as it is sent (its keys are already escaped) and wants x-amz-content-sha256.
    ...(service === 's3' ? { uriEscapePath: false, applyChecksum: true } : {}),
    credentials: async () => credentialsFrom(env),
    sha256: Hash.bind(null, 'sha256'),
  });
}

/** The credentials Lambda puts in the environment (the execution role's). */
export function credentialsFrom(env: NodeJS.ProcessEnv = process.env) {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (!accessKeyId || !secretAccessKey) throw new Error('AWS credentials are not in the environment');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/**
 * An AWS service's endpoint (AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL, as the SDK honours them, so the local
 * runtime's emulators are reached unchanged) and a SigV4-signed POST to it.
 */
export function signedService(service: string, endpointVariable: string, env: NodeJS.ProcessEnv = process.env) {
  const region = env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION is not set');
  const endpoint = new URL(env[endpointVariable] ?? env.AWS_ENDPOINT_URL ?? `https://${service}.${region}.amazonaws.com`);
  const signer = sigv4(service, region, env);
  return {
    endpoint,
    async post(path: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Response> {
      const signed = await signer.sign(
        new HttpRequest({
          method: 'POST',
          protocol: endpoint.protocol,
          hostname: endpoint.hostname,
          ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
          path,
          headers: { host: endpoint.host, ...headers },
          body,
        }),
      );
      return fetch(new URL(path, endpoint), { method: 'POST', headers: signed.headers, body, signal });
    },
  };
}
