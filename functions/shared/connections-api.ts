import { createHash } from 'node:crypto';
import { countAwsCall } from './aws-calls';
import { requiredEnv } from './env';
import { signedService } from './sigv4';

// API Gateway's @connections management API (WEBSOCKET_MANAGEMENT_URL, `https://{api}.execute-api.{region}
// .amazonaws.com/{stage}`) signed with SigV4: the two calls the feed's workers make, without the SDK client, which
// would take its bundle past the 250 KB budget (docs/architecture.md). The requests are the client's own
// (PostToConnection: POST /@connections/{id} with the frame as the body; DeleteConnection: DELETE), so the local
// emulation that the SDK client is tested against serves both.
//
// Signed and sent as every AWS call is (sigv4.ts's signedService), over kept-alive sockets, since a fan-out shard makes
// hundreds of posts to one host and a new TLS connection would cost more than the post, with TaskFlow's own HTTP/1.1
// client (./http1.ts): undici, the library for it, is past
// the bundle budget on its own, and node:http's request and Agent cost twice its CPU a post (~190 µs against ~95).
// It sends a post once more on a new socket when a kept-alive one fails before any answer (the server closed it):
// should the first have arrived after all, the feed's client drops the duplicate (same seq).

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

/** Sends one frame to one connection: 'gone' when API Gateway no longer has it (410 GoneException). Not retried (but sent once more on a new socket when a kept-alive one fails before any answer: http1.ts). */
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

// The management API's client, made once (not once a post), and again only for another endpoint (the tests').
let management: { url: string; api: ReturnType<typeof signedService> } | undefined;
function managementApi() {
  const url = requiredEnv('WEBSOCKET_MANAGEMENT_URL');
  if (management?.url !== url) management = { url, api: signedService('execute-api', 'WEBSOCKET_MANAGEMENT_URL') };
  return management.api;
}

function manage(method: 'POST' | 'DELETE', connectionId: string, body?: string): Promise<{ status: number; body: string }> {
  const api = managementApi();
  const path = `${api.endpoint.pathname.replace(/\/$/, '')}/@connections/${encodeURIComponent(connectionId)}`;
  countAwsCall('execute-api', method === 'POST' ? 'PostToConnection' : 'DeleteConnection', api.endpoint.host, body === undefined ? 0 : Buffer.byteLength(body));
  // The whole exchange, answer included, within the timeout; the socket is dropped rather than reused.
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/octet-stream', 'x-amz-content-sha256': payloadHash(body) };
  return api.send(method, path, headers, body, POST_TIMEOUT_MS);
}
