import { Hash } from '@smithy/hash-node';
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
