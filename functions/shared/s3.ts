import { createHmac } from 'node:crypto';
import { countAwsCall } from './aws-calls';
import { requiredEnv } from './env';
import { amzDate, credentialsFrom, sigv4 } from './sigv4';

// The files bucket (FILES_BUCKET_NAME), through S3's REST API signed with SigV4: a handful of calls
// instead of the SDK client. AWS_ENDPOINT_URL_S3 (the local runtime's s3rver) is addressed path-style.

function bucketUrl(env: NodeJS.ProcessEnv = process.env): URL {
  const bucket = requiredEnv('FILES_BUCKET_NAME');
  const endpoint = env.AWS_ENDPOINT_URL_S3;
  return endpoint ? new URL(`${endpoint.replace(/\/$/, '')}/${bucket}/`) : new URL(`https://${bucket}.s3.${requiredEnv('AWS_REGION')}.amazonaws.com/`);
}

const objectUrl = (key: string) => new URL(key.split('/').map(encodeURIComponent).join('/'), bucketUrl());

async function signed(method: string, url: URL, headers: Record<string, string> = {}, body?: string | Uint8Array) {
  // Counted by S3's price classes: PUT, COPY, POST and LIST are one, GET and HEAD another; DELETE is free.
  countAwsCall('s3', method, requiredEnv('FILES_BUCKET_NAME'), body === undefined ? 0 : Buffer.byteLength(body));
  // Signed as its SHA-256 (x-amz-content-sha256): S3 refuses a body that is not the one signed.
  const signedHeaders = sigv4('s3', requiredEnv('AWS_REGION')).sign({ method, url, headers, ...(body === undefined ? {} : { body }) });
  return fetch(url, { method, headers: signedHeaders, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(5_000) });
}

/** Writes (or overwrites) an object; in the versioned bucket, an overwritten version stays. */
export async function putObject(key: string, body: string | Uint8Array, contentType: string): Promise<void> {
  const response = await signed('PUT', objectUrl(key), { 'content-type': contentType }, body);
  if (!response.ok) throw new Error(`S3 PUT ${key}: ${response.status} ${(await response.text()).slice(0, 200)}`);
  await response.body?.cancel();
}

/** Writes a JSON document (application/json). */
export const putJson = (key: string, document: unknown) => putObject(key, JSON.stringify(document), 'application/json');

export interface ObjectHead {
  size: number;
  contentType: string;
  metadata: Record<string, string>;
}

/** The object's size, type and user metadata; null when it is not there. */
export async function headObject(key: string): Promise<ObjectHead | null> {
  const response = await signed('HEAD', objectUrl(key));
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`S3 HEAD ${key}: ${response.status}`);
  const metadata: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = value;
  });
  return { size: Number(response.headers.get('content-length')), contentType: response.headers.get('content-type') ?? '', metadata };
}

export async function copyObject(from: string, to: string): Promise<void> {
  const bucket = requiredEnv('FILES_BUCKET_NAME');
  const response = await signed('PUT', objectUrl(to), { 'x-amz-copy-source': `/${bucket}/${from.split('/').map(encodeURIComponent).join('/')}` });
  const body = await response.text();
  // A copy can fail after a 200 (the error is in the body).
  if (!response.ok || body.includes('<Error>')) throw new Error(`S3 copy ${from} → ${to}: ${response.status} ${body.slice(0, 200)}`);
}

/** Deletes the object; in the versioned bucket, its versions stay (a delete marker hides them). */
export async function deleteObject(key: string): Promise<void> {
  const response = await signed('DELETE', objectUrl(key));
  if (!response.ok && response.status !== 404) throw new Error(`S3 DELETE ${key}: ${response.status}`);
}

/** A time-limited download link that names the file. */
export async function presignedGet(key: string, fileName: string, expiresIn: number): Promise<string> {
  const url = objectUrl(key);
  const query = { 'response-content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(fileName)}` };
  // A presigned URL's body is not signed (the SDK's presigner says so the same way).
  const signedQuery = sigv4('s3', requiredEnv('AWS_REGION')).presign({ method: 'GET', url, query, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, expiresIn);
  // Encoded as the signer encoded it (RFC 3986), not as URLSearchParams would (`+` for spaces).
  return `${url.href}?${signedQuery}`;
}

export interface PostPolicy {
  key: string;
  contentType: string;
  /** The file's size must be within these (content-length-range). */
  minBytes: number;
  maxBytes: number;
  expiresIn: number;
  /** Stored with the object as x-amz-meta-<name> (each must be sent exactly as given). */
  metadata: Record<string, string>;
}

/**
 * A presigned POST (browser-based upload, SigV4): S3 itself refuses anything the policy does not allow
 * — another key, another type, a file outside `minBytes`–`maxBytes`, an expired form.
 */
export function presignedPost(policy: PostPolicy, now = new Date()): { url: string; fields: Record<string, string>; expiresAt: string } {
  const region = requiredEnv('AWS_REGION');
  const { accessKeyId, secretAccessKey, sessionToken } = credentialsFrom();
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const credential = `${accessKeyId}/${day}/${region}/s3/aws4_request`;
  const expiresAt = new Date(now.getTime() + policy.expiresIn * 1000).toISOString();
  const fields: Record<string, string> = {
    key: policy.key,
    'Content-Type': policy.contentType,
    ...Object.fromEntries(Object.entries(policy.metadata).map(([name, value]) => [`x-amz-meta-${name}`, value])),
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': credential,
    'x-amz-date': date,
    ...(sessionToken ? { 'x-amz-security-token': sessionToken } : {}),
  };
  const document = {
    expiration: expiresAt,
    conditions: [
      { bucket: requiredEnv('FILES_BUCKET_NAME') },
      ['eq', '$key', policy.key],
      ['eq', '$Content-Type', policy.contentType],
      ['content-length-range', policy.minBytes, policy.maxBytes],
      ...Object.entries(fields)
        .filter(([name]) => name.startsWith('x-amz-'))
        .map(([name, value]) => ({ [name]: value })),
    ],
  };
  const encoded = Buffer.from(JSON.stringify(document)).toString('base64');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), 's3'), 'aws4_request');
  return {
    url: bucketUrl().href.replace(/\/$/, ''),
    fields: { ...fields, policy: encoded, 'x-amz-signature': createHmac('sha256', signingKey).update(encoded).digest('hex') },
    expiresAt,
  };
}
