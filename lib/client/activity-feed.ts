/**
 * The activity feed's client (docs/feed.md): connects to the WebSocket API, subscribes, resumes from the
 * last delivered position, and hands the application every event exactly once, in `seq` order, without
 * gaps: it reorders live frames by `prevSeq`, drops duplicates, closes gaps with `resume`, catches up
 * through `GET /activity` when the replay window is passed, and reconnects with backoff. When a handshake is
 * refused it asks `GET /feed/connections` why: an expired token is replaced at once, the organization's connection
 * cap is waited out longer (`onRefused` says which).
 *
 * It runs in browsers (the global `WebSocket` and `fetch`) and in Node: Node 22 has a global WebSocket;
 * on Node 20 pass the `ws` package's `WebSocket` as `options.WebSocket`. It uses only the standard
 * WebSocket API (`new WebSocket(url)`, `on*` handlers, `send`, `close`, `readyState`), no Node modules.
 */

/**
 * The event types TaskFlow puts on the feed. `payload` is the resource as the REST API returns it: after the change,
 * or for `*.deleted` and `attachment.removed` as it last was (`comment.deleted`: the comment, with its `taskId`;
 * `project.deleted`: the project, whose tasks and comments go with it without events of their own).
 */
export const EVENT_TYPES = [
  'project.created', 'project.updated', 'project.deleted',
  'task.created', 'task.updated', 'task.deleted',
  'comment.created', 'comment.updated', 'comment.deleted',
  'attachment.added', 'attachment.removed',
  'member.removed', 'watcher.added', 'watcher.removed', 'preferences.updated',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One event of the organization's `event_log`, as the feed and `GET /activity` carry it. */
export interface FeedEvent {
  /** The organization's sequence number. */
  seq: number;
  /** The previous event this subscription includes (0: none); `seq - 1` for a whole-organization subscription. */
  prevSeq: number;
  id: string;
  /** One of EVENT_TYPES; a newer server may send types this client does not know yet. */
  type: EventType | (string & {});
  subjectId?: string;
  projectId?: string | null;
  actorId?: string;
  occurredAt?: string;
  requestId?: string;
  payload?: unknown;
  /** The frame left the payload out (32 KB limit); the client reads it from `GET /activity` when it has `apiUrl`. */
  truncated?: boolean;
  /** A project subscription's stand-in for another project's event: never delivered, it keeps the chain gap-free. */
  skipped?: boolean;
  [key: string]: unknown;
}

export type FeedState =
  | 'idle' // created, not started
  | 'connecting' // getting a token, opening the socket
  | 'subscribing' // open, `subscribe` sent
  | 'replaying' // subscribed, catching up with `resume`/`replay` before the first live delivery
  | 'live' // caught up; live frames are delivered
  | 'resyncing' // the replay window was passed: catching up through `onResync` or `GET /activity`
  | 'reconnecting' // closed; waiting out the backoff before connecting again
  | 'error' // the feed gave up: `resync_required` that only `onResync` could handle, without it (see `onError`), or the member was removed (`onRefused`)
  | 'stopped'; // `stop()` was called

/** What `resync_required` says, and the client's position. */
export interface ResyncInfo {
  /** The `afterSeq` the server could not replay from. */
  afterSeq: number;
  /** The oldest event the replay window still holds. */
  oldestSeq: number;
  /** The organization's latest sequence number. */
  headSeq: number;
  /** The client's delivered position (null: not known yet, the resume was from the last ack). */
  lastSeq: number | null;
}

/**
 * Why a WebSocket handshake was refused. A browser is not told the handshake's status, so the client asks the REST
 * API (`GET /feed/connections`, with the token the handshake carried) and says what it does about it.
 */
export interface FeedRefusal {
  /**
   * `token`: the API refused the token (expired, revoked): the token function is asked again at once (again
   * refused: with the usual backoff, and the application should sign the user in again); `connection-cap`: the
   * organization has as many feed connections as it may (other tabs or devices): the client waits longer
   * (`capBackoff`); `member-removed`: an admin removed this member from the organization (403 `MEMBER_REMOVED`):
   * no handshake will succeed again, so the client gives up (state `error`); `unknown`: neither, or the API did
   * not say (a network failure, the API unavailable).
   */
  reason: 'token' | 'connection-cap' | 'member-removed' | 'unknown';
  /** When the client connects again, in milliseconds (0: at once); null: never (`member-removed`). */
  retryInMs: number | null;
  /** The organization's feed connections and its cap, when the API answered them. */
  connections?: { connections: number; cap: number };
}

/** The part of a WebSocket instance the client uses (the DOM `WebSocket`, Node 22's global one and `ws` all fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `any`: each implementation types its events differently; the client reads `data` and `message` only.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The part of `fetch` the client uses. */
export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string> },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export interface ActivityFeedOptions {
  /** The WebSocket API's URL (`wss://…/v1`); the client adds `token` and `clientId` to its query. */
  url: string;
  /** The bearer JWT, or a function giving it: called on every (re)connect and REST call, so expiring tokens refresh. */
  token: string | (() => string | Promise<string>);
  /** Names this client's acknowledged position (1–64 of `A-Z a-z 0-9 _ -`); the server's default is `default`. */
  clientId?: string;
  /** Subscribe to one project's events instead of the whole organization's. */
  projectId?: string;
  /** The position to start after (the application has every event up to it). Omitted: from this clientId's last ack, or from now. */
  afterSeq?: number;
  /** The REST API's base URL, for `GET /activity`: catch-up after `resync_required` and truncated events. */
  apiUrl?: string;
  /** Every event, exactly once, in order. A returned promise is awaited before the next event. A throw is reported to `onError` and the event counts as delivered. */
  onEvent: (event: FeedEvent) => void | Promise<void>;
  /**
   * The replay window was passed: bring the application's state up to date (for example reload it through
   * the REST API) and return the `seq` it is now current to; the feed resumes from there. Default: page
   * through `GET /activity` (needs `apiUrl`), delivering the events through `onEvent`. When the client is
   * ahead of the server (`afterSeq > headSeq`: a database restored from a backup), this reloads, and returns the
   * `headSeq` the reload is current to (the position goes back). Default there: through `GET /activity` from just
   * before the oldest event the client remembers (its last 1,000), delivering each event it has not delivered (a new
   * id at a seq is a new event), so nothing the server still has is missed; without `apiUrl` the feed stops.
   */
  onResync?: (info: ResyncInfo) => number | Promise<number>;
  onStateChange?: (state: FeedState, previous: FeedState) => void;
  /** Diagnostics: connection errors, error frames, failed REST calls, throws from `onEvent`. */
  onError?: (error: unknown) => void;
  /** A refused handshake, once the REST API said why (needs `apiUrl`; without it, a refusal is retried with the usual backoff). */
  onRefused?: (refusal: FeedRefusal) => void;
  /** The WebSocket constructor; default the global `WebSocket` (browsers, Node ≥ 22). On Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** Default the global `fetch`. */
  fetch?: FetchLike;
  /** Reconnect delays: exponential from `initialMs` to `maxMs`, with full jitter. Default 500 ms and 30 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Reconnect delays while the organization is at its connection cap: doubling from `initialMs` to `maxMs`,
   * jittered within the upper half (never shorter than half). Default 30 s and 5 minutes.
   */
  capBackoff?: { initialMs?: number; maxMs?: number };
  /** How often to send `ping` (API Gateway closes a connection after 10 minutes without a message). Default 5 minutes. */
  keepaliveMs?: number;
  /** How long a gap in the live frames may last before the client resumes to close it, jittered by ±50 %. Default 1 s. */
  gapTimeoutMs?: number;
  /** How often to send `ack` with the delivered position, when it advanced. Default 30 s (and on `stop()`); 0: only on `ack()` and `stop()`. */
  ackEveryMs?: number;
  /** How long to wait for the socket to open or for the answer to `subscribe`/`resume` before reconnecting. Default 30 s. */
  responseTimeoutMs?: number;
  /** At most this many out-of-order events are held; past it they are dropped and the client resumes. Default 10,000. */
  maxBufferedEvents?: number;
  /** In [0, 1), for the jitter; default `Math.random`. */
  random?: () => number;
}

