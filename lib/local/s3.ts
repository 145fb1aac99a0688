import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { authenticate, checkPostPolicy, decodeComponent, errorDocument, multipartBoundary, PostForm, S3Error, splitUrl, type S3Credentials } from './s3-auth';

export { authenticate, checkPostPolicy, S3Error, type S3Credentials } from './s3-auth';

export interface LocalS3 {
  /** http://127.0.0.1:<port>; buckets are addressed path-style: <endpoint>/<bucket>/<key>. */
  endpoint: string;
  bucket: string;
  /**
   * What the handlers need: AWS_ENDPOINT_URL_S3, FILES_BUCKET_NAME, AWS_REGION and the credentials
   * (AWS_ACCESS_KEY_ID/SECRET, `local`/`local` unless set) whose signatures this S3 accepts.
   */
  environment: Record<string, string>;
  stop(): Promise<void>;
}

export interface S3Options {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Objects are kept under `<dataDir>/s3` (and so survive a restart); without it, in a temporary folder removed by stop(). */
  dataDir?: string;
  /** Default `taskflow-files`. */
  bucket?: string;
}

export const FILES_BUCKET = 'taskflow-files';

/**
 * S3 for the local runtime and the tests: s3rver (objects on disk) behind an HTTP layer of our own that
 * does what s3rver does not and S3 does:
 * - every request is authenticated with Signature Version 4 (Authorization header or presigned query),
 *   signatures recomputed with the known secret — s3rver itself accepts any V4 signature with a known key id;
 *   requests without a signature are refused (the bucket is private, as in AWS);
 * - browser-based POST uploads are held to their POST policy: signature, expiration, every condition
 *   (exact, eq, starts-with, content-length-range against the real file size) and every form field
 *   covered by one. The body is spooled to disk while it is checked (memory stays bounded; an oversize file
 *   is refused as soon as it passes the limit) and only a passing upload is replayed to s3rver.
 * Handlers reach it through AWS_ENDPOINT_URL_S3 (path-style), as with the other local emulators.
 */
