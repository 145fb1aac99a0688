import { HttpRequest } from '@smithy/protocol-http';
import { buildQueryString } from '@smithy/querystring-builder';
import { sigv4 } from './sigv4';

/**
 * An RDS IAM authentication token: a SigV4-presigned `connect` request, valid 15 minutes. This is
 * what `@aws-sdk/rds-signer` does (test/unit/rds-iam-token.test.ts checks it token for token).
 */
export function rdsIamTokenSigner(options: { hostname: string; port: number; username: string; region: string }) {
  const signer = sigv4('rds-db', options.region);
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
