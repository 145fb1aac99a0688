import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { buildQueryString } from '@smithy/querystring-builder';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sigv4 } from '../../functions/shared/sigv4';

// TaskFlow's SigV4 is written by hand for the bundle budget; here it must sign exactly as the SDK's own signer does.
const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', AWS_SESSION_TOKEN: 'session/token+1=' };
const region = 'eu-west-1';

function reference(service: string, credentials = env) {
  return new SignatureV4({
    service,
    region,
    ...(service === 's3' ? { uriEscapePath: false } : {}),
    credentials: {
      accessKeyId: credentials.AWS_ACCESS_KEY_ID,
      secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY,
      ...(credentials.AWS_SESSION_TOKEN ? { sessionToken: credentials.AWS_SESSION_TOKEN } : {}),
    },
    sha256: Hash.bind(null, 'sha256'),
  });
}

const requestFor = (method: string, url: URL, headers: Record<string, string>, body?: string, query?: Record<string, string>) =>
  new HttpRequest({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    headers: { host: url.host, ...headers },
    ...(body === undefined ? {} : { body }),
    ...(query ? { query } : {}),
  });

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-12-05T06:07:08.901Z'), toFake: ['Date'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('SigV4 request signing, against @smithy/signature-v4', () => {
  const cases: { name: string; service: string; method: string; url: string; headers: Record<string, string>; body?: string; credentials?: typeof env }[] = [
    {
      name: 'a DynamoDB JSON call with a session token',
      service: 'dynamodb', method: 'POST', url: 'https://dynamodb.eu-west-1.amazonaws.com/',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' },
      body: JSON.stringify({ TableName: 'taskflow-rate-limits', Item: { pk: { S: 'user#ü 1' } } }),
    },
    {
      name: 'an SQS call on a local endpoint with a port, without a session token',
      service: 'sqs', method: 'POST', url: 'http://127.0.0.1:9324/',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage', 'user-agent': 'not signed' },
      body: '{"QueueUrl":"http://127.0.0.1:9324/000000000000/q","MessageBody":"  spaced   body "}',
      credentials: { ...env, AWS_SESSION_TOKEN: '' },
    },
    {
      name: 'an S3 PUT of a key with escaped characters, signed as sent',
      service: 's3', method: 'PUT', url: 'https://files.s3.eu-west-1.amazonaws.com/org/a%20b%2Bc/%C3%BC%27s%20file.txt',
      headers: { 'content-type': 'text/plain', 'x-amz-copy-source': '/files/org/x%20y' },
      body: 'hello, S3',
    },
    { name: 'an S3 HEAD without a body', service: 's3', method: 'HEAD', url: 'http://127.0.0.1:4569/files/org/key', headers: {} },
    {
      name: 'an @connections POST, its path escaped again and normalized',
      service: 'execute-api', method: 'POST', url: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/./x/../@connections/Abc%3D',
      headers: { 'content-type': 'application/octet-stream' },
      body: '{"seq":1}',
    },
    { name: 'an @connections DELETE', service: 'execute-api', method: 'DELETE', url: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/Abc%3D', headers: {} },
  ];

  for (const { name, service, method, url, headers, body, credentials = env } of cases) {
    it(`signs ${name} exactly as the SDK`, async () => {
      const target = new URL(url);
      const ours = sigv4(service, region, credentials).sign({ method, url: target, headers, ...(body === undefined ? {} : { body }) });
      const theirs = await reference(service, credentials).sign(requestFor(method, target, headers, body));
      expect(ours).toEqual(theirs.headers);
      expect(ours.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261205\/eu-west-1\/[a-z0-9-]+\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/);
    });
  }

  it('presigns an S3 download link exactly as the SDK (unsigned payload, a disposition with quotes and UTF-8)', async () => {
    const url = new URL('https://files.s3.eu-west-1.amazonaws.com/org/report%20%281%29.pdf');
    const query = { 'response-content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent("Ünïcode (1)'s report.pdf")}` };
    const headers = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    const ours = sigv4('s3', region, env).presign({ method: 'GET', url, query, headers }, 300);
    const theirs = await reference('s3').presign(requestFor('GET', url, headers, undefined, query), { expiresIn: 300 });
    expect(ours).toBe(buildQueryString(theirs.query ?? {}));
    expect(ours).toContain('X-Amz-Expires=300');
    expect(ours).toContain('X-Amz-Security-Token=session%2Ftoken%2B1%3D');
  });

  it('changes the signature when anything signed changes', () => {
    const signer = sigv4('dynamodb', region, env);
    const url = new URL('https://dynamodb.eu-west-1.amazonaws.com/');
    const base = signer.sign({ method: 'POST', url, headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' }, body: '{}' }).authorization;
    expect(signer.sign({ method: 'POST', url, headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' }, body: '{ }' }).authorization).not.toBe(base);
    expect(signer.sign({ method: 'POST', url, headers: { 'x-amz-target': 'DynamoDB_20120810.PutItem' }, body: '{}' }).authorization).not.toBe(base);
    expect(sigv4('dynamodb', 'us-east-1', env).sign({ method: 'POST', url, headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' }, body: '{}' }).authorization).not.toBe(base);
  });

  it('refuses to sign without credentials in the environment', () => {
    expect(() => sigv4('sqs', region, {}).sign({ method: 'POST', url: new URL('https://sqs.eu-west-1.amazonaws.com/') })).toThrow('AWS credentials are not in the environment');
  });
});
