import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { taskflow } from '../../lib/app';
import {
  EVENT_TYPES,
  createActivityFeed,
  type ActivityFeed,
  type ActivityFeedOptions,
  type FeedEvent,
  type FeedRefusal,
  type FeedState,
  type FetchLike,
  type WebSocketConstructor,
} from '../../lib/client/activity-feed';

// The ws package's WebSocket fits the constructor the client takes (a compile-time check).
const wsConstructor: WebSocketConstructor = WebSocket;

/** Runs every promise continuation that is ready (fake timers leave the real setImmediate alone). */
const realSetImmediate = setImmediate;
async function settle() {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => realSetImmediate(resolve));
}

/** The server side of one connection, in memory. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  closedByClient = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  send(data: string) {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close() {
    if (this.readyState === 3) return;
    this.closedByClient = true;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code: 1000, reason: '' }));
  }

  // The server's side.
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }

  refuse(status: number) {
    this.readyState = 3;
    this.onerror?.({ message: `Unexpected server response: ${status}` });
    this.onclose?.({ code: 1006, reason: '' });
  }

  drop() {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }

  push(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  actions(action: string) {
    return this.sent.filter((message) => message.action === action);
  }
}

const ev = (seq: number, prevSeq = seq - 1, extra: Partial<FeedEvent> = {}): FeedEvent => ({
  seq,
  prevSeq,
  id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
  type: 'task.updated',
  occurredAt: '2026-11-24T10:00:00.000000Z',
  payload: { n: seq },
  ...extra,
});

const replay = (events: FeedEvent[], throughSeq: number, more = false) => ({ type: 'replay', events, throughSeq, more });
const live = (...events: (FeedEvent | { seq: number; prevSeq: number; skipped: true })[]) => ({ type: 'events', events });

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const ok = (body: unknown) => ({ ok: true, status: 200, json: async () => body });

const feeds: ActivityFeed[] = [];

function harness(overrides: Partial<ActivityFeedOptions> = {}) {
  const delivered: FeedEvent[] = [];
  const states: FeedState[] = [];
  const errors: unknown[] = [];
  const feed = createActivityFeed({
    url: 'wss://feed.example/v1',
    token: 'jwt-1',
    clientId: 'tab-1',
    WebSocket: FakeSocket,
    onEvent: (event) => {
      delivered.push(event);
    },
    onStateChange: (state) => states.push(state),
    onError: (error) => errors.push(error),
    random: () => 0.5,
    ...overrides,
  });
  feeds.push(feed);
  return {
    feed,
    delivered,
    states,
    errors,
    seqs: () => delivered.map((event) => event.seq),
    socket: () => FakeSocket.all.at(-1)!,
  };
}

/** Starts the feed and plays the server through subscribe → resume → replay (one page, more:false). */
async function startLive(h: ReturnType<typeof harness>, throughSeq: number, events: FeedEvent[] = []) {
  h.feed.start();
  await settle();
  const socket = h.socket();
  socket.accept();
  socket.push({ type: 'subscribed', projectId: null });
  await settle();
  expect(socket.sent.at(-1)?.action).toBe('resume');
  socket.push(replay(events, throughSeq));
  await settle();
  expect(h.feed.state).toBe('live');
  return socket;
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});

afterEach(() => {
  for (const feed of feeds.splice(0)) feed.stop();
  vi.useRealTimers();
});

describe('connecting', () => {
  it('names every event type the feed carries (the broadcast queue\'s), comment edits and deletions and project deletions too', () => {
    expect([...EVENT_TYPES].sort()).toEqual([...taskflow.queues.broadcast.events].sort());
  });

  it('opens the URL with token and clientId, subscribes, then resumes (no afterSeq: from the last ack)', async () => {
    const h = harness({ token: async () => 'jwt-fresh' });
    h.feed.start();
    await settle();
    const socket = h.socket();
    const url = new URL(socket.url);
    expect(`${url.origin}${url.pathname}`).toBe('wss://feed.example/v1');
    expect(url.searchParams.get('token')).toBe('jwt-fresh');
    expect(url.searchParams.get('clientId')).toBe('tab-1');
    socket.accept();
    expect(socket.sent).toEqual([{ action: 'subscribe' }]);
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    expect(socket.sent).toEqual([{ action: 'subscribe' }, { action: 'resume' }]);
    expect(h.feed.lastSeq).toBeNull();
    socket.push(replay([ev(8), ev(9)], 10));
    await settle();
    expect(h.seqs()).toEqual([8, 9]);
    expect(h.feed.lastSeq).toBe(10);
    expect(h.states).toEqual(['connecting', 'subscribing', 'replaying', 'live']);
  });

  it('resumes after the afterSeq option on the first connection', async () => {
    const h = harness({ afterSeq: 7 });
    h.feed.start();
    await settle();
    h.socket().accept();
    h.socket().push({ type: 'subscribed', projectId: null });
    await settle();
    expect(h.socket().sent.at(-1)).toEqual({ action: 'resume', afterSeq: 7 });
    expect(h.feed.lastSeq).toBe(7);
  });
});