export async function startS3(options: S3Options = {}): Promise<LocalS3> {
  const bucket = options.bucket ?? FILES_BUCKET;
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const credentials: S3Credentials = {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    ...(process.env.AWS_SESSION_TOKEN ? { sessionToken: process.env.AWS_SESSION_TOKEN } : {}),
  };
  const keys = new Map([[credentials.accessKeyId, credentials]]);
  // s3rver's authentication middleware only looks the key id up (it computes no V4 signature); it must know
  // ours for signed requests — including presigned GETs with response-* overrides — to pass as authenticated.
  accountRegistry().DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);

  const temporary = options.dataDir ? undefined : await mkdtemp(join(tmpdir(), 'taskflow-s3-'));
  const directory = options.dataDir ? join(options.dataDir, 's3') : temporary!;
  await mkdir(directory, { recursive: true });
  // POST bodies are spooled here while they are checked; never inside `directory` (s3rver would list it as a bucket).
  const spoolDir = await mkdtemp(join(tmpdir(), 'taskflow-s3-uploads-'));

  const s3rver = new S3rver({
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [CORS_CONFIGURATION] }],
  });
  await s3rver.configureBuckets();
  const forward = s3rver.callback();
  const objectLocks = keyLocks();

  const server = createServer((req, res) => {
    void route(req, res).catch((error: unknown) => {
      const failure = error instanceof S3Error ? error : new S3Error(500, 'InternalError', `We encountered an internal error: ${(error as Error)?.message ?? String(error)}`);
      if (!res.headersSent) sendError(req, res, failure);
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path } = splitUrl(req.url ?? '/');
    // CORS preflights carry no credentials, in S3 too; s3rver answers them from the bucket's CORS rules.
    if (req.method === 'OPTIONS') return forward(req, res);
    if (isFormUpload(req)) return formUpload(req, res, decodeComponent(path.split('/')[1] ?? ''));
    const principal = authenticate({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }, { keys, region, now: new Date() });
    if (!principal) throw new S3Error(403, 'AccessDenied', 'Access Denied');
    if (String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-')) {
      // s3rver would store the aws-chunked framing (chunk signatures, trailers) as part of the object.
      throw new S3Error(501, 'NotImplemented', 'The local S3 (s3rver) cannot read aws-chunked bodies; send the payload in one piece (a Buffer or string body).');
    }
    if (req.method === 'GET' || req.method === 'HEAD') return forward(req, res);
    // s3rver copies and deletes an object file by file; S3 changes an object at once. A copy racing the
    // delete of its source could leave a destination without its metadata (a 404 for a stored file).
    const copySource = req.headers['x-amz-copy-source'];
    const source = typeof copySource === 'string' ? [`/${decodeComponent(copySource.split('?')[0]!).replace(/^\//, '')}`] : [];
    await objectLocks.hold([decodeComponent(path), ...source], () => {
      forward(req, res);
      return new Promise<void>((done) => res.once('close', done));
    });
  }

  /** A browser-based POST upload: checked while it streams to a spool file, then replayed to s3rver if it passes. */
  async function formUpload(req: IncomingMessage, res: ServerResponse, bucketName: string): Promise<void> {
    const boundary = multipartBoundary(req.headers['content-type']);
    if (!boundary) throw new S3Error(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.');
    const spoolPath = join(spoolDir, randomUUID());
    const spool = createWriteStream(spoolPath);
    const form = new PostForm(boundary, (fields) => checkPostPolicy({ bucket: bucketName, fields, keys, region, now: new Date() }));
    let received = 0;
    let settled = false;

    await new Promise<void>((done) => {
      const cleanUp = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('aborted', onAborted);
        req.off('error', onAborted);
      };
      const refuse = (error: unknown) => {
        if (settled) return;
        settled = true;
        cleanUp();
        spool.destroy();
        void unlink(spoolPath).catch(() => undefined);
        const failure = error instanceof S3Error ? error : new S3Error(500, 'InternalError', (error as Error)?.message ?? String(error));
        // Answered now, before the rest of the body arrives. What the client is still sending is read and
        // thrown away (closing at once could reset the connection before the client has read the answer),
        // for a few seconds at most.
        sendError(req, res, failure);
        req.resume();
        setTimeout(() => req.complete || req.socket.destroy(), 5_000).unref();
        done();
      };
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        try {
          form.write(chunk);
        } catch (error) {
          return refuse(error);
        }
        if (!spool.write(chunk)) {
          req.pause();
          spool.once('drain', () => settled || req.resume());
        }
      };
      const onEnd = () => {
        if (settled) return;
        try {
          form.end();
        } catch (error) {
          return refuse(error);
        }
        settled = true;
        cleanUp();
        spool.end((error?: Error | null) => {
          if (error) {
            void unlink(spoolPath).catch(() => undefined);
            sendError(req, res, new S3Error(500, 'InternalError', `We encountered an internal error: ${error.message}`));
            return done();
          }
          const body = createReadStream(spoolPath);
          body.once('error', () => res.destroy());
          const headers: IncomingHttpHeaders = { ...req.headers, 'content-length': String(received) };
          delete headers['transfer-encoding'];
          // What s3rver (Koa) reads of a request: its headers, method, url, socket and body stream.
          const replay = Object.assign(body, {
            headers,
            rawHeaders: req.rawHeaders,
            method: req.method,
            url: req.url,
            socket: req.socket,
            connection: req.socket,
            httpVersion: req.httpVersion,
            httpVersionMajor: req.httpVersionMajor,
            httpVersionMinor: req.httpVersionMinor,
          }) as unknown as IncomingMessage;
          res.once('close', () => {
            body.destroy();
            void unlink(spoolPath).catch(() => undefined);
          });
          forward(replay, res);
          done();
        });
      };
      const onAborted = () => {
        if (settled) return;
        settled = true;
        cleanUp();
        spool.destroy();
        void unlink(spoolPath).catch(() => undefined);
        done();
      };
      spool.once('error', refuse);
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('aborted', onAborted);
      req.on('error', onAborted);
    });
  }

  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', fail);
        done();
      });
    });
  } catch (error) {
    s3rver.logger.close();
    await rm(spoolDir, { recursive: true, force: true });
    if (temporary) await rm(temporary, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    endpoint,
    bucket,
    environment: {
      AWS_ENDPOINT_URL_S3: endpoint,
      FILES_BUCKET_NAME: bucket,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    async stop() {
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      s3rver.logger.close();
      await rm(spoolDir, { recursive: true, force: true });
      if (temporary) await rm(temporary, { recursive: true, force: true });
    },
  };
}

/** Any origin may upload and download with a presigned form or URL (the API's CORS is `*` too). */
const CORS_CONFIGURATION = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedMethod>POST</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <ExposeHeader>Location</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;

function accountRegistry(): { DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void } } {
  // The very module instance s3rver's middleware requires (CommonJS cache), not a copy.
  return createRequire(import.meta.url)('s3rver/lib/models/account.js');
}

/** Runs one change at a time per object key; a change of several keys takes them in order (no deadlock). */
function keyLocks() {
  const tails = new Map<string, Promise<void>>();
  async function take(key: string): Promise<() => void> {
    const previous = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((done) => (release = done));
    const tail = previous.then(() => held);
    tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    };
  }
  return {
    async hold(keys: string[], run: () => Promise<void>): Promise<void> {
      const releases: (() => void)[] = [];
      try {
        for (const key of [...new Set(keys)].sort()) releases.push(await take(key));
        await run();
      } finally {
        for (const release of releases.reverse()) release();
      }
    },
  };
}

function sendError(req: IncomingMessage, res: ServerResponse, error: S3Error): void {
  const body = errorDocument(error, splitUrl(req.url ?? '/').path);
  res.writeHead(error.status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(),
    ...(req.headers.origin ? { 'Access-Control-Allow-Origin': '*', Vary: 'Origin' } : {}),
  });
  res.end(body);
}

function isFormUpload(req: IncomingMessage): boolean {
  const { path, query } = splitUrl(req.url ?? '/');
  return (
    req.method === 'POST' &&
    /^\/[^/]+\/?$/.test(path) &&
    query === '' &&
    req.headers.authorization === undefined &&
    String(req.headers['content-type'] ?? '')
      .toLowerCase()
      .startsWith('multipart/form-data')
  );
}
