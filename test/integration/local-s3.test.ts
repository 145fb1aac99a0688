import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, FILES_BUCKET, startS3, type LocalS3 } from '../../lib/local/s3';
import { postForm, signedPostForm } from '../support/s3-post';

// The local S3: s3rver behind our own layer that checks SigV4 signatures and holds browser-based POST
// uploads to their policy as S3 does (review S5: "an oversize or disallowed upload is rejected by S3 itself").
// Most tests use the run's S3 (test/support/global-setup.ts), reached as the handlers reach it: through the
// environment. The 60 MB test starts one in this process, to watch this process's memory.

const env = () => ({
  AWS_ENDPOINT_URL_S3: process.env.AWS_ENDPOINT_URL_S3!,
  FILES_BUCKET_NAME: process.env.FILES_BUCKET_NAME!,
  AWS_REGION: process.env.AWS_REGION!,
  AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
  AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
});

/** An SDK client as an application would make one (path-style, for a custom endpoint); one per endpoint and secret. */
const clients = new Map<string, S3Client>();
function s3Client(environment: Record<string, string> = env(), secretAccessKey = environment.AWS_SECRET_ACCESS_KEY!): S3Client {
  const id = `${environment.AWS_ENDPOINT_URL_S3} ${secretAccessKey}`;
  let client = clients.get(id);
  if (!client) {
    client = new S3Client({
      endpoint: environment.AWS_ENDPOINT_URL_S3!,
      region: environment.AWS_REGION!,
      forcePathStyle: true,
      credentials: { accessKeyId: environment.AWS_ACCESS_KEY_ID!, secretAccessKey },
    });
    clients.set(id, client);
  }
  return client;
}
afterAll(() => clients.forEach((client) => client.destroy()));

const bucket = () => process.env.FILES_BUCKET_NAME!;
let counter = 0;
const newKey = (prefix = 'pending') => `${prefix}/org_test/${process.pid}-${Date.now()}-${++counter}`;
const MAX_BYTES = 52_428_800;

async function stored(key: string, environment?: Record<string, string>): Promise<boolean> {
  try {
    await s3Client(environment).send(new HeadObjectCommand({ Bucket: environment?.FILES_BUCKET_NAME ?? bucket(), Key: key }));
    return true;
  } catch (error) {
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false;
    throw error;
  }
}