describe('ordering', () => {
  it('delivers live events in order, exactly once', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    socket.push(live(ev(11), ev(12)));
    socket.push(live(ev(13)));
    await settle();
    expect(h.seqs()).toEqual([11, 12, 13]);
    expect(h.delivered[0]).toEqual(ev(11));
    expect(h.feed.lastSeq).toBe(13);
  });

  it('drops duplicates, including events the replay already covered', async () => {
    const h = harness();
    const socket = await startLive(h, 10, [ev(9), ev(10)]);
    socket.push(live(ev(10)));
    socket.push(live(ev(11)));
    socket.push(live(ev(11), ev(12)));
    socket.push(live(ev(12)));
    socket.push(live(ev(13), ev(11)));
    await settle();
    expect(h.seqs()).toEqual([9, 10, 11, 12, 13]);
  });

  it('reorders out-of-order live frames by prevSeq without resuming', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    socket.push(live(ev(13)));
    socket.push(live(ev(12)));
    socket.push(live(ev(14)));
    await settle();
    expect(h.seqs()).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    socket.push(live(ev(11)));
    await settle();
    expect(h.seqs()).toEqual([11, 12, 13, 14]);
    await vi.advanceTimersByTimeAsync(5_000);
    await settle();
    expect(socket.actions('resume')).toHaveLength(1); // only the connection's own
  });

  it('closes a gap that lasts gapTimeoutMs with exactly one resume from the last delivered seq', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    socket.push(live(ev(11)));
    socket.push(live(ev(13)));
    await settle();
    expect(h.seqs()).toEqual([11]);
    await vi.advanceTimersByTimeAsync(999);
    await settle();
    expect(socket.actions('resume')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(socket.actions('resume')).toEqual([{ action: 'resume' }, { action: 'resume', afterSeq: 11 }]);
    // Live frames keep coming while the resume is in flight: buffered, and no second resume.
    socket.push(live(ev(14)));
    await vi.advanceTimersByTimeAsync(10_000);
    await settle();
    expect(socket.actions('resume')).toHaveLength(2);
    expect(h.seqs()).toEqual([11]);
    socket.push(replay([ev(12), ev(13)], 13));
    await settle();
    expect(h.seqs()).toEqual([11, 12, 13, 14]);
    await vi.advanceTimersByTimeAsync(10_000);
    await settle();
    expect(socket.actions('resume')).toHaveLength(2);
    expect(h.feed.lastSeq).toBe(14);
  });

  it('drops what a gap\'s replay repeats when live frames filled the gap first', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    socket.push(live(ev(11), ev(13)));
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(socket.actions('resume').at(-1)).toEqual({ action: 'resume', afterSeq: 11 });
    socket.push(live(ev(12)));
    await settle();
    expect(h.seqs()).toEqual([11, 12, 13]);
    socket.push(replay([ev(12), ev(13), ev(14)], 14));
    await settle();
    expect(h.seqs()).toEqual([11, 12, 13, 14]);
    expect(h.feed.lastSeq).toBe(14);
  });

  it('sends no resume for a gap that fills in time', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    socket.push(live(ev(12)));
    await vi.advanceTimersByTimeAsync(900);
    socket.push(live(ev(11)));
    await vi.advanceTimersByTimeAsync(5_000);
    await settle();
    expect(h.seqs()).toEqual([11, 12]);
    expect(socket.actions('resume')).toHaveLength(1);
  });

  it('pages a replay that says more, resuming from each throughSeq', async () => {
    const h = harness({ afterSeq: 5 });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    expect(socket.actions('resume')).toEqual([{ action: 'resume', afterSeq: 5 }]);
    socket.push(replay([ev(6), ev(7)], 7, true));
    await settle();
    expect(socket.actions('resume')).toEqual([{ action: 'resume', afterSeq: 5 }, { action: 'resume', afterSeq: 7 }]);
    expect(h.feed.state).toBe('replaying');
    socket.push(replay([ev(8)], 9, false));
    await settle();
    expect(socket.actions('resume')).toHaveLength(2);
    expect(h.seqs()).toEqual([6, 7, 8]);
    expect(h.feed.lastSeq).toBe(9);
    expect(h.feed.state).toBe('live');
  });

  it('follows a project subscription\'s prevSeq chain: jumps are not gaps, a missing project event is', async () => {
    const h = harness({ projectId: 'p-1', afterSeq: 3 });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    expect(socket.sent).toEqual([{ action: 'subscribe', projectId: 'p-1' }]);
    socket.push({ type: 'subscribed', projectId: 'p-1' });
    await settle();
    expect(socket.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 3 });
    // throughSeq is the organization's head, past the project's last event.
    socket.push(replay([ev(12, 3), ev(20, 12)], 30));
    await settle();
    expect(h.feed.lastSeq).toBe(30);
    socket.push(live(ev(41, 20)));
    socket.push(live(ev(57, 50)));
    await settle();
    expect(h.seqs()).toEqual([12, 20, 41]);
    socket.push(live(ev(50, 41)));
    await vi.advanceTimersByTimeAsync(5_000);
    await settle();
    expect(h.seqs()).toEqual([12, 20, 41, 50, 57]);
    expect(socket.actions('resume')).toHaveLength(1);
    socket.push(live(ev(70, 64)));
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(socket.actions('resume').at(-1)).toEqual({ action: 'resume', afterSeq: 57 });
    expect(socket.actions('resume')).toHaveLength(2);
  });

  it('moves past another project\'s skipped events in a project subscription without delivering them', async () => {
    const h = harness({ projectId: 'p-1', afterSeq: 3 });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: 'p-1' });
    await settle();
    socket.push(replay([], 3, false));
    await settle();
    socket.push(live(ev(4, 3), { seq: 5, prevSeq: 4, skipped: true }, { seq: 6, prevSeq: 5, skipped: true }, ev(7, 6)));
    await settle();
    expect(h.seqs()).toEqual([4, 7]);
    expect(h.feed.lastSeq).toBe(7);
    // A skipped event arriving alone closes a gap as a project event would.
    socket.push(live(ev(9, 8)));
    socket.push(live({ seq: 8, prevSeq: 7, skipped: true }));
    await settle();
    expect(h.seqs()).toEqual([4, 7, 9]);
    expect(socket.actions('resume')).toHaveLength(1);
  });

  it('holds live frames that come during the replay, then delivers them without loss or duplicates', async () => {
    const h = harness({ afterSeq: 5 });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push(live(ev(6), ev(9), ev(10))); // 6 fits the position, but the replay comes first
    await settle();
    expect(h.seqs()).toEqual([]);
    socket.push(replay([ev(6), ev(7)], 7, true));
    socket.push(live(ev(11)));
    await settle();
    expect(h.seqs()).toEqual([6, 7]);
    socket.push(replay([ev(8), ev(9)], 9));
    await settle();
    expect(h.seqs()).toEqual([6, 7, 8, 9, 10, 11]);
    expect(h.feed.lastSeq).toBe(11);
  });
});

