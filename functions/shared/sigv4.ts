import { createHash, createHmac } from 'node:crypto';
import { Http1Pool, type Http1Response } from './http1';

/*
 * AWS Signature Version 4, by hand on node:crypto. TaskFlow signs its few AWS calls itself (an RDS IAM token, DynamoDB's
 * and SQS's JSON APIs, S3, @connections) instead of bundling SDK clients, whose default credential chain alone is
 * ~270 KB, or even @smithy/signature-v4 (~15 KB in every API bundle): the bundle budget, docs/architecture.md.
 * test/unit/sigv4.test.ts pins it to @smithy/signature-v4, signature for signature.
 */

export interface SignableRequest {
  method: string;
  /** Where the request goes: its host and path are signed (its own query string is not: use `query`). */
  url: URL;
  /** Header names in lower case; `host` is the URL's unless given. */
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export interface Signer {
  /** The headers to send: the request's, `host`, and the signature's (authorization, x-amz-date, x-amz-content-sha256, x-amz-security-token). */
  sign(request: SignableRequest): Record<string, string>;
  /** A presigned request's query string (its own parameters, then the signature's), valid for `expiresIn` seconds. */
  presign(request: SignableRequest & { query?: Record<string, string> }, expiresIn: number): string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const CONTENT_SHA256 = 'x-amz-content-sha256';
// Headers a proxy may change on the way, never signed (as the SDK's signer leaves them out).
const UNSIGNABLE = new Set(['authorization', 'cache-control', 'connection', 'expect', 'from', 'keep-alive', 'max-forwards', 'pragma', 'referer', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'x-amzn-trace-id']);

const signedNames = (headers: Record<string, string>) =>
  Object.keys(headers)
    .filter((name) => !UNSIGNABLE.has(name) && !/^(proxy|sec)-/.test(name))
    .sort();

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 percent-encoding (encodeURIComponent leaves !'()* as they are). */
const escapeUri = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The query string, sorted by encoded name, as SigV4 signs it and as a presigned URL carries it. */
const queryString = (query: Record<string, string>) =>
  Object.entries(query)
    .map(([name, value]) => [escapeUri(name), escapeUri(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');

/** A SigV4 signer for `service` in `region` with the credentials in `env` (in Lambda, the execution role's). */
export function sigv4(service: string, region: string, env: NodeJS.ProcessEnv = process.env): Signer {
  // S3 signs the path as it is sent (its keys are already escaped); every other service its normalized, escaped form.
  const canonicalPath = service === 's3' ? (path: string) => path : normalizedPath;

  function signature(method: string, url: URL, query: Record<string, string>, headers: Record<string, string>, payloadHash: string, longDate: string) {
    const names = signedNames(headers);
    const canonicalHeaders = names.map((name) => `${name}:${headers[name]!.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '')}\n`).join('');
    const signedHeaders = names.join(';');
    const canonicalRequest = [method, canonicalPath(url.pathname), queryString(query), canonicalHeaders, signedHeaders, payloadHash].join('\n');
    const shortDate = longDate.slice(0, 8);
    const scope = `${shortDate}/${region}/${service}/aws4_request`;
    const stringToSign = [ALGORITHM, longDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const { secretAccessKey } = credentialsFrom(env);
    const key = signingKey(secretAccessKey, shortDate, region, service);
    return { scope, signedHeaders, signature: createHmac('sha256', key).update(stringToSign).digest('hex') };
  }

  return {
    sign({ method, url, headers = {}, body }) {
      const { accessKeyId, sessionToken } = credentialsFrom(env);
      const longDate = amzDate(new Date());
      const payloadHash = headers[CONTENT_SHA256] ?? sha256Hex(body ?? '');
      const signed: Record<string, string> = {
        host: url.host,
        ...withoutGenerated(headers),
        'x-amz-date': longDate,
        ...(sessionToken ? { 'x-amz-security-token': sessionToken } : {}),
        [CONTENT_SHA256]: payloadHash,
      };
      const { scope, signedHeaders, signature: sig } = signature(method, url, {}, signed, payloadHash, longDate);
      return { ...signed, authorization: `${ALGORITHM} Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}` };
    },

    presign({ method, url, headers = {}, body, query = {} }, expiresIn) {
      const { accessKeyId, sessionToken } = credentialsFrom(env);
      const longDate = amzDate(new Date());
      const payloadHash = headers[CONTENT_SHA256] ?? sha256Hex(body ?? '');
      // x-amz-* headers travel in the query string of a presigned URL; the rest stay headers (host, at least).
      const all = { host: url.host, ...withoutGenerated(headers) };
      const kept = Object.fromEntries(Object.entries(all).filter(([name]) => !name.startsWith('x-amz-')));
      const hoisted = Object.fromEntries(Object.entries(all).filter(([name]) => name.startsWith('x-amz-')));
      const signedQuery: Record<string, string> = {
        ...query,
        ...hoisted,
        ...(sessionToken ? { 'X-Amz-Security-Token': sessionToken } : {}),
        'X-Amz-Algorithm': ALGORITHM,
        'X-Amz-Credential': `${accessKeyId}/${longDate.slice(0, 8)}/${region}/${service}/aws4_request`,
        'X-Amz-Date': longDate,
        'X-Amz-Expires': String(expiresIn),
        'X-Amz-SignedHeaders': signedNames(kept).join(';'),
      };
      const { signature: sig } = signature(method, url, signedQuery, kept, payloadHash, longDate);
      return queryString({ ...signedQuery, 'X-Amz-Signature': sig });
    },
  };
}

// The signing key changes with the day and the credentials only: four HMACs saved on every request (a feed fan-out
// signs hundreds of posts in a row).
const signingKeys = new Map<string, Buffer>();

function signingKey(secretAccessKey: string, shortDate: string, region: string, service: string): Buffer {
  const id = [secretAccessKey, shortDate, region, service].join('\n');
  let key = signingKeys.get(id);
  if (!key) {
    key = [shortDate, region, service, 'aws4_request'].reduce<string | Buffer>((k, part) => hmac(k, part), `AWS4${secretAccessKey}`) as Buffer;
    // Rotated credentials and past days are not kept.
    if (signingKeys.size >= 16) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}

/** The path with `.`, `..` and empty segments resolved, percent-encoded again segment by segment. */
function normalizedPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

// Headers the signature itself sets: a caller's would be stale.
const withoutGenerated = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'authorization' && name !== 'x-amz-date' && name !== 'date'));

/** YYYYMMDD'T'HHMMSS'Z', the form SigV4 dates take. */
export const amzDate = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/** The credentials Lambda puts in the environment (the execution role's). */
export function credentialsFrom(env: NodeJS.ProcessEnv = process.env) {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (!accessKeyId || !secretAccessKey) throw new Error('AWS credentials are not in the environment');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/**
 * An AWS service's endpoint (AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL, as the SDK honours them, so the local
 * runtime's emulators are reached unchanged) and SigV4-signed requests to it, over the kept-alive HTTP/1.1 client
 * (http1.ts): fetch's own machinery cost a read request about as much CPU as the rest of its handler.
 */
export function signedService(service: string, endpointVariable: string, env: NodeJS.ProcessEnv = process.env) {
  const region = env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION is not set');
  const endpoint = new URL(env[endpointVariable] ?? env.AWS_ENDPOINT_URL ?? `https://${service}.${region}.amazonaws.com`);
  const signer = sigv4(service, region, env);
  return {
    /** The service's signing name (`dynamodb`, `sqs`, `execute-api`…). */
    name: service,
    endpoint,
    /** `method` and `path` name the operation for the REST-JSON services (AWS Backup, Lambda); POST / for the JSON ones. */
    send(method: string, path: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<Http1Response> {
      const url = new URL(path, endpoint);
      return awsConnections.request({ method, url, headers: signer.sign({ method, url, headers, body }), ...(body === undefined ? {} : { body }), timeoutMs });
    },
  };
}

// One pool for every AWS endpoint a function calls: its sockets are kept per origin.
const awsConnections = new Http1Pool();
