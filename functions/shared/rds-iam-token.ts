import { sigv4 } from './sigv4';

/**
 * An RDS IAM authentication token: a SigV4-presigned `connect` request, valid 15 minutes. This is
 * what `@aws-sdk/rds-signer` does (test/unit/rds-iam-token.test.ts checks it token for token).
 */
export function rdsIamTokenSigner(options: { hostname: string; port: number; username: string; region: string }) {
  const signer = sigv4('rds-db', options.region);
  const url = new URL(`https://${options.hostname}/`);
  // The port is signed as part of the host, even the default one.
  const headers = { host: `${options.hostname}:${options.port}` };
  return async function token(): Promise<string> {
    const query = signer.presign({ method: 'GET', url, headers, query: { Action: 'connect', DBUser: options.username } }, 900);
    return `${options.hostname}:${options.port}/?${query}`;
  };
}