describe('reconnecting', () => {
  it('resumes from the last delivered seq after a close, with growing, jittered backoff', async () => {
    const random = vi.fn<() => number>().mockReturnValueOnce(0.5).mockReturnValueOnce(0.5).mockReturnValue(0.1);
    let tokens = 0;
    const h = harness({ random, token: () => `jwt-${++tokens}` });
    const first = await startLive(h, 10);
    first.push(live(ev(11), ev(12)));
    await settle();
    first.drop();
    expect(h.feed.state).toBe('reconnecting');

    // Attempt 1: random 0.5 × 500 ms.
    await vi.advanceTimersByTimeAsync(249);
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    expect(new URL(h.socket().url).searchParams.get('token')).toBe('jwt-2');
    h.socket().refuse(401); // the handshake is refused: retried all the same
    expect(String(h.errors.at(-1))).toContain('401');

    // Attempt 2: random 0.5 × 1000 ms.
    await vi.advanceTimersByTimeAsync(499);
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(FakeSocket.all).toHaveLength(3);
    const third = h.socket();
    expect(new URL(third.url).searchParams.get('token')).toBe('jwt-3');
    third.accept();
    third.push({ type: 'subscribed', projectId: null });
    await settle();
    expect(third.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 12 });
    third.drop(); // before its replay: the backoff keeps growing

    // Attempt 3: random 0.1 × 2000 ms.
    await vi.advanceTimersByTimeAsync(199);
    await settle();
    expect(FakeSocket.all).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(FakeSocket.all).toHaveLength(4);
    const fourth = h.socket();
    fourth.accept();
    fourth.push({ type: 'subscribed', projectId: null });
    await settle();
    expect(fourth.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 12 });
    fourth.push(live(ev(14)));
    fourth.push(replay([ev(13)], 13));
    await settle();
    expect(h.seqs()).toEqual([11, 12, 13, 14]);

    // A successful replay resets the backoff: random 0.1 × 500 ms.
    fourth.drop();
    await vi.advanceTimersByTimeAsync(49);
    await settle();
    expect(FakeSocket.all).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(FakeSocket.all).toHaveLength(5);
    expect(random).toHaveBeenCalledTimes(4);
  });

  it('reconnects when subscribe is not answered within responseTimeoutMs', async () => {
    const h = harness({ responseTimeoutMs: 10_000 });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(socket.closedByClient).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.closedByClient).toBe(true);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('reconnects when an error frame answers resume', async () => {
    const h = harness();
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push({ type: 'error', code: 'UNAVAILABLE', detail: 'The feed is unavailable; retry shortly' });
    expect(socket.closedByClient).toBe(true);
    expect(h.feed.state).toBe('reconnecting');
    expect(String(h.errors.at(-1))).toContain('UNAVAILABLE');
  });
});

