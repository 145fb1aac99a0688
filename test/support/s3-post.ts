import { createHmac } from 'node:crypto';

// A browser-based POST upload form (AWS Signature Version 4), signed here from first principles — an
// independent check of the local S3's policy enforcement (the Lambda side signs its own in functions/shared/s3.ts).

export interface PostFormOptions {
  /** AWS_ENDPOINT_URL_S3, FILES_BUCKET_NAME, AWS_REGION and the credentials (an S3 environment). */
  environment: Record<string, string>;
  key: string;
  contentType: string;
  /** content-length-range [1, maxBytes] unless minBytes says otherwise. */
  maxBytes: number;
  minBytes?: number;
  /** Seconds from `now` until the policy expires (negative: already expired). Default 300. */
  expiresIn?: number;
  now?: Date;
  /** Signed with this secret instead of the environment's (a bad signature). */
  secretAccessKey?: string;
  /** More fields, each covered by an exact condition. */
  fields?: Record<string, string>;
  /** Conditions added as given. */
  conditions?: unknown[];
}

export interface PostForm {
  /** <endpoint>/<bucket>, path-style. */
  url: string;
  fields: Record<string, string>;
  /** The decoded policy document. */
  policy: { expiration: string; conditions: unknown[] };
}

export function signedPostForm(options: PostFormOptions): PostForm {
  const env = options.environment;
  const now = options.now ?? new Date();
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const region = env.AWS_REGION!;
  const bucket = env.FILES_BUCKET_NAME!;
  const fields: Record<string, string> = {
    key: options.key,
    'Content-Type': options.contentType,
    ...options.fields,
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': `${env.AWS_ACCESS_KEY_ID}/${day}/${region}/s3/aws4_request`,
    'x-amz-date': amzDate,
  };
  const policy = {
    expiration: new Date(now.getTime() + (options.expiresIn ?? 300) * 1000).toISOString(),
    conditions: [
      { bucket },
      ['eq', '$key', options.key],
      ['content-length-range', options.minBytes ?? 1, options.maxBytes],
      ['eq', '$Content-Type', options.contentType],
      ...Object.entries(options.fields ?? {}).map(([name, value]) => ({ [name]: value })),
      { 'x-amz-algorithm': fields['x-amz-algorithm'] },
      { 'x-amz-credential': fields['x-amz-credential'] },
      { 'x-amz-date': fields['x-amz-date'] },
      ...(options.conditions ?? []),
    ],
  };
  const encoded = Buffer.from(JSON.stringify(policy)).toString('base64');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  const secret = options.secretAccessKey ?? env.AWS_SECRET_ACCESS_KEY!;
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 's3'), 'aws4_request');
  return {
    url: `${env.AWS_ENDPOINT_URL_S3!.replace(/\/$/, '')}/${bucket}`,
    fields: { ...fields, policy: encoded, 'x-amz-signature': createHmac('sha256', signingKey).update(encoded).digest('hex') },
    policy,
  };
}

/** The browser's part: the form's fields, then the file, as multipart/form-data. */
export async function postForm(
  form: Pick<PostForm, 'url' | 'fields'>,
  content: Buffer | string,
  overrides: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const data = new FormData();
  for (const [name, value] of Object.entries({ ...form.fields, ...overrides })) data.append(name, value);
  data.append('file', new Blob([content]), 'upload.bin');
  const response = await fetch(form.url, { method: 'POST', body: data });
  return { status: response.status, body: await response.text(), headers: response.headers };
}