/** A full garbage collection on demand (--expose-gc, switched on from here). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const errorCode = (body: string) => /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
const errorMessage = (body: string) => /<Message>([^<]*)<\/Message>/.exec(body)?.[1];

describe('local S3: the run’s instance', () => {
  it('is what the handlers are configured with', () => {
    expect(process.env.AWS_ENDPOINT_URL_S3).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(process.env.FILES_BUCKET_NAME).toBe(FILES_BUCKET);
  });
});

describe('local S3: presigned POST uploads are held to their policy', () => {
  it('stores a valid upload, with its type and metadata, readable through the SDK with the same credentials', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES, fields: { 'x-amz-meta-uploader': 'alice' } });
    const content = 'minutes of the kick-off meeting\n';
    const upload = await postForm(form, content);
    expect(upload.status).toBe(204);
    expect(upload.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);

    const object = await s3Client().send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
    expect(await object.Body!.transformToString()).toBe(content);
    expect(object.ContentType).toBe('text/plain');
    expect(object.Metadata).toEqual({ uploader: 'alice' });
  });

  it('refuses a file over the content-length-range: 400 EntityTooLarge, nothing stored', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: env(), key, contentType: 'application/pdf', maxBytes: 1024 });
    const upload = await postForm(form, Buffer.alloc(1025, 1));
    expect(upload.status).toBe(400);
    expect(upload.headers.get('content-type')).toBe('application/xml');
    expect(errorCode(upload.body)).toBe('EntityTooLarge');
    expect(errorMessage(upload.body)).toBe('Your proposed upload exceeds the maximum allowed size');
    expect(upload.body).toContain('<ProposedSize>1025</ProposedSize><MaxSizeAllowed>1024</MaxSizeAllowed>');
    expect(await stored(key)).toBe(false);
    // Exactly the limit passes.
    expect((await postForm(form, Buffer.alloc(1024, 1))).status).toBe(204);
    expect(await stored(key)).toBe(true);
  });

  it('refuses an empty file under content-length-range [1, …]: 400 EntityTooSmall', async () => {
    const key = newKey();
    const upload = await postForm(signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES }), '');
    expect(upload.status).toBe(400);
    expect(errorCode(upload.body)).toBe('EntityTooSmall');
    expect(upload.body).toContain('<ProposedSize>0</ProposedSize><MinSizeAllowed>1</MinSizeAllowed>');
    expect(await stored(key)).toBe(false);
  });

  it('refuses another Content-Type than the policy’s: 403 AccessDenied, nothing stored', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: env(), key, contentType: 'image/png', maxBytes: MAX_BYTES });
    const upload = await postForm(form, '<script>alert(1)</script>', { 'Content-Type': 'text/html' });
    expect(upload.status).toBe(403);
    expect(errorCode(upload.body)).toBe('AccessDenied');
    expect(errorMessage(upload.body)).toBe('Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/png"]');
    expect(await stored(key)).toBe(false);
  });

  it('refuses another key than the policy’s: 403, stored under neither', async () => {
    const key = newKey();
    const other = newKey('files');
    const upload = await postForm(signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES }), 'x', { key: other });
    expect(upload.status).toBe(403);
    expect(errorMessage(upload.body)).toBe(`Invalid according to Policy: Policy Condition failed: ["eq", "$key", "${key}"]`);
    expect(await stored(key)).toBe(false);
    expect(await stored(other)).toBe(false);
  });

  it('refuses an expired policy: 403 "Policy expired."', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES, expiresIn: -1 });
    const upload = await postForm(form, 'late');
    expect(upload.status).toBe(403);
    expect(errorCode(upload.body)).toBe('AccessDenied');
    expect(errorMessage(upload.body)).toBe('Invalid according to Policy: Policy expired.');
    expect(await stored(key)).toBe(false);
  });

  it('refuses a bad signature, and a policy changed after signing: 403 SignatureDoesNotMatch', async () => {
    const key = newKey();
    const forged = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES, secretAccessKey: 'not-the-secret' });
    const upload = await postForm(forged, 'x');
    expect(upload.status).toBe(403);
    expect(errorCode(upload.body)).toBe('SignatureDoesNotMatch');

    // A genuine form whose policy is widened to 5 GB: the signature no longer matches it.
    const genuine = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: 10 });
    const widened = { ...genuine.policy, conditions: genuine.policy.conditions.map((c) => (Array.isArray(c) && c[0] === 'content-length-range' ? [c[0], 1, 5e9] : c)) };
    const tampered = await postForm(genuine, 'x'.repeat(11), { policy: Buffer.from(JSON.stringify(widened)).toString('base64') });
    expect(tampered.status).toBe(403);
    expect(errorCode(tampered.body)).toBe('SignatureDoesNotMatch');
    expect(await stored(key)).toBe(false);
  });

  it('refuses an unknown access key and a form with no policy at all', async () => {
    const key = newKey();
    const unknown = await postForm(signedPostForm({ environment: { ...env(), AWS_ACCESS_KEY_ID: 'AKIDUNKNOWN' }, key, contentType: 'text/plain', maxBytes: 10 }), 'x');
    expect(unknown.status).toBe(403);
    expect(errorCode(unknown.body)).toBe('InvalidAccessKeyId');
    const anonymous = await postForm({ url: `${env().AWS_ENDPOINT_URL_S3}/${bucket()}`, fields: { key, 'Content-Type': 'text/plain' } }, 'x');
    expect(anonymous.status).toBe(403);
    expect(errorCode(anonymous.body)).toBe('AccessDenied');
    expect(await stored(key)).toBe(false);
  });

  it('refuses a field no condition covers (x-ignore-* and x-amz-signature need none)', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES });
    const extra = await postForm(form, 'x', { 'x-amz-meta-role': 'admin' });
    expect(extra.status).toBe(403);
    expect(errorMessage(extra.body)).toBe('Invalid according to Policy: Extra input fields: x-amz-meta-role');
    expect(await stored(key)).toBe(false);

    const ignored = await postForm(form, 'x', { 'x-ignore-client-id': 'web' });
    expect(ignored.status).toBe(204);
    expect(await stored(key)).toBe(true);
  });

  it('refuses a form that gives a field twice (S3 and s3rver might each take another)', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES });
    const data = new FormData();
    for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
    data.append('key', newKey('files'));
    data.append('file', new Blob(['x']), 'x.txt');
    const response = await fetch(form.url, { method: 'POST', body: data });
    expect(response.status).toBe(400);
    expect(errorCode(await response.text())).toBe('InvalidArgument');
    expect(await stored(key)).toBe(false);
  });

  it('checks starts-with conditions, and ignores the fields after the file', async () => {
    const key = newKey();
    const form = signedPostForm({
      environment: env(),
      key,
      contentType: 'text/plain',
      maxBytes: MAX_BYTES,
      fields: {},
      conditions: [['starts-with', '$x-amz-meta-tag', 'project-']],
    });
    const wrong = await postForm(form, 'x', { 'x-amz-meta-tag': 'other' });
    expect(wrong.status).toBe(403);
    expect(errorMessage(wrong.body)).toBe('Invalid according to Policy: Policy Condition failed: ["starts-with", "$x-amz-meta-tag", "project-"]');
    const missing = await postForm(form, 'x');
    expect(missing.status).toBe(403);

    const data = new FormData();
    for (const [name, value] of Object.entries({ ...form.fields, 'x-amz-meta-tag': 'project-launch' })) data.append(name, value);
    data.append('file', new Blob(['tagged']), 'x.txt');
    data.append('x-amz-meta-after', 'ignored');
    const response = await fetch(form.url, { method: 'POST', body: data });
    expect(response.status).toBe(204);
    const head = await s3Client().send(new HeadObjectCommand({ Bucket: bucket(), Key: key }));
    expect(head.Metadata).toEqual({ tag: 'project-launch' });
  });

  it('answers a malformed policy with 400 InvalidPolicyDocument', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: 10 });
    // Properly signed, so the policy itself is what is wrong: S3 knows no "ends-with".
    const broken = signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: 10, conditions: [['ends-with', '$key', 'x']] });
    const refused = await postForm(broken, 'x');
    expect(refused.status).toBe(400);
    expect(errorCode(refused.body)).toBe('InvalidPolicyDocument');
    expect(await stored(key)).toBe(false);
    expect((await postForm(form, 'x')).status).toBe(204);
  });
});

describe('local S3: a 60 MB upload against a 50 MB policy', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('is refused once it passes 50 MB, before the client has sent it all, without the server holding it in memory', async () => {
    const key = newKey();
    const form = signedPostForm({ environment: s3.environment, key, contentType: 'video/mp4', maxBytes: MAX_BYTES });
    const boundary = `----taskflow-${Date.now()}`;
    const head = Buffer.from(
      Object.entries(form.fields)
        .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
        .join('') + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const fileBytes = 60 * 1024 * 1024;
    const total = head.length + fileBytes + tail.length;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const held = 56 * 1024 * 1024;

    // This process runs both the client and the server: what it holds live (after a collection) is the
    // server's state plus the client's one 1 MB chunk. Sampled while the upload runs, and when answered.
    const gc = collector();
    gc();
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 50);

    const url = new URL(form.url);
    let written = 0;
    let writtenAtAnswer = -1;
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': total } },
        (res) => {
          writtenAtAnswer = written;
          // What the server holds at the moment it refuses (a server that kept the body would hold 50 MB now).
          gc();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers);
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (text: string) => (body += text));
          res.on('end', () => {
            resolve({ status: res.statusCode!, body });
            req.destroy();
          });
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        // Once answered, the server may stop reading: a write error then is expected.
        if (writtenAtAnswer < 0) reject(error);
      });
      void (async () => {
        const send = async (buffer: Buffer) => {
          written += buffer.length;
          if (!req.write(buffer)) await new Promise((resume) => req.once('drain', resume));
        };
        await send(head);
        // 56 of the 60 MB, then the client holds the rest back: an answer can only come from a server
        // that refuses at the limit, not from one that reads (or buffers) the whole body first.
        for (let sent = 0; sent < held && writtenAtAnswer < 0 && !req.destroyed; sent += chunk.length) await send(chunk);
        for (let waited = 0; writtenAtAnswer < 0 && waited < 15_000; waited += 50) await new Promise((resume) => setTimeout(resume, 50));
        if (writtenAtAnswer < 0) reject(new Error(`no answer after ${written} of ${total} bytes`));
      })().catch(reject);
    });
    clearInterval(sampler);

    expect(answer.status).toBe(400);
    expect(errorCode(answer.body)).toBe('EntityTooLarge');
    const proposed = Number(/<ProposedSize>(\d+)</.exec(answer.body)?.[1]);
    expect(proposed).toBeGreaterThan(MAX_BYTES);
    expect(proposed).toBeLessThan(MAX_BYTES + 2 * 1024 * 1024);
    expect(answer.body).toContain(`<MaxSizeAllowed>${MAX_BYTES}</MaxSizeAllowed>`);
    // Answered before the client had sent it all ...
    expect(writtenAtAnswer).toBeGreaterThan(MAX_BYTES);
    expect(writtenAtAnswer).toBeLessThanOrEqual(head.length + held);
    // ... and the 50 MB read by then went to a spool file, not into memory (the margin is for buffers
    // that are garbage but not yet swept when a sample is taken).
    expect(peak - baseline).toBeLessThan(32 * 1024 * 1024);
    expect(await stored(key, s3.environment)).toBe(false);
  }, 60_000);

  it('takes a valid 8 MB upload through the same spool, intact', async () => {
    const key = newKey();
    const content = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);
    const upload = await postForm(signedPostForm({ environment: s3.environment, key, contentType: 'application/octet-stream', maxBytes: MAX_BYTES }), content);
    expect(upload.status).toBe(204);
    const object = await s3Client(s3.environment).send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(content)).toBe(true);
  });
});

describe('local S3: SigV4 requests through s3rver', () => {
  async function uploaded(content = 'report body'): Promise<string> {
    const key = newKey();
    const upload = await postForm(signedPostForm({ environment: env(), key, contentType: 'text/plain', maxBytes: MAX_BYTES }), content);
    expect(upload.status).toBe(204);
    return key;
  }

  it('HEADs, copies out of pending/, serves a presigned GET and deletes', async () => {
    const client = s3Client();
    const key = await uploaded('quarterly numbers');
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket(), Key: key }));
    expect(head.ContentLength).toBe('quarterly numbers'.length);
    expect(head.ContentType).toBe('text/plain');

    const target = key.replace(/^pending\//, 'files/');
    await client.send(new CopyObjectCommand({ Bucket: bucket(), Key: target, CopySource: `${bucket()}/${key}` }));
    expect((await client.send(new HeadObjectCommand({ Bucket: bucket(), Key: target }))).ContentType).toBe('text/plain');

    const url = await getSignedUrl(
      client,
      new GetObjectCommand({ Bucket: bucket(), Key: target, ResponseContentDisposition: `attachment; filename*=UTF-8''Q3%20numbers.txt` }),
      { expiresIn: 60 },
    );
    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('quarterly numbers');
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename*=UTF-8''Q3%20numbers.txt`);

    await client.send(new DeleteObjectCommand({ Bucket: bucket(), Key: key }));
    expect(await stored(key)).toBe(false);
    expect(await stored(target)).toBe(true);
    // A presigned link outlives nothing: the object is gone, so is the download.
    await client.send(new DeleteObjectCommand({ Bucket: bucket(), Key: target }));
    expect((await fetch(url)).status).toBe(404);
  });

  it('changes an object at once: a copy racing the delete of its source never breaks the stored copy', async () => {
    // What two confirms of one attachment do (review S5): both copy out of pending/, the first one to record
    // it deletes pending/. s3rver's copy unlinks its destination before it reads the source.
    const client = s3Client();
    const copy = (from: string, to: string) => client.send(new CopyObjectCommand({ Bucket: bucket(), Key: to, CopySource: `${bucket()}/${from}` }));
    const race = async (round: number) => {
      const key = await uploaded(`round ${round}`);
      const target = key.replace(/^pending\//, 'files/');
      await copy(key, target);
      const remove = async () => {
        await new Promise((resolve) => setTimeout(resolve, round % 4)); // to land in the middle of the copy, sometimes
        await client.send(new DeleteObjectCommand({ Bucket: bucket(), Key: key }));
      };
      await Promise.allSettled([copy(key, target), remove()]);
      const stored = await client.send(new GetObjectCommand({ Bucket: bucket(), Key: target }));
      return stored.Body!.transformToString();
    };
    for (let batch = 0; batch < 40; batch += 1) {
      const rounds = Array.from({ length: 20 }, (_, index) => batch * 20 + index);
      expect(await Promise.all(rounds.map(race))).toEqual(rounds.map((round) => `round ${round}`));
    }
  }, 120_000); // 800 rounds take long on a busy machine, and what is tested is the outcome, not the time

  it('refuses a tampered or expired presigned URL, an unsigned request and a wrong secret', async () => {
    const client = s3Client();
    const key = await uploaded();
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket(), Key: key }), { expiresIn: 60 });

    const tampered = await fetch(url.replace(encodeURIComponent(key), encodeURIComponent(`${key}-other`)).replace(key, `${key}-other`));
    expect(tampered.status).toBe(403);
    expect(errorCode(await tampered.text())).toBe('SignatureDoesNotMatch');

    const expiredUrl = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket(), Key: key }), { expiresIn: 60, signingDate: new Date(Date.now() - 120_000) });
    const expired = await fetch(expiredUrl);
    expect(expired.status).toBe(403);
    expect(errorMessage(await expired.text())).toBe('Request has expired');

    const unsigned = await fetch(`${env().AWS_ENDPOINT_URL_S3}/${bucket()}/${key}`);
    expect(unsigned.status).toBe(403);
    expect(errorCode(await unsigned.text())).toBe('AccessDenied');

    const wrong = s3Client(env(), 'not-the-secret');
    await expect(wrong.send(new GetObjectCommand({ Bucket: bucket(), Key: key }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    await expect(wrong.send(new DeleteObjectCommand({ Bucket: bucket(), Key: key }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    expect(await stored(key)).toBe(true);
  });

  it('keeps files under dataDir/s3 across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'taskflow-s3-persist-'));
    try {
      const first = await startS3({ dataDir });
      await s3Client(first.environment).send(new PutObjectCommand({ Bucket: first.bucket, Key: 'files/kept.txt', Body: 'still here', ContentType: 'text/plain' }));
      await first.stop();
      const second = await startS3({ dataDir });
      try {
        const object = await s3Client(second.environment).send(new GetObjectCommand({ Bucket: second.bucket, Key: 'files/kept.txt' }));
        expect(await object.Body!.transformToString()).toBe('still here');
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('local S3: the signature check against AWS’s published examples', () => {
  // "Examples: Signature Calculations" and "Authenticating Requests: Using Query Parameters" (S3 API reference).
  const keys = new Map([['AKIAIOSFODNN7EXAMPLE', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }]]);
  const options = (now = '2013-05-24T00:00:00Z') => ({ keys, region: 'us-east-1', now: new Date(now) });
  const scope = 'Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request';

  it('accepts the GET Object example (Authorization header) and refuses it altered', () => {
    const headers = {
      host: 'examplebucket.s3.amazonaws.com',
      range: 'bytes=0-9',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-amz-date': '20130524T000000Z',
      authorization: `AWS4-HMAC-SHA256 ${scope},SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41`,
    };
    expect(authenticate({ method: 'GET', url: '/test.txt', headers }, options())).toEqual({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE' });
    expect(() => authenticate({ method: 'GET', url: '/test.txt', headers: { ...headers, range: 'bytes=0-99' } }, options())).toThrow(/signature we calculated/);
    expect(() => authenticate({ method: 'GET', url: '/test.txt', headers }, options('2013-05-24T00:20:00Z'))).toThrow(/current time is too large/);
  });

  it('accepts the PUT Object example (an escaped key, a signed payload hash)', () => {
    const headers = {
      host: 'examplebucket.s3.amazonaws.com',
      date: 'Fri, 24 May 2013 00:00:00 GMT',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      authorization: `AWS4-HMAC-SHA256 ${scope},SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd`,
    };
    expect(authenticate({ method: 'PUT', url: '/test%24file.text', headers }, options())).toEqual({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE' });
  });

  it('accepts the GET Bucket example (a sorted query)', () => {
    const headers = {
      host: 'examplebucket.s3.amazonaws.com',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-amz-date': '20130524T000000Z',
      authorization: `AWS4-HMAC-SHA256 ${scope},SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7`,
    };
    expect(authenticate({ method: 'GET', url: '/?max-keys=2&prefix=J', headers }, options())).toEqual({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE' });
  });

  it('accepts the presigned URL example (UNSIGNED-PAYLOAD), until it expires', () => {
    const url =
      '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
      '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
      '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    const headers = { host: 'examplebucket.s3.amazonaws.com' };
    expect(authenticate({ method: 'GET', url, headers }, options('2013-05-24T12:00:00Z'))).toEqual({ accessKeyId: 'AKIAIOSFODNN7EXAMPLE' });
    expect(() => authenticate({ method: 'GET', url, headers }, options('2013-05-25T00:00:01Z'))).toThrow('Request has expired');
    expect(() => authenticate({ method: 'GET', url: url.replace('test.txt', 'other.txt'), headers }, options())).toThrow(/signature we calculated/);
  });
});