describe('a refused handshake', () => {
  const status = (code: number, body: unknown = {}) => ({ ok: code < 300, status: code, json: async () => body });

  it('asks GET /feed/connections why with the refused token; its 401 gets a new token at once, then backs off', async () => {
    let tokens = 0;
    const fetch = vi.fn<FetchLike>().mockResolvedValue(status(401, { code: 'UNAUTHORIZED' }));
    const refusals: FeedRefusal[] = [];
    const h = harness({ apiUrl: 'https://api.example/v1/', fetch, token: () => `jwt-${++tokens}`, onRefused: (refusal) => refusals.push(refusal) });
    h.feed.start();
    await settle();
    h.socket().refuse(401);
    await settle();
    expect(fetch).toHaveBeenCalledWith('https://api.example/v1/feed/connections', {
      headers: { Authorization: 'Bearer jwt-1', Accept: 'application/json' },
    });
    expect(refusals).toEqual([{ reason: 'token', retryInMs: 0 }]);
    // At once: no timer had to run.
    expect(FakeSocket.all).toHaveLength(2);
    expect(new URL(h.socket().url).searchParams.get('token')).toBe('jwt-2');

    // Refused again: the token function's token is no better; the ordinary backoff (random 0.5 × 500 ms), and said so.
    h.socket().refuse(401);
    await settle();
    expect(fetch).toHaveBeenLastCalledWith('https://api.example/v1/feed/connections', expect.objectContaining({ headers: expect.objectContaining({ Authorization: 'Bearer jwt-2' }) }));
    expect(refusals.at(-1)).toEqual({ reason: 'token', retryInMs: 250 });
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    expect(FakeSocket.all).toHaveLength(3);

    // A handshake that succeeds: the next expired token is asked for at once again.
    h.socket().accept();
    h.socket().drop();
    await vi.advanceTimersByTimeAsync(10_000);
    await settle();
    h.socket().refuse(401);
    await settle();
    expect(refusals.at(-1)).toEqual({ reason: 'token', retryInMs: 0 });
  });

  it('backs off longer while the organization is at its connection cap, and tells the application', async () => {
    const fetch = vi.fn<FetchLike>().mockResolvedValue(status(200, { connections: 1000, cap: 1000, atCap: true }));
    const refusals: FeedRefusal[] = [];
    const h = harness({ apiUrl: 'https://api.example/v1', fetch, onRefused: (refusal) => refusals.push(refusal) });
    h.feed.start();
    await settle();
    h.socket().refuse(429);
    await settle();
    // 30 s doubling to 5 minutes, jittered within the upper half: random 0.5 → 75 % of 30 s.
    expect(refusals).toEqual([{ reason: 'connection-cap', retryInMs: 22_500, connections: { connections: 1000, cap: 1000 } }]);
    expect(String(h.errors.at(-1))).toContain('429');
    await vi.advanceTimersByTimeAsync(22_499);
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    h.socket().refuse(429);
    await settle();
    expect(refusals.at(-1)).toMatchObject({ reason: 'connection-cap', retryInMs: 45_000 });
    expect(h.feed.state).toBe('reconnecting');
  });

  it('uses the ordinary backoff when the API says neither (not at the cap, or no answer)', async () => {
    const fetch = vi.fn<FetchLike>().mockResolvedValueOnce(status(200, { connections: 3, cap: 1000, atCap: false })).mockRejectedValueOnce(new TypeError('Failed to fetch'));
    const refusals: FeedRefusal[] = [];
    const h = harness({ apiUrl: 'https://api.example/v1', fetch, onRefused: (refusal) => refusals.push(refusal) });
    h.feed.start();
    await settle();
    h.socket().refuse(502);
    await settle();
    expect(refusals).toEqual([{ reason: 'unknown', retryInMs: 250, connections: { connections: 3, cap: 1000 } }]);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    h.socket().refuse(502);
    await settle();
    expect(refusals.at(-1)).toEqual({ reason: 'unknown', retryInMs: 500 });
    expect(h.errors.some((error) => String(error).includes('Failed to fetch'))).toBe(true);
  });

  it('gives up for good when the member was removed from the organization (403 MEMBER_REMOVED), and says so', async () => {
    const fetch = vi.fn<FetchLike>().mockResolvedValue(status(403, { code: 'MEMBER_REMOVED' }));
    const refusals: FeedRefusal[] = [];
    const h = harness({ apiUrl: 'https://api.example/v1', fetch, onRefused: (refusal) => refusals.push(refusal) });
    h.feed.start();
    await settle();
    h.socket().refuse(403);
    await settle();
    expect(refusals).toEqual([{ reason: 'member-removed', retryInMs: null }]);
    expect(h.feed.state).toBe('error');
    await vi.advanceTimersByTimeAsync(600_000);
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('stays stopped when stopped while asking why', async () => {
    let answer!: (value: ReturnType<typeof status>) => void;
    const fetch = vi.fn<FetchLike>().mockReturnValue(new Promise((resolve) => (answer = resolve)));
    const onRefused = vi.fn();
    const h = harness({ apiUrl: 'https://api.example/v1', fetch, onRefused });
    h.feed.start();
    await settle();
    h.socket().refuse(401);
    await settle();
    h.feed.stop();
    answer(status(401));
    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    expect(onRefused).not.toHaveBeenCalled();
  });
});

describe('resync_required', () => {
  it('catches up through GET /activity page by page, then resumes from where it got to', async () => {
    const page2 = deferred<ReturnType<typeof ok>>();
    const fetch = vi.fn<FetchLike>()
      .mockResolvedValueOnce(ok({ events: [ev(6), ev(7)], throughSeq: 7, more: true }))
      .mockReturnValueOnce(page2.promise);
    const h = harness({ afterSeq: 5, apiUrl: 'https://api.example/v1/', fetch });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push({ type: 'resync_required', afterSeq: 5, oldestSeq: 100, headSeq: 300 });
    await settle();
    expect(h.feed.state).toBe('resyncing');
    expect(h.seqs()).toEqual([6, 7]);
    socket.push(live(ev(301, 300))); // live while catching up: held
    await settle();
    page2.resolve(ok({ events: [ev(8)], throughSeq: 250, more: false }));
    await settle();
    expect(fetch.mock.calls).toEqual([
      ['https://api.example/v1/activity?afterSeq=5&limit=200', { headers: { Authorization: 'Bearer jwt-1', Accept: 'application/json' } }],
      ['https://api.example/v1/activity?afterSeq=7&limit=200', { headers: { Authorization: 'Bearer jwt-1', Accept: 'application/json' } }],
    ]);
    expect(socket.actions('resume')).toEqual([{ action: 'resume', afterSeq: 5 }, { action: 'resume', afterSeq: 250 }]);
    expect(h.seqs()).toEqual([6, 7, 8]);
    socket.push(replay([ev(251, 250)], 300));
    await settle();
    expect(h.seqs()).toEqual([6, 7, 8, 251, 301]);
    expect(h.feed.state).toBe('live');
    expect(h.states).toEqual(['connecting', 'subscribing', 'replaying', 'resyncing', 'replaying', 'live']);
  });

  it('adds projectId to the catch-up of a project subscription', async () => {
    const fetch = vi.fn<FetchLike>().mockResolvedValue(ok({ events: [ev(40, 12)], throughSeq: 90, more: false }));
    const h = harness({ afterSeq: 12, projectId: 'p-1', apiUrl: 'https://api.example/v1', fetch });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: 'p-1' });
    await settle();
    socket.push({ type: 'resync_required', afterSeq: 12, oldestSeq: 50, headSeq: 90 });
    await settle();
    expect(fetch.mock.calls[0]?.[0]).toBe('https://api.example/v1/activity?afterSeq=12&limit=200&projectId=p-1');
    expect(h.seqs()).toEqual([40]);
    expect(socket.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 90 });
  });

  it('lets onResync catch up instead, then resumes from the seq it returns', async () => {
    const fetch = vi.fn<FetchLike>();
    const onResync = vi.fn(async () => 250);
    const h = harness({ afterSeq: 5, apiUrl: 'https://api.example/v1', fetch, onResync });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push({ type: 'resync_required', afterSeq: 5, oldestSeq: 100, headSeq: 300 });
    await settle();
    expect(onResync).toHaveBeenCalledWith({ afterSeq: 5, oldestSeq: 100, headSeq: 300, lastSeq: 5 });
    expect(fetch).not.toHaveBeenCalled();
    expect(socket.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 250 });
    expect(h.feed.lastSeq).toBe(250);
  });

  it('reports an error state with neither onResync nor apiUrl', async () => {
    const h = harness({ afterSeq: 5 });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push({ type: 'resync_required', afterSeq: 5, oldestSeq: 100, headSeq: 300 });
    await settle();
    expect(h.feed.state).toBe('error');
    expect(h.states.at(-1)).toBe('error');
    expect(String(h.errors.at(-1))).toContain('onResync or apiUrl');
    expect(socket.closedByClient).toBe(true);
    await vi.advanceTimersByTimeAsync(120_000);
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never catches up from a position past the server\'s log: onResync reloads and the position goes back', async () => {
    const fetch = vi.fn<FetchLike>();
    const onResync = vi.fn(async () => 40);
    const h = harness({ afterSeq: 90, apiUrl: 'https://api.example/v1', fetch, onResync });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    // A database restored from a backup: its log ends at 40.
    socket.push({ type: 'resync_required', afterSeq: 90, oldestSeq: 1, headSeq: 40 });
    await settle();
    expect(fetch).not.toHaveBeenCalled();
    expect(h.feed.lastSeq).toBe(40);
    expect(socket.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 40 });
    socket.push(replay([ev(41)], 41, false));
    await settle();
    expect(h.seqs()).toEqual([41]);
  });

  it('stops with an error when it is past the server\'s log and has neither onResync nor apiUrl', async () => {
    const fetch = vi.fn<FetchLike>();
    const h = harness({ afterSeq: 90, fetch });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push({ type: 'resync_required', afterSeq: 90, oldestSeq: 1, headSeq: 40 });
    await settle();
    expect(fetch).not.toHaveBeenCalled();
    expect(h.feed.state).toBe('error');
    expect(String(h.errors.at(-1))).toContain('reload');
  });

  it('reconnects with backoff when the catch-up fails, resuming from the position it reached', async () => {
    const fetch = vi.fn<FetchLike>()
      .mockResolvedValueOnce(ok({ events: [ev(6), ev(7)], throughSeq: 7, more: true }))
      .mockResolvedValueOnce({ ok: false, status: 503, json: async () => ({}) });
    const h = harness({ afterSeq: 5, apiUrl: 'https://api.example/v1', fetch });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push({ type: 'resync_required', afterSeq: 5, oldestSeq: 100, headSeq: 300 });
    await settle();
    expect(String(h.errors.at(-1))).toContain('503');
    expect(socket.closedByClient).toBe(true);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    const next = h.socket();
    expect(next).not.toBe(socket);
    next.accept();
    next.push({ type: 'subscribed', projectId: null });
    await settle();
    expect(next.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 7 });
  });
});

