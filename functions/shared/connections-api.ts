import { HttpRequest } from '@smithy/protocol-http';
import { requiredEnv } from './env';
import { sigv4 } from './sigv4';

// API Gateway's @connections management API (WEBSOCKET_MANAGEMENT_URL, `https://{api}.execute-api.{region}
// .amazonaws.com/{stage}`) signed with SigV4: the one call the broadcast worker makes, without the SDK
// client, which would take its bundle past the 250 KB budget (docs/architecture.md). The requests are the client's own
// (PostToConnection: POST /@connections/{id} with the frame as the body), so the local emulation that the
// SDK client is tested against serves both.

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
  const base = new URL(requiredEnv('WEBSOCKET_MANAGEMENT_URL'));
  const url = new URL(`${base.pathname.replace(/\/$/, '')}/@connections/${encodeURIComponent(connectionId)}`, base);
  const request = await sigv4('execute-api', requiredEnv('AWS_REGION')).sign(
    new HttpRequest({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      headers: { host: url.host, 'content-type': 'application/octet-stream' },
      body: frame,
    }),
  );
  const response = await fetch(url, { method: 'POST', headers: request.headers, body: frame, signal: AbortSignal.timeout(POST_TIMEOUT_MS) });
  if (response.ok) return 'sent';
  if (response.status === 410) return 'gone';
  throw new ConnectionsApiError(response.status, `@connections answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
}