export interface ActivityFeed {
  /** Connects (once; a stopped feed stays stopped). */
  start(): void;
  /** Sends a last `ack`, closes the socket and cancels every timer; no callback is called afterwards. */
  stop(): void;
  /** Sends `ack` with the delivered position now, if it advanced since the last one. */
  ack(): void;
  /** The delivered position: every event up to it has been delivered (or was before `afterSeq`). Null until known. */
  readonly lastSeq: number | null;
  readonly state: FeedState;
}

const OPEN = 1;
const CATCH_UP_PAGE = 200;
/**
 * Delivered events whose id the client remembers, by seq: after a restore the server hands out again the numbers of
 * the events it lost, and only the id tells a new event from one already delivered.
 */
const REMEMBERED_EVENTS = 1_000;

interface Connection {
  ws: WebSocketLike;
  /** The token the handshake carried: what the API is asked about when the handshake is refused. */
  token: string;
  /** The handshake succeeded: a close is a dropped connection, not a refusal. */
  opened: boolean;
  /** `subscribed` came. */
  subscribed: boolean;
  /** The first replay completed: live frames are delivered. */
  live: boolean;
  /** A `resume` was sent and its `replay`/`resync_required` has not been handled. */
  resumeInFlight: boolean;
  /** The socket's opening or the answer to `subscribe`/`resume` is awaited. */
  awaiting: boolean;
  responseTimer?: ReturnType<typeof setTimeout>;
  gapTimer?: ReturnType<typeof setTimeout>;
  keepalive?: ReturnType<typeof setInterval>;
  acker?: ReturnType<typeof setInterval>;
}

