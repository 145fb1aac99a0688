import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { countAwsCall } from './aws-calls';
import { requiredEnv } from './env';
import { sigv4 } from './sigv4';

// API Gateway's @connections management API (WEBSOCKET_MANAGEMENT_URL, `https://{api}.execute-api.{region}
// .amazonaws.com/{stage}`) signed with SigV4: the two calls the feed's workers make, without the SDK client, which
// would take its bundle past the 250 KB budget (docs/architecture.md). The requests are the client's own
// (PostToConnection: POST /@connections/{id} with the frame as the body; DeleteConnection: DELETE), so the local
// emulation that the SDK client is tested against serves both.
//
// Over node:http(s) with a keep-alive agent rather than fetch: a fan-out shard makes hundreds of posts to one host,
// and each new TLS connection would cost more than the post. (Node's fetch is undici, but undici itself is not a
// dependency, so its Agent cannot be configured; node:http's Agent can, and costs a quarter of fetch's CPU a post.)

export class ConnectionsApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ConnectionsApiError';
  }
}

// A slow client is not waited for: API Gateway buffers frames, so a post that takes this long means trouble.
const POST_TIMEOUT_MS = 2_000;
/** Posts under way at once per invocation (functions/domain/fanout.ts), each on a kept-alive socket of its own. */
export const POSTS_AT_ONCE = 50;

// No cap on the sockets: each invocation makes at most POSTS_AT_ONCE posts at once, and an environment that runs
// several invocations at once (Lambda Managed Instances, the local runtime) keeps sockets for each.
const agents = {
  'http:': new HttpAgent({ keepAlive: true }),
  'https:': new HttpsAgent({ keepAlive: true }),
};

/** Sends one frame to one connection: 'gone' when API Gateway no longer has it (410 GoneException). Not retried. */
export async function postToConnection(connectionId: string, frame: string): Promise<'sent' | 'gone'> {
  const { status, body } = await manage('POST', connectionId, frame);
  if (status >= 200 && status < 300) return 'sent';
  if (status === 410) return 'gone';
  throw new ConnectionsApiError(status, `@connections answered ${status}: ${body.slice(0, 200)}`);
}

/** Closes a connection (DeleteConnection: DELETE /@connections/{id}); one already gone (410) is closed too. */
export async function closeConnection(connectionId: string): Promise<void> {
  const { status, body } = await manage('DELETE', connectionId);
  if ((status >= 200 && status < 300) || status === 410) return;
  throw new ConnectionsApiError(status, `@connections answered ${status}: ${body.slice(0, 200)}`);
}

// A shard posts the same frame to most of its connections: its hash is computed once.
let hashed: { body: string; hash: string } | undefined;
function payloadHash(body: string): string {
  if (hashed?.body !== body) hashed = { body, hash: createHash('sha256').update(body).digest('hex') };
  return hashed.hash;
}

function manage(method: 'POST' | 'DELETE', connectionId: string, body?: string): Promise<{ status: number; body: string }> {
  const base = new URL(requiredEnv('WEBSOCKET_MANAGEMENT_URL'));
  const url = new URL(`${base.pathname.replace(/\/$/, '')}/@connections/${encodeURIComponent(connectionId)}`, base);
  const headers = sigv4('execute-api', requiredEnv('AWS_REGION')).sign({
    method,
    url,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/octet-stream', 'x-amz-content-sha256': payloadHash(body) }, body }),
  });
  countAwsCall('execute-api', method === 'POST' ? 'PostToConnection' : 'DeleteConnection', base.host, body === undefined ? 0 : Buffer.byteLength(body));
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(
      url,
      { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) }, agent: agents[secure ? 'https:' : 'http:'] },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
        response.on('error', reject);
      },
    );
    // The whole exchange, answer included, within the timeout; the socket is dropped rather than reused.
    const timer = setTimeout(() => request.destroy(new Error(`@connections did not answer within ${POST_TIMEOUT_MS} ms`)), POST_TIMEOUT_MS);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(body);
  });
}