describe('a restored server', () => {
  it('reads its log back from before the oldest event the client remembers, delivering only the events it has not had', async () => {
    // Restored at 2, then written to: 3 is a new event with a used number; the client's 3 and 4 are gone.
    const fresh = { ...ev(3), id: 'after-restore-3' };
    const fetch = vi.fn<FetchLike>().mockResolvedValueOnce(ok({ events: [ev(1), ev(2), fresh], throughSeq: 3, more: false }));
    const h = harness({ afterSeq: 0, apiUrl: 'https://api.example/v1', fetch });
    const socket = await startLive(h, 4, [ev(1), ev(2), ev(3), ev(4)]);
    socket.push({ type: 'resync_required', afterSeq: 4, oldestSeq: 1, headSeq: 3 });
    await settle();
    expect(String(fetch.mock.calls[0]![0])).toContain('afterSeq=0');
    expect(h.delivered.map((e) => e.id)).toEqual([ev(1).id, ev(2).id, ev(3).id, ev(4).id, 'after-restore-3']);
    expect(h.feed.lastSeq).toBe(3);
    expect(socket.sent.at(-1)).toEqual({ action: 'resume', afterSeq: 3 });
    expect(String(h.errors.at(-1))).toContain('a restored database');
  });
});

describe('keepalive', () => {
  it('pings every keepaliveMs and resumes when pong.headSeq is past the position', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    await vi.advanceTimersByTimeAsync(5 * 60_000 - 1);
    expect(socket.actions('ping')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.actions('ping')).toEqual([{ action: 'ping' }]);
    socket.push({ type: 'pong', headSeq: 12 });
    await settle();
    expect(socket.actions('resume')).toEqual([{ action: 'resume' }, { action: 'resume', afterSeq: 10 }]);
    socket.push({ type: 'pong', headSeq: 12 }); // the resume is in flight
    await settle();
    expect(socket.actions('resume')).toHaveLength(2);
    socket.push(replay([ev(11), ev(12)], 12));
    await settle();
    expect(h.seqs()).toEqual([11, 12]);
    socket.push({ type: 'pong', headSeq: 12 });
    socket.push({ type: 'pong', headSeq: null });
    await settle();
    expect(socket.actions('resume')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(socket.actions('ping')).toHaveLength(2);
  });
});