type Frame = Record<string, unknown>;

export function createActivityFeed(options: ActivityFeedOptions): ActivityFeed {
  const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  new URL(options.url); // throws now on a URL that could never connect
  if (!WebSocketImpl) throw new Error('No WebSocket implementation: pass options.WebSocket (on Node 20, the ws package\'s WebSocket)');
  const globalFetch = (globalThis as { fetch?: FetchLike }).fetch;
  const fetchImpl: FetchLike | undefined = options.fetch ?? (globalFetch ? globalFetch.bind(globalThis) : undefined);
  const apiUrl = options.apiUrl?.replace(/\/+$/, '');
  const initialMs = options.backoff?.initialMs ?? 500;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  const capInitialMs = options.capBackoff?.initialMs ?? 30_000;
  const capMaxMs = options.capBackoff?.maxMs ?? 5 * 60_000;
  const keepaliveMs = options.keepaliveMs ?? 5 * 60_000;
  const gapTimeoutMs = options.gapTimeoutMs ?? 1_000;
  const ackEveryMs = options.ackEveryMs ?? 30_000;
  const responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
  const maxBuffered = options.maxBufferedEvents ?? 10_000;
  const random = options.random ?? Math.random;

  let state: FeedState = 'idle';
  /** Stopped, or given up: nothing more is called. */
  let halted = false;
  let lastSeq: number | null = options.afterSeq ?? null;
  let lastAcked: number | null = options.afterSeq ?? null;
  let conn: Connection | undefined;
  let attempt = 0;
  /** Refusals at the connection cap since the last handshake that succeeded. */
  let capAttempt = 0;
  /** A refused token was replaced at once since the last handshake that succeeded (only once: then the backoff). */
  let tokenRetried = false;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let resyncing = false;
  /** Live events not delivered yet, by seq. */
  const buffer = new Map<number, FeedEvent>();
  let bufferVersion = 0;
  /** The ids of the last REMEMBERED_EVENTS delivered events, by seq, oldest first. */
  const delivered = new Map<number, string>();
  /** Frame handling and delivery, one task at a time, in arrival order. */
  let chain: Promise<void> = Promise.resolve();

  function setState(next: FeedState) {
    if (next === state) return;
    const previous = state;
    state = next;
    if (halted) return;
    try {
      options.onStateChange?.(next, previous);
    } catch (error) {
      report(error);
    }
  }

  function report(error: unknown) {
    if (halted) return;
    try {
      options.onError?.(error);
    } catch {
      // The application's error handler failed; nothing more to do.
    }
  }

  async function getToken() {
    return typeof options.token === 'function' ? await options.token() : options.token;
  }

  /** Runs `task` after the tasks before it; a failure is reported and, on the current connection, reconnects. */
  function enqueue(c: Connection | undefined, task: () => unknown) {
    chain = chain.then(async () => {
      if (halted) return;
      try {
        await task();
      } catch (error) {
        if (halted) return;
        report(error);
        if (c && conn === c) dropConnection(c);
      }
    });
  }

  // ---- connection ----

  async function connect() {
    reconnectTimer = undefined;
    setState('connecting');
    let ws: WebSocketLike;
    let token: string;
    try {
      token = await getToken();
      if (halted) return;
      const target = new URL(options.url);
      target.searchParams.set('token', token);
      if (options.clientId !== undefined) target.searchParams.set('clientId', options.clientId);
      ws = new WebSocketImpl!(target.toString());
    } catch (error) {
      if (halted) return;
      report(error);
      setState('reconnecting');
      scheduleReconnect();
      return;
    }
    const c: Connection = { ws, token, opened: false, subscribed: false, live: false, resumeInFlight: false, awaiting: false };
    conn = c;
    awaitResponse(c);
    ws.onopen = () => {
      if (conn !== c) return;
      c.opened = true;
      capAttempt = 0;
      tokenRetried = false;
      setState('subscribing');
      send(c, options.projectId !== undefined ? { action: 'subscribe', projectId: options.projectId } : { action: 'subscribe' });
      awaitResponse(c);
      c.keepalive = setInterval(() => send(c, { action: 'ping' }), keepaliveMs);
      if (ackEveryMs > 0) c.acker = setInterval(() => sendAck(c), ackEveryMs);
    };
    ws.onmessage = (event: { data?: unknown }) => {
      if (conn === c) onFrame(c, event.data);
    };
    ws.onerror = (event: { message?: unknown; error?: unknown }) => {
      // A close follows; the error is for diagnostics (a refused handshake, 401 or 429, shows here).
      if (conn !== c) return;
      report(event?.error ?? new Error(typeof event?.message === 'string' ? event.message : 'The feed\'s WebSocket failed'));
    };
    ws.onclose = () => {
      if (conn !== c) return;
      if (c.opened) dropConnection(c, false);
      else if (forget(c, false)) void afterRefusal(c.token);
    };
  }

  function scheduleReconnect() {
    if (halted) return;
    reconnectIn(backoffDelay());
  }

  function reconnectIn(delay: number) {
    if (delay === 0) void connect();
    else reconnectTimer = setTimeout(() => void connect(), delay);
  }

  /** The next ordinary reconnect delay: exponential, full jitter. */
  function backoffDelay() {
    const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
    attempt += 1;
    return Math.floor(random() * cap);
  }

  /** The next delay at the connection cap: exponential, jittered within the upper half. */
  function capDelay() {
    const cap = Math.min(capMaxMs, capInitialMs * 2 ** Math.min(capAttempt, 30));
    capAttempt += 1;
    return Math.floor(cap * (0.5 + random() / 2));
  }

  /** Forgets the connection (closing it unless it closed already) and, unless halted, reconnects with backoff. */
  function dropConnection(c: Connection, close = true) {
    if (forget(c, close)) scheduleReconnect();
  }

  /** Forgets the connection, closing it unless it closed already; true when the feed goes on (a reconnect is due). */
  function forget(c: Connection, close: boolean) {
    if (conn !== c) return false;
    conn = undefined;
    clearConnectionTimers(c);
    detach(c.ws, close);
    if (halted) return false;
    setState('reconnecting');
    return true;
  }

  /** After a refused handshake: asks the REST API why (when there is one), tells the application, and reconnects accordingly. */
  async function afterRefusal(token: string) {
    if (apiUrl === undefined || !fetchImpl) return scheduleReconnect();
    const why = await whyRefused(token);
    if (halted) return;
    if (why.reason === 'member-removed') {
      setState('error');
      halted = true;
      clearTimeout(reconnectTimer);
      try {
        options.onRefused?.({ ...why, retryInMs: null });
      } catch (error) {
        report(error);
      }
      return;
    }
    let retryInMs: number;
    if (why.reason === 'token' && !tokenRetried) {
      tokenRetried = true;
      retryInMs = 0;
    } else retryInMs = why.reason === 'connection-cap' ? capDelay() : backoffDelay();
    try {
      options.onRefused?.({ ...why, retryInMs });
    } catch (error) {
      report(error);
    }
    if (!halted) reconnectIn(retryInMs);
  }

  /**
   * `GET /feed/connections` with the refused token: 401 is the token, 403 `MEMBER_REMOVED` a member removed from the
   * organization, `atCap` the organization's connection cap.
   */
  async function whyRefused(token: string): Promise<Omit<FeedRefusal, 'retryInMs'>> {
    try {
      const response = await fetchImpl!(`${apiUrl}/feed/connections`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
      if (response.status === 401) return { reason: 'token' };
      if (response.status === 403 && ((await response.json()) as { code?: unknown } | null)?.code === 'MEMBER_REMOVED') return { reason: 'member-removed' };
      if (!response.ok) throw new Error(`GET /feed/connections answered ${response.status}`);
      const body = (await response.json()) as { connections?: unknown; cap?: unknown; atCap?: unknown } | null;
      const counts = typeof body?.connections === 'number' && typeof body.cap === 'number' ? { connections: { connections: body.connections, cap: body.cap } } : {};
      return { reason: body?.atCap === true ? 'connection-cap' : 'unknown', ...counts };
    } catch (error) {
      report(error);
      return { reason: 'unknown' };
    }
  }

  function clearConnectionTimers(c: Connection) {
    clearTimeout(c.responseTimer);
    clearTimeout(c.gapTimer);
    clearInterval(c.keepalive);
    clearInterval(c.acker);
    c.responseTimer = c.gapTimer = c.keepalive = c.acker = undefined;
  }

  function detach(ws: WebSocketLike, close: boolean) {
    // No-op handlers rather than null: `ws` throws an 'error' event that has no listener.
    const ignore = () => undefined;
    ws.onopen = ignore;
    ws.onmessage = ignore;
    ws.onerror = ignore;
    ws.onclose = ignore;
    if (close) {
      try {
        ws.close(1000);
      } catch {
        // Closing a socket that is failing anyway.
      }
    }
  }

  function send(c: Connection, message: Record<string, unknown>) {
    if (conn !== c || c.ws.readyState !== OPEN) return false;
    try {
      c.ws.send(JSON.stringify(message));
      return true;
    } catch (error) {
      report(error);
      return false;
    }
  }

  function awaitResponse(c: Connection) {
    c.awaiting = true;
    clearTimeout(c.responseTimer);
    c.responseTimer = setTimeout(() => {
      c.responseTimer = undefined;
      if (conn !== c) return;
      report(new Error('The feed did not answer in time; reconnecting'));
      dropConnection(c);
    }, responseTimeoutMs);
  }

  function answered(c: Connection) {
    c.awaiting = false;
    clearTimeout(c.responseTimer);
    c.responseTimer = undefined;
  }

  function sendResume(c: Connection, afterSeq: number | null) {
    if (conn !== c) return;
    c.resumeInFlight = true;
    awaitResponse(c);
    send(c, afterSeq === null ? { action: 'resume' } : { action: 'resume', afterSeq });
  }

  function sendAck(c: Connection) {
    if (lastSeq === null || (lastAcked !== null && lastSeq <= lastAcked)) return;
    if (send(c, { action: 'ack', seq: lastSeq })) lastAcked = lastSeq;
  }

  // ---- frames ----

  function onFrame(c: Connection, data: unknown) {
    let frame: Frame;
    try {
      const parsed: unknown = JSON.parse(textOf(data));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      frame = parsed as Frame;
    } catch {
      report(new Error('The feed sent a frame that is not a JSON object'));
      return;
    }
    switch (frame.type) {
      case 'events':
        bufferLive(c, eventsOf(frame.events, true));
        enqueue(c, () => drain(c));
        return;
      case 'subscribed':
        answered(c);
        enqueue(c, () => {
          if (conn !== c || c.subscribed) return;
          c.subscribed = true;
          setState('replaying');
          sendResume(c, lastSeq);
        });
        return;
      case 'replay':
        answered(c);
        enqueue(c, () => onReplay(c, frame));
        return;
      case 'resync_required':
        answered(c);
        enqueue(c, () => onResync(c, frame));
        return;
      case 'pong':
        enqueue(c, () => onPong(c, frame.headSeq));
        return;
      case 'acked':
        return;
      case 'error':
      case undefined: {
        // An error frame, or API Gateway's own `{"message":"Internal server error",…}`.
        const detail = typeof frame.detail === 'string' ? frame.detail : typeof frame.message === 'string' ? frame.message : JSON.stringify(frame);
        report(new Error(`The feed answered ${typeof frame.code === 'string' ? frame.code : 'an error'}: ${detail}`));
        // A subscribe or resume that failed leaves the connection stuck: start over.
        if (c.awaiting) dropConnection(c);
        return;
      }
      default:
        // A frame type this client does not know: ignored.
        return;
    }
  }

  function bufferLive(c: Connection, events: FeedEvent[]) {
    for (const event of events) {
      if (lastSeq !== null && event.seq <= lastSeq) continue;
      if (!buffer.has(event.seq)) {
        buffer.set(event.seq, event);
        bufferVersion += 1;
      }
    }
    if (buffer.size > maxBuffered) {
      buffer.clear();
      bufferVersion += 1;
      report(new Error(`More than ${maxBuffered} events out of order: dropped them, resuming`));
      if (conn === c && c.live && !c.resumeInFlight && !resyncing) sendResume(c, lastSeq);
    }
  }

  async function onReplay(c: Connection, frame: Frame) {
    if (conn !== c) return; // the next connection replays again
    const events = eventsOf(frame.events);
    if (!c.resumeInFlight) {
      // Not an answer to this client's resume: take its events by the ordering rule only.
      bufferLive(c, events);
      await drain(c);
      return;
    }
    c.resumeInFlight = false;
    // A replay holds every event of the subscription after the resume's afterSeq (≤ lastSeq), through throughSeq.
    await deliverAll(events);
    if (halted) return;
    advanceTo(frame.throughSeq);
    if (conn !== c) return;
    if (frame.more === true) {
      sendResume(c, lastSeq);
      return;
    }
    if (!c.live) {
      c.live = true;
      attempt = 0; // a connection that replayed works: the next reconnect starts its backoff afresh
    }
    setState('live');
    await drain(c);
  }

  async function onResync(c: Connection, frame: Frame) {
    if (conn !== c) return;
    c.resumeInFlight = false;
    const info: ResyncInfo = {
      afterSeq: numberOr(frame.afterSeq, lastSeq ?? 0),
      oldestSeq: numberOr(frame.oldestSeq, 0),
      headSeq: numberOr(frame.headSeq, 0),
      lastSeq,
    };
    resyncing = true;
    setState('resyncing');
    // Past the server's latest event (its database was restored from a backup): the application holds events
    // that no longer exist (onResync reloads), and the server may already have handed their numbers to new events.
    const ahead = info.afterSeq > info.headSeq;
    try {
      if (options.onResync) {
        const seq = await options.onResync(info);
        if (halted) return;
        if (ahead) {
          lastSeq = seq;
          buffer.clear();
          bufferVersion += 1;
        } else advanceTo(seq);
      } else if (ahead && (apiUrl === undefined || !fetchImpl)) {
        report(new Error(`The feed's latest event is ${info.headSeq}, before this client's ${info.afterSeq}: reload the application's state (onResync)`));
        fail(c);
        return;
      } else if (ahead) {
        report(new Error(`The feed's latest event is ${info.headSeq}, before this client's ${info.afterSeq} (a restored database): events after ${info.headSeq} this client had are gone`));
        const oldest = delivered.keys().next();
        lastSeq = Math.max(0, Math.min(info.headSeq, oldest.done ? info.headSeq : oldest.value - 1));
        buffer.clear();
        bufferVersion += 1;
        await catchUp(lastSeq);
        if (halted) return;
      } else if (apiUrl !== undefined && fetchImpl) {
        await catchUp(lastSeq ?? info.afterSeq);
        if (halted) return;
      } else {
        const error = new Error(
          `The feed cannot replay after seq ${info.afterSeq} (its window starts at ${info.oldestSeq}); pass onResync or apiUrl`,
        );
        report(error);
        fail(c);
        return;
      }
    } finally {
      resyncing = false;
    }
    if (conn !== c) return; // the next connection resumes from the new position
    setState(c.live ? 'live' : 'replaying');
    sendResume(c, lastSeq);
  }

  function onPong(c: Connection, headSeq: unknown) {
    if (conn !== c || !c.live || resyncing || c.resumeInFlight || lastSeq === null) return;
    prune();
    // A gap at the end: events broadcast that never came.
    if (buffer.size === 0 && typeof headSeq === 'number' && headSeq > lastSeq) sendResume(c, lastSeq);
  }

  // ---- delivery ----

  /** Delivers what the buffer holds in order; stops at a gap and, if it lasts, resumes. */
  async function drain(c: Connection) {
    if (conn !== c || !c.live || resyncing) return;
    let progressed = false;
    let version = -1;
    let order: number[] = [];
    let index = 0;
    while (!halted && lastSeq !== null) {
      if (version !== bufferVersion) {
        order = [...buffer.keys()].sort((a, b) => a - b);
        index = 0;
        version = bufferVersion;
      }
      const seq = order[index];
      if (seq === undefined) break;
      const event = buffer.get(seq);
      if (!event || seq <= lastSeq) {
        buffer.delete(seq); // a duplicate
        index += 1;
        continue;
      }
      if (event.prevSeq > lastSeq) break; // a gap: what comes before it has not arrived
      buffer.delete(seq);
      index += 1;
      await deliver(event);
      progressed = true;
    }
    if (halted || conn !== c) return;
    if (buffer.size === 0 || progressed) {
      clearTimeout(c.gapTimer);
      c.gapTimer = undefined;
    }
    if (buffer.size > 0 && !c.gapTimer) {
      // Jittered: a real gap is seen by every client of the organization at once; their resumes spread out.
      c.gapTimer = setTimeout(() => {
        c.gapTimer = undefined;
        enqueue(c, () => onGapTimeout(c));
      }, gapTimeoutMs * (0.5 + random()));
    }
  }

  async function onGapTimeout(c: Connection) {
    if (conn !== c || !c.live || resyncing) return;
    prune();
    if (buffer.size === 0) return;
    // A resume in flight closes it (or the drain after its replay restarts the clock).
    if (!c.resumeInFlight) sendResume(c, lastSeq);
  }

  function prune() {
    if (lastSeq === null) return;
    for (const seq of buffer.keys()) {
      if (seq <= lastSeq) {
        buffer.delete(seq);
        bufferVersion += 1;
      }
    }
  }

  /** Delivers a complete run of events (a replay or a catch-up page): everything after lastSeq, in order. */
  async function deliverAll(events: FeedEvent[]) {
    for (const event of [...events].sort((a, b) => a.seq - b.seq)) {
      if (halted) return;
      if (lastSeq !== null && event.seq <= lastSeq) continue;
      await deliver(event);
    }
  }

  async function deliver(event: FeedEvent) {
    // Another project's event in a project subscription's live frame: it only moves the position on; so does an event
    // delivered already (met again when a restored server's log is read back from before the client's position).
    if (event.skipped === true || delivered.get(event.seq) === event.id) return advanceTo(event.seq);
    let full = event;
    if (event.truncated === true && apiUrl !== undefined && fetchImpl) full = await readEvent(event);
    if (halted) return;
    try {
      await options.onEvent(full);
    } catch (error) {
      report(error);
    }
    if (lastSeq === null || event.seq > lastSeq) lastSeq = event.seq;
    delivered.delete(event.seq);
    delivered.set(event.seq, event.id);
    if (delivered.size > REMEMBERED_EVENTS) delivered.delete(delivered.keys().next().value!);
  }

  function advanceTo(seq: unknown) {
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && (lastSeq === null || seq > lastSeq)) lastSeq = seq;
    prune();
  }

  // ---- REST ----

  async function activity(afterSeq: number, limit: number, projectId?: string) {
    const token = await getToken();
    const query = `afterSeq=${afterSeq}&limit=${limit}${projectId !== undefined ? `&projectId=${encodeURIComponent(projectId)}` : ''}`;
    const response = await fetchImpl!(`${apiUrl}/activity?${query}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
    if (!response.ok) throw new Error(`GET /activity?${query} answered ${response.status}`);
    const body = (await response.json()) as { events?: unknown; throughSeq?: unknown; more?: unknown } | null;
    return { events: eventsOf(body?.events), throughSeq: body?.throughSeq, more: body?.more === true };
  }

  /** Pages through `GET /activity` from `afterSeq`, delivering every event, until the last page. */
  async function catchUp(afterSeq: number) {
    let position = afterSeq;
    for (;;) {
      const page = await activity(position, CATCH_UP_PAGE, options.projectId);
      if (halted) return;
      await deliverAll(page.events);
      if (halted) return;
      advanceTo(page.throughSeq);
      if (!page.more) return;
      if (lastSeq === null || lastSeq <= position) throw new Error(`GET /activity?afterSeq=${position} said more but made no progress`);
      position = lastSeq;
    }
  }

  /** The whole event a frame truncated. */
  async function readEvent(event: FeedEvent): Promise<FeedEvent> {
    const page = await activity(event.seq - 1, 1);
    const found = page.events.find((candidate) => candidate.seq === event.seq);
    if (!found) throw new Error(`GET /activity?afterSeq=${event.seq - 1}&limit=1 did not return event ${event.seq}`);
    const { truncated: _truncated, ...rest } = found;
    // prevSeq as this subscription numbers it.
    return { ...rest, prevSeq: event.prevSeq };
  }

  // ---- lifecycle ----

  /** Gives up (resync_required and no way to catch up). */
  function fail(c: Connection) {
    setState('error');
    halted = true;
    clearTimeout(reconnectTimer);
    if (conn === c) {
      conn = undefined;
      clearConnectionTimers(c);
      detach(c.ws, true);
    }
  }

  return {
    start() {
      if (state !== 'idle') return;
      void connect();
    },
    stop() {
      if (halted && state === 'stopped') return;
      const c = conn;
      if (c && !halted) sendAck(c);
      halted = true;
      state = 'stopped';
      clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      conn = undefined;
      if (c) {
        clearConnectionTimers(c);
        detach(c.ws, true);
      }
      buffer.clear();
    },
    ack() {
      if (conn && !halted) sendAck(conn);
    },
    get lastSeq() {
      return lastSeq;
    },
    get state() {
      return state;
    },
  };
}

function textOf(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return String(data);
}

/** The well-formed events of a list; live frames' must have `prevSeq` (replays and REST pages are complete runs). */
function eventsOf(value: unknown, needPrevSeq = false): FeedEvent[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (item): item is FeedEvent =>
      typeof item === 'object' &&
      item !== null &&
      Number.isSafeInteger((item as FeedEvent).seq) &&
      (needPrevSeq ? Number.isSafeInteger((item as FeedEvent).prevSeq) : true),
  );
}

function numberOr(value: unknown, fallback: number) {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
