import { Signer } from '@aws-sdk/rds-signer';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rdsIamTokenSigner } from '../../functions/shared/rds-iam-token';

const credentials = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', AWS_SESSION_TOKEN: 'session/token+1' };
const target = { hostname: 'taskflow-proxy.proxy-abc.eu-west-1.rds.amazonaws.com', port: 5432, username: 'taskflow_app', region: 'eu-west-1' };

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-24T10:00:00Z'), toFake: ['Date'] });
  Object.assign(process.env, credentials);
});

afterEach(() => {
  vi.useRealTimers();
  for (const name of Object.keys(credentials)) delete process.env[name];
});

describe('RDS IAM auth token', () => {
  it('is exactly the token @aws-sdk/rds-signer makes from the same credentials', async () => {
    const ours = await rdsIamTokenSigner(target)();
    const reference = await new Signer({
      ...target,
      credentials: { accessKeyId: credentials.AWS_ACCESS_KEY_ID, secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY, sessionToken: credentials.AWS_SESSION_TOKEN },
    }).getAuthToken();
    expect(ours).toBe(reference);
    expect(ours).toMatch(/^taskflow-proxy\.proxy-abc\.eu-west-1\.rds\.amazonaws\.com:5432\/\?Action=connect&DBUser=taskflow_app&/);
    expect(ours).toContain('X-Amz-Expires=900');
    expect(ours).toContain('X-Amz-Credential=AKIDEXAMPLE%2F20261124%2Feu-west-1%2Frds-db%2Faws4_request');
  });
});