describe('truncated events', () => {
  it('reads the whole event from GET /activity before delivering it, in order', async () => {
    const response = deferred<ReturnType<typeof ok>>();
    const fetch = vi.fn<FetchLike>().mockReturnValueOnce(response.promise);
    const h = harness({ apiUrl: 'https://api.example/v1', fetch, projectId: 'p-1' });
    const socket = await startLive(h, 30);
    const { payload: _payload, ...truncated } = ev(40, 25, { truncated: true });
    socket.push(live(truncated as FeedEvent, ev(41, 40)));
    await settle();
    expect(fetch).toHaveBeenCalledWith('https://api.example/v1/activity?afterSeq=39&limit=1', {
      headers: { Authorization: 'Bearer jwt-1', Accept: 'application/json' },
    });
    expect(h.seqs()).toEqual([]);
    response.resolve(ok({ events: [ev(40, 39, { payload: { full: true } })], throughSeq: 40, more: true }));
    await settle();
    expect(h.seqs()).toEqual([40, 41]);
    expect(h.delivered[0]).toEqual(ev(40, 25, { payload: { full: true } })); // the subscription's prevSeq, no truncated flag
  });

  it('delivers a truncated event as is without apiUrl', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    socket.push(live(ev(11, 10, { truncated: true, payload: undefined })));
    await settle();
    expect(h.delivered).toEqual([expect.objectContaining({ seq: 11, truncated: true })]);
  });
});

