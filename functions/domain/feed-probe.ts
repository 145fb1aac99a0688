import { uuidV5 } from '../shared/uuid';

/** The OAuth client-credentials application the probe signs in as (an Auth0 machine-to-machine application). */
export interface ProbeCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  audience: string;
}

export interface ProbeTarget {
  websocketUrl: string;
  apiUrl: string;
  credentials: ProbeCredentials;
  /** The standard WebSocket constructor (global in Node 22 and browsers). */
  WebSocket: typeof globalThis.WebSocket;
  timeoutMs: number;
}

export type ProbeOutcome = { ok: true; deliveryMs: number } | { ok: false; reason: string };

// The probe's own project in its organization: one, whatever the number of runs.
const PROBE_PROJECTS = '0b5e7c64-6a43-4f27-9d0a-6f2f3c1a9e57';

/**
 * One synthetic run of the feed, as a browser would: a token, a WebSocket connection, subscribe, resume
 * from now, then a change to the probe's project over REST, timed from the REST answer (the commit) to
 * the frame carrying that change. Every step has to succeed within `timeoutMs` in all.
 */
export async function probeFeed(target: ProbeTarget): Promise<ProbeOutcome> {
  const deadline = AbortSignal.timeout(target.timeoutMs);
  let socket: WebSocket | undefined;
  try {
    const token = await fetchToken(target.credentials, deadline);
    socket = new target.WebSocket(`${target.websocketUrl}?token=${encodeURIComponent(token)}&clientId=feed-probe`);
    const frames = frameReader(socket, deadline);
    await frames.opened;
    socket.send(JSON.stringify({ action: 'subscribe' }));
    await frames.next((frame) => frame.type === 'subscribed');
    // From now; should the broadcast be behind, the replay has pages to go through first.
    socket.send(JSON.stringify({ action: 'resume' }));
    for (;;) {
      const replay = await frames.next((frame) => frame.type === 'replay' || frame.type === 'resync_required' || frame.type === 'error');
      if (replay.type !== 'replay') throw new Error(`resume answered ${JSON.stringify(replay)}`);
      if (replay.more !== true) break;
      socket.send(JSON.stringify({ action: 'resume', afterSeq: replay.throughSeq }));
    }

    const api = rest(target.apiUrl, token, deadline);
    const projectId = uuidV5(organizationOf(token), PROBE_PROJECTS);
    await api('POST', '/projects', { id: projectId, name: 'TaskFlow feed probe', description: 'Changed by the synthetic feed probe every few minutes' });
    const marker = `feed probe ${new Date().toISOString()} ${crypto.randomUUID()}`;
    await api('PATCH', `/projects/${projectId}`, { description: marker });
    const committed = performance.now();
    await frames.next(
      (frame) => frame.type === 'events' && (frame.events as { payload?: { description?: string } }[]).some((event) => event.payload?.description === marker),
    );
    return { ok: true, deliveryMs: Math.round(performance.now() - committed) };
  } catch (error) {
    return { ok: false, reason: deadline.aborted ? `no answer within ${target.timeoutMs} ms` : (error as Error).message };
  } finally {
    socket?.close();
  }
}

// Kept while the Lambda environment lives: identity providers limit (and bill) machine-to-machine tokens.
let cached: { token: string; until: number } | undefined;

/** A client-credentials token for the probe's application (the feed probe's and the synthetic canary's). */
export async function fetchToken(credentials: ProbeCredentials, signal: AbortSignal): Promise<string> {
  if (cached && cached.until > Date.now()) return cached.token;
  const response = await fetch(credentials.tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: credentials.clientId, client_secret: credentials.clientSecret, audience: credentials.audience }),
    signal,
  });
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  const { access_token: token, expires_in: expiresIn = 0 } = (await response.json()) as { access_token?: string; expires_in?: number };
  if (!token) throw new Error('token endpoint gave no access_token');
  // Renewed a minute early, so a run never starts with a token about to expire.
  cached = { token, until: Date.now() + (expiresIn - 60) * 1000 };
  return token;
}

/** The organization the token is for (the API verifies it; the probe only needs its name). */
export function organizationOf(token: string): string {
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { org_id?: string };
  if (!claims.org_id) throw new Error('the probe\'s token has no org_id claim');
  return claims.org_id;
}

function rest(apiUrl: string, token: string, signal: AbortSignal) {
  return async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${apiUrl.replace(/\/$/, '')}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body ? { 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal,
    });
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  };
}

type Frame = Record<string, unknown> & { type?: string };

/** The socket's frames as awaitable steps; a close or the deadline fails the step waited on. */
function frameReader(socket: WebSocket, deadline: AbortSignal) {
  const received: Frame[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    wake?.();
  };
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error('the WebSocket handshake failed')), { once: true });
  });
  socket.addEventListener('message', (message) => {
    received.push(JSON.parse(String(message.data)) as Frame);
    wake?.();
  });
  socket.addEventListener('close', (event) => fail(new Error(`the connection closed (${event.code})`)));
  deadline.addEventListener('abort', () => fail(new Error('deadline')), { once: true });
  return {
    opened: Promise.race([opened, new Promise<never>((_, reject) => deadline.addEventListener('abort', () => reject(new Error('deadline'))))]),
    async next(matches: (frame: Frame) => boolean): Promise<Frame> {
      for (;;) {
        const index = received.findIndex(matches);
        if (index >= 0) return received.splice(0, index + 1).at(-1)!;
        if (failure) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}
