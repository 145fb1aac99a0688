import { fromEnv } from '@aws-sdk/credential-provider-env';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { buildQueryString } from '@smithy/querystring-builder';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * An RDS IAM authentication token: a SigV4-presigned `connect` request, valid 15 minutes. This is
 * what `@aws-sdk/rds-signer` does, minus its default credential chain (SSO, INI, IMDS… ~270 KB of
 * bundle): in Lambda the execution role's credentials are in the environment.
 */
export function rdsIamTokenSigner(options: { hostname: string; port: number; username: string; region: string }) {
  const signer = new SignatureV4({
    service: 'rds-db',
    region: options.region,
    credentials: fromEnv(),
    sha256: Hash.bind(null, 'sha256'),
  });
  return async function token(): Promise<string> {
    const presigned = await signer.presign(
      new HttpRequest({
        method: 'GET',
        protocol: 'https:',
        hostname: options.hostname,
        port: options.port,
        path: '/',
        query: { Action: 'connect', DBUser: options.username },
        headers: { host: `${options.hostname}:${options.port}` },
      }),
      { expiresIn: 900 },
    );
    return `${options.hostname}:${options.port}/?${buildQueryString(presigned.query ?? {})}`;
  };
}