describe('ack', () => {
  it('acknowledges the delivered position every ackEveryMs when it advanced, and on ack()', async () => {
    const h = harness({ afterSeq: 10, ackEveryMs: 2_000 });
    h.feed.start();
    await settle();
    const socket = h.socket();
    socket.accept();
    socket.push({ type: 'subscribed', projectId: null });
    await settle();
    socket.push(replay([], 10));
    await settle();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(socket.actions('ack')).toEqual([]);
    socket.push(live(ev(11), ev(12)));
    await settle();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(socket.actions('ack')).toEqual([{ action: 'ack', seq: 12 }]);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(socket.actions('ack')).toHaveLength(1);
    socket.push(live(ev(13)));
    await settle();
    h.feed.ack();
    expect(socket.actions('ack')).toEqual([{ action: 'ack', seq: 12 }, { action: 'ack', seq: 13 }]);
  });
});

describe('stop', () => {
  it('acks, closes the socket, cancels every timer and calls nothing afterwards', async () => {
    const response = deferred<ReturnType<typeof ok>>();
    const fetch = vi.fn<FetchLike>().mockReturnValueOnce(response.promise);
    const onEvent = vi.fn();
    const onStateChange = vi.fn();
    const h = harness({ apiUrl: 'https://api.example/v1', fetch, onEvent, onStateChange });
    const socket = await startLive(h, 10);
    socket.push(live(ev(11), ev(13)));
    socket.push(live(ev(14, 13, { truncated: true })));
    await settle();
    expect(onEvent).toHaveBeenCalledTimes(1);
    socket.push(live(ev(12)));
    await settle(); // 12, 13 delivered; 14 waits for its fetch
    expect(onEvent).toHaveBeenCalledTimes(3);
    const stateChanges = onStateChange.mock.calls.length;
    h.feed.stop();
    expect(socket.actions('ack')).toEqual([{ action: 'ack', seq: 13 }]);
    expect(socket.closedByClient).toBe(true);
    expect(h.feed.state).toBe('stopped');
    expect(vi.getTimerCount()).toBe(0);
    response.resolve(ok({ events: [ev(14)], throughSeq: 14, more: true }));
    socket.push(live(ev(15)));
    socket.drop();
    await vi.advanceTimersByTimeAsync(600_000);
    await settle();
    expect(onEvent).toHaveBeenCalledTimes(3);
    expect(onStateChange).toHaveBeenCalledTimes(stateChanges);
    expect(FakeSocket.all).toHaveLength(1);
    h.feed.start(); // a stopped feed stays stopped
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('cancels a pending reconnect', async () => {
    const h = harness();
    const socket = await startLive(h, 10);
    socket.drop();
    expect(vi.getTimerCount()).toBe(1);
    h.feed.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('opens nothing when stopped while the token is being fetched', async () => {
    const token = deferred<string>();
    const h = harness({ token: () => token.promise });
    h.feed.start();
    h.feed.stop();
    token.resolve('jwt-late');
    await settle();
    expect(FakeSocket.all).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('with the ws package', () => {
  it('delivers from a real WebSocket server and resumes after the server drops the connection', async () => {
    vi.useRealTimers();
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const urls: string[] = [];
    const resumes: unknown[] = [];
    server.on('connection', (socket, request) => {
      urls.push(request.url ?? '');
      socket.on('message', (raw) => {
        const message = JSON.parse(String(raw)) as { action: string; afterSeq?: number };
        if (message.action === 'subscribe') socket.send(JSON.stringify({ type: 'subscribed', projectId: null }));
        if (message.action === 'resume') {
          resumes.push(message);
          if (message.afterSeq === 1) {
            socket.send(JSON.stringify(live(ev(4))));
            socket.send(JSON.stringify(replay([ev(2), ev(3)], 3)));
          } else {
            socket.send(JSON.stringify(replay([ev(5)], 5)));
          }
        }
      });
    });
    const delivered: number[] = [];
    const reached = (seq: number) => new Promise<void>((resolve) => waiters.set(seq, resolve));
    const waiters = new Map<number, () => void>();
    const feed = createActivityFeed({
      url: `ws://127.0.0.1:${port}/v1`,
      token: 'jwt',
      clientId: 'probe',
      afterSeq: 1,
      WebSocket: wsConstructor,
      backoff: { initialMs: 20 },
      onEvent: (event) => {
        delivered.push(event.seq);
        waiters.get(event.seq)?.();
      },
    });
    feeds.push(feed);
    try {
      const four = reached(4);
      feed.start();
      await four;
      expect(delivered).toEqual([2, 3, 4]);
      expect(urls).toEqual(['/v1?token=jwt&clientId=probe']);
      const five = reached(5);
      for (const client of server.clients) client.terminate();
      await five;
      expect(delivered).toEqual([2, 3, 4, 5]);
      expect(resumes).toEqual([{ action: 'resume', afterSeq: 1 }, { action: 'resume', afterSeq: 4 }]);
    } finally {
      feed.stop();
      for (const client of server.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
