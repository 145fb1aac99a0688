import { countAwsCall } from './aws-calls';
import { requiredEnv } from './env';
import { sigv4 } from './sigv4';

// API Gateway's @connections management API (WEBSOCKET_MANAGEMENT_URL, `https://{api}.execute-api.{region}
// .amazonaws.com/{stage}`) signed with SigV4: the two calls the broadcast worker makes, without the SDK
// client, which would take its bundle past the 250 KB budget (docs/architecture.md). The requests are the client's own
// (PostToConnection: POST /@connections/{id} with the frame as the body; DeleteConnection: DELETE), so the local
// emulation that the SDK client is tested against serves both.

export class ConnectionsApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ConnectionsApiError';
  }
}

// A slow client is not waited for: API Gateway buffers frames, so a post that takes this long means trouble.
const POST_TIMEOUT_MS = 2_000;

/** Sends one frame to one connection: 'gone' when API Gateway no longer has it (410 GoneException). Not retried. */
export async function postToConnection(connectionId: string, frame: string): Promise<'sent' | 'gone'> {
  const response = await manage('POST', connectionId, frame);
  if (response.ok) return 'sent';
  if (response.status === 410) return 'gone';
  throw new ConnectionsApiError(response.status, `@connections answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
}

/** Closes a connection (DeleteConnection: DELETE /@connections/{id}); one already gone (410) is closed too. */
export async function closeConnection(connectionId: string): Promise<void> {
  const response = await manage('DELETE', connectionId);
  if (response.ok || response.status === 410) return;
  throw new ConnectionsApiError(response.status, `@connections answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
}

async function manage(method: 'POST' | 'DELETE', connectionId: string, body?: string): Promise<Response> {
  const base = new URL(requiredEnv('WEBSOCKET_MANAGEMENT_URL'));
  const url = new URL(`${base.pathname.replace(/\/$/, '')}/@connections/${encodeURIComponent(connectionId)}`, base);
  const headers = sigv4('execute-api', requiredEnv('AWS_REGION')).sign({
    method,
    url,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/octet-stream' }, body }),
  });
  countAwsCall('execute-api', method === 'POST' ? 'PostToConnection' : 'DeleteConnection', base.host, body === undefined ? 0 : Buffer.byteLength(body));
  return fetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(POST_TIMEOUT_MS) });
}
