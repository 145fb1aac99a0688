import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { broadcast, type BroadcastEvent } from '../../functions/domain/broadcast';
import { fanOut } from '../../functions/domain/fanout';
import { FRAME_LIMIT_BYTES } from '../../functions/domain/feed';
import { registerConnection, subscribedConnections } from '../../functions/domain/feed-registry';
import { FanoutShard, type FeedMessage } from '../../functions/domain/messages';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { createProject, createTask, invoke, memberOf, newCaller, type Caller } from '../support/api';
import { ask, invokeWebSocket } from '../support/websocket';

// The feed's server side with its real stores: replay from event_log (PostgreSQL), the registry, acks
// and heads (DynamoDB), the broadcast fan-out with a recording @connections. End to end over a real
// WebSocket: test/e2e/feed.test.ts.

const env = { ...process.env };
afterEach(() => {
  process.env.FEED_REPLAY_WINDOW = env.FEED_REPLAY_WINDOW;
  process.env.FEED_CONNECTION_CAP = env.FEED_CONNECTION_CAP;
  if (env.FEED_REPLAY_WINDOW === undefined) delete process.env.FEED_REPLAY_WINDOW;
  if (env.FEED_CONNECTION_CAP === undefined) delete process.env.FEED_CONNECTION_CAP;
});

async function connected(caller: Caller, clientId = 'tab-1'): Promise<string> {
  const connectionId = `conn-${randomUUID()}`;
  expect((await invokeWebSocket('$connect', caller, connectionId, { query: { token: 'verified', clientId } })).statusCode).toBe(200);
  return connectionId;
}

async function subscribed(caller: Caller, projectId?: string): Promise<string> {
  const connectionId = await connected(caller);
  expect(await ask('subscribe', caller, connectionId, { action: 'subscribe', ...(projectId ? { projectId } : {}) })).toEqual({
    type: 'subscribed',
    projectId: projectId ?? null,
  });
  return connectionId;
}

/** `count` connections subscribed to the whole organization, written straight to the registry (their $connect is tested above). */
async function registerSubscribed(orgId: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `bulk-${i}-${randomUUID().slice(0, 8)}`);
  const expiration = { N: String(Math.floor(Date.now() / 1000) + 3600) };
  for (let i = 0; i < ids.length; i += 25) {
    await dynamoDb()('BatchWriteItem', {
      RequestItems: {
        [process.env.CONNECTIONS_TABLE_NAME!]: ids.slice(i, i + 25).map((id) => ({
          PutRequest: { Item: { pk: { S: `org#${orgId}` }, sk: { S: `connection#${id}` }, userId: { S: 'bulk' }, clientId: { S: 'c' }, projectId: { NULL: true }, expiration } },
        })),
      },
    });
  }
  return ids;
}

/** An organization with a project and `tasks` tasks: events 1 (project.created) to tasks + 1. */
async function organizationWithEvents(tasks: number) {
  const caller = newCaller();
  const project = await createProject(caller, 'Feed');
  for (let i = 0; i < tasks; i += 1) await createTask(caller, project.id, { title: `Task ${i}` });
  return { caller, project };
}

/** Every frame of a replay from `afterSeq`, asking again while `more`. */
async function replayAll(caller: Caller, connectionId: string, afterSeq: number) {
  const frames: any[] = [];
  for (let from = afterSeq; ; ) {
    const result = await invokeWebSocket('resume', caller, connectionId, { message: { action: 'resume', afterSeq: from } });
    expect(Buffer.byteLength(result.body!)).toBeLessThanOrEqual(FRAME_LIMIT_BYTES);
    const frame = JSON.parse(result.body!);
    frames.push(frame);
    if (frame.type !== 'replay' || !frame.more) return frames;
    from = frame.throughSeq;
  }
}

describe('resume', () => {
  it('replays the events after afterSeq from event_log, in order, each chained to the one before', async () => {
    const { caller } = await organizationWithEvents(4);
    const connectionId = await subscribed(caller);
    const [frame] = await replayAll(caller, connectionId, 2);
    expect(frame).toMatchObject({ type: 'replay', throughSeq: 5, more: false });
    expect(frame.events.map((e: any) => [e.seq, e.prevSeq, e.type])).toEqual([
      [3, 2, 'task.created'],
      [4, 3, 'task.created'],
      [5, 4, 'task.created'],
    ]);
    expect(frame.events[0]).toMatchObject({ id: expect.any(String), actorId: caller.userId, payload: { title: 'Task 1' } });
  });

  it('pages a large replay in frames under 32 KB, until more is false', async () => {
    const caller = newCaller();
    const project = await createProject(caller);
    for (let i = 0; i < 6; i += 1) await createTask(caller, project.id, { title: `Big ${i}`, description: 'x'.repeat(15_000) });
    const connectionId = await subscribed(caller);
    const frames = await replayAll(caller, connectionId, 0);
    expect(frames.length).toBeGreaterThan(2);
    expect(frames.slice(0, -1).every((frame) => frame.more)).toBe(true);
    expect(frames.flatMap((frame) => frame.events.map((e: any) => e.seq))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(frames.at(-1)).toMatchObject({ more: false, throughSeq: 7 });
  });

  it('sends an event too large for a frame truncated; GET /activity has it whole', async () => {
    const caller = newCaller();
    const project = await createProject(caller);
    await createTask(caller, project.id, { title: 'Huge', description: 'é'.repeat(20_000) });
    const connectionId = await subscribed(caller);
    const [frame] = await replayAll(caller, connectionId, 1);
    expect(frame.events).toEqual([expect.objectContaining({ seq: 2, truncated: true })]);
    expect(frame.events[0].payload).toBeUndefined();
    const page = await invoke('listActivity', caller, { query: { afterSeq: '1', limit: '1' } });
    expect(page.body.events[0].payload.description).toHaveLength(20_000);
  });

  it('replays one project with a gap-free chain over the organization\'s sequence', async () => {
    const caller = newCaller();
    const a = await createProject(caller, 'A'); // 1
    const b = await createProject(caller, 'B'); // 2
    await createTask(caller, a.id); // 3
    await createTask(caller, b.id); // 4
    await createTask(caller, a.id); // 5
    await createTask(caller, b.id); // 6
    const connectionId = await subscribed(caller, a.id);
    const [frame] = await replayAll(caller, connectionId, 0);
    expect(frame.events.map((e: any) => [e.seq, e.prevSeq])).toEqual([[1, 0], [3, 1], [5, 3]]);
    // Events 4 and 6 are B's: the client may take everything up to 6 as seen.
    expect(frame).toMatchObject({ throughSeq: 6, more: false });
  });

  it('answers resync_required for a position older than the replay window or beyond the log', async () => {
    process.env.FEED_REPLAY_WINDOW = '3';
    const { caller } = await organizationWithEvents(5); // events 1..6
    const connectionId = await subscribed(caller);
    expect(await ask('resume', caller, connectionId, { action: 'resume', afterSeq: 2 })).toEqual({
      type: 'resync_required', afterSeq: 2, oldestSeq: 4, headSeq: 6,
    });
    expect(await ask('resume', caller, connectionId, { action: 'resume', afterSeq: 3 })).toMatchObject({ type: 'replay', throughSeq: 6 });
    expect(await ask('resume', caller, connectionId, { action: 'resume', afterSeq: 7 })).toMatchObject({ type: 'resync_required', headSeq: 6 });
  });

  it('starts from the client\'s last ack when it sends no position, and from now without an ack', async () => {
    const { caller } = await organizationWithEvents(3); // events 1..4
    const first = await subscribed(caller);
    expect((await ask('resume', caller, first, { action: 'resume' }))).toEqual({ type: 'replay', events: [], throughSeq: 4, more: false });
    expect(await ask('ack', caller, first, { action: 'ack', seq: 2 })).toEqual({ type: 'acked', seq: 2 });
    // An older ack arriving late changes nothing.
    await ask('ack', caller, first, { action: 'ack', seq: 1 });
    // A reloaded page: a new connection with the same clientId.
    const second = await subscribed(caller);
    const frame = await ask('resume', caller, second, { action: 'resume' });
    expect(frame.events.map((e: any) => e.seq)).toEqual([3, 4]);
    // Acks are per user and client: a colleague's tab starts from now.
    const colleague = memberOf(caller);
    const theirs = await subscribed(colleague);
    expect((await ask('resume', colleague, theirs, { action: 'resume' })).events).toEqual([]);
  });

  it('wants a subscription first, and answers bad messages with an error frame', async () => {
    const caller = newCaller();
    const connectionId = await connected(caller);
    expect(await ask('resume', caller, connectionId, { action: 'resume', afterSeq: 0 })).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await ask('resume', caller, connectionId, { action: 'resume', afterSeq: -1 })).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await ask('subscribe', caller, connectionId, { action: 'subscribe', projectId: 'nope' })).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await ask('ack', caller, connectionId, 'not json')).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(await ask('$default', caller, connectionId, { action: 'dance' })).toMatchObject({ type: 'error', code: 'UNKNOWN_ACTION' });
  });
});

describe('connections', () => {
  it('refuses a connection past the organization\'s cap with 429, and takes one again after a disconnect', async () => {
    process.env.FEED_CONNECTION_CAP = '2';
    const caller = newCaller();
    const first = await connected(caller);
    await connected(caller);
    expect((await invokeWebSocket('$connect', caller, 'conn-third', { query: { clientId: 'x' } })).statusCode).toBe(429);
    // Another organization has its own cap.
    await connected(newCaller());
    await invokeWebSocket('$disconnect', caller, first);
    await connected(caller);
  });

  it('says over REST whether the organization is at its cap (what a client asks after a refused handshake)', async () => {
    process.env.FEED_CONNECTION_CAP = '2';
    const caller = newCaller();
    const status = async () => (await invoke('getFeedConnections', caller)).body;
    expect(await status()).toEqual({ connections: 0, cap: 2, atCap: false });
    const first = await connected(caller);
    await connected(caller);
    expect((await invokeWebSocket('$connect', caller, 'conn-refused', { query: { clientId: 'x' } })).statusCode).toBe(429);
    expect(await status()).toEqual({ connections: 2, cap: 2, atCap: true });
    await invokeWebSocket('$disconnect', caller, first);
    expect(await status()).toEqual({ connections: 1, cap: 2, atCap: false });
    // Another organization's connections are its own.
    expect((await invoke('getFeedConnections', newCaller())).body).toEqual({ connections: 0, cap: 2, atCap: false });
  });

  it('refuses a malformed clientId with 400', async () => {
    expect((await invokeWebSocket('$connect', newCaller(), 'conn-bad', { query: { clientId: 'a b' } })).statusCode).toBe(400);
  });
});

describe('GET /activity', () => {
  it('pages the organization\'s events in order, with no window', async () => {
    process.env.FEED_REPLAY_WINDOW = '2';
    const { caller, project } = await organizationWithEvents(4); // 1..5
    await createProject(newCaller(), 'Someone else');
    const seqs: number[] = [];
    for (let afterSeq = 0, more = true; more; ) {
      const page = await invoke('listActivity', caller, { query: { afterSeq: String(afterSeq), limit: '2' } });
      expect(page.status).toBe(200);
      seqs.push(...page.body.events.map((e: any) => e.seq));
      ({ more } = page.body);
      afterSeq = page.body.throughSeq;
    }
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    const one = await invoke('listActivity', caller, { query: { afterSeq: '0', projectId: project.id, limit: '200' } });
    expect(one.body).toMatchObject({ throughSeq: 5, more: false });
    expect((await invoke('listActivity', caller, { query: { afterSeq: '-1' } })).status).toBe(400);
    expect((await invoke('listActivity', caller, { query: { limit: '201' } })).status).toBe(400);
  });
});

describe('broadcast and fan-out', () => {
  async function feedMessages(caller: Caller, afterSeq = 0): Promise<BroadcastEvent[]> {
    const page = await invoke('listActivity', caller, { query: { afterSeq: String(afterSeq) } });
    return page.body.events.map((event: any) => ({
      messageId: randomUUID(),
      requestId: event.requestId,
      message: {
        eventId: event.id, organizationId: caller.orgId, seq: event.seq, type: event.type, subjectId: event.subjectId,
        projectId: event.projectId, actorId: event.actorId, occurredAt: event.occurredAt, payload: event.payload,
      } satisfies FeedMessage,
    }));
  }

  /** The shards a broadcast queues, collected instead of sent to the feedFanout queue. */
  async function shardsOf(messages: BroadcastEvent[]) {
    const shards: FanoutShard[] = [];
    const report = await broadcast(messages, async (queued) => (shards.push(...queued), 0), () => undefined);
    return { report, shards };
  }

  it('sends each subscription its events, removes a gone connection, and lets no bad connection fail the others', async () => {
    const caller = newCaller();
    const a = await createProject(caller, 'A');
    const b = await createProject(caller, 'B');
    await createTask(caller, b.id);
    const whole = await subscribed(caller);
    const projectA = await subscribed(caller, a.id);
    const gone = await subscribed(caller);
    const failing = await subscribed(caller);
    await connected(caller); // never subscribed: gets nothing
    const posted = new Map<string, any[]>();
    const { report, shards } = await shardsOf((await feedMessages(caller)).reverse());
    expect(report).toEqual({ failed: [], shards: 1, connections: 4 });
    const { deliveryDelaysMs, ...counts } = await fanOut(shards[0]!, {
      post: async (connectionId, frame) => {
        if (connectionId === gone) return 'gone';
        if (connectionId === failing) throw new Error('socket hang up');
        posted.set(connectionId, [...(posted.get(connectionId) ?? []), JSON.parse(frame)]);
        return 'sent';
      },
      concurrency: 25,
      log: () => undefined,
    });
    expect(counts).toEqual({ frames: 2, gone: 1, postFailures: 1, skipped: 0 });
    expect([...posted.keys()].sort()).toEqual([whole, projectA].sort());
    // The feed-delivery SLI: one delay per event posted (a skip entry is none), each from its commit to the post.
    const eventsPosted = [...posted.values()].flat().flatMap((frame) => frame.events).filter((entry) => !entry.skipped);
    expect(deliveryDelaysMs).toHaveLength(eventsPosted.length);
    expect(deliveryDelaysMs.every((ms) => ms >= 0 && ms < 60_000)).toBe(true);
    // In sequence order, whatever order the batch came in.
    expect(posted.get(whole)![0].events.map((e: any) => [e.seq, e.type])).toEqual([[1, 'project.created'], [2, 'project.created'], [3, 'task.created']]);
    expect(posted.get(projectA)![0].events).toEqual([
      expect.objectContaining({ seq: 1, prevSeq: 0, payload: expect.objectContaining({ id: a.id }) }),
      { seq: 2, prevSeq: 1, skipped: true },
      { seq: 3, prevSeq: 2, skipped: true },
    ]);
    expect((await subscribedConnections(caller.orgId)).map((c) => c.connectionId)).not.toContain(gone);
    // The head moved: a keepalive tells a client that missed the frame.
    expect(await ask('ping', caller, whole, { action: 'ping' })).toEqual({ type: 'pong', headSeq: 3 });
  });

  it('splits a large organization into shards of at most 500 connections, each with every event of the batch', async () => {
    const caller = newCaller();
    await createProject(caller);
    const ids = await registerSubscribed(caller.orgId, 1_201);
    const { report, shards } = await shardsOf(await feedMessages(caller));
    expect(report).toEqual({ failed: [], shards: 3, connections: 1_201 });
    expect(shards.map((shard) => shard.connections.length)).toEqual([500, 500, 201]);
    expect(shards.flatMap((shard) => shard.connections.map((c) => c.connectionId)).sort()).toEqual(ids.sort());
    for (const shard of shards) {
      expect(shard.events.map((e) => e.seq)).toEqual([1]);
      // What the feedFanout queue takes: the consumer's schema, within one SQS message.
      expect(FanoutShard.safeParse(shard).success).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(shard))).toBeLessThanOrEqual(256 * 1024);
    }
  });

  it('keeps a shard within one SQS message: the largest payloads of a big batch go (truncated), every event stays', async () => {
    const caller = newCaller();
    const project = await createProject(caller);
    for (let i = 0; i < 6; i += 1) await createTask(caller, project.id, { title: `Big ${i}`, description: 'x'.repeat(19_000) });
    await subscribed(caller);
    const { shards } = await shardsOf(await feedMessages(caller));
    expect(shards).toHaveLength(1);
    expect(shards[0]!.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(shards[0]!.events.some((e) => e.truncated)).toBe(true);
    expect(shards[0]!.events[0]).not.toHaveProperty('truncated');
    expect(Buffer.byteLength(JSON.stringify(shards[0]))).toBeLessThanOrEqual(256 * 1024);
  });

  it('lets a slow or failing shard cost only its own connections; a slow connection holds up only itself', async () => {
    const caller = newCaller();
    await createProject(caller);
    await registerSubscribed(caller.orgId, 600);
    const [slowShard, healthyShard] = (await shardsOf(await feedMessages(caller))).shards;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slowIds = new Set(slowShard!.connections.map((c) => c.connectionId));
    // Every post of the first shard hangs until the second has finished (or fails: half of them throw once released).
    const slow = fanOut(slowShard!, {
      post: async (connectionId) => {
        await released;
        if (connectionId.endsWith('0')) throw new Error('timed out');
        return 'sent';
      },
      concurrency: 50,
      log: () => undefined,
    });
    // In the healthy shard, one connection's post hangs too: the other 99 are posted meanwhile.
    const stuck = healthyShard!.connections[0]!.connectionId;
    const posted: string[] = [];
    let unstick!: () => void;
    const healthy = fanOut(healthyShard!, {
      post: async (connectionId) => {
        expect(slowIds.has(connectionId)).toBe(false);
        if (connectionId === stuck) await new Promise<void>((resolve) => (unstick = resolve));
        posted.push(connectionId);
        return 'sent';
      },
      concurrency: 50,
      log: () => undefined,
    });
    await vi.waitFor(() => expect(posted.length === healthyShard!.connections.length - 1).toBe(true), { timeout: 5_000, interval: 10 });
    unstick();
    expect(await healthy).toMatchObject({ frames: 100, postFailures: 0, skipped: 0 });
    release();
    const report = await slow;
    expect(report.frames + report.postFailures).toBe(500);
    expect(report.postFailures).toBe(slowShard!.connections.filter((c) => c.connectionId.endsWith('0')).length);
  });

  it('skips the posts left when the invocation is about to time out, failing nothing', async () => {
    const caller = newCaller();
    await createProject(caller);
    await subscribed(caller);
    await subscribed(caller);
    const posted: string[] = [];
    let calls = 0;
    const { shards } = await shardsOf(await feedMessages(caller));
    const report = await fanOut(shards[0]!, {
      post: async (connectionId) => {
        posted.push(connectionId);
        return 'sent';
      },
      concurrency: 25,
      log: () => undefined,
      timeLeft: () => (calls += 1) === 1,
    });
    expect(report).toMatchObject({ frames: 1, skipped: 1 });
    expect(posted).toHaveLength(1);
  });

  it('fails the messages whose registry cannot be read, to be received again', async () => {
    const caller = newCaller();
    await createProject(caller);
    const messages = await feedMessages(caller);
    const table = process.env.CONNECTIONS_TABLE_NAME;
    process.env.CONNECTIONS_TABLE_NAME = 'no-such-table';
    try {
      const report = await broadcast(messages, async () => 0, () => undefined);
      expect(report.failed).toEqual(messages.map((m) => m.messageId));
    } finally {
      process.env.CONNECTIONS_TABLE_NAME = table;
    }
  });

  it('fails the messages whose shards could not all be queued, and leaves the head where it was', async () => {
    const caller = newCaller();
    await createProject(caller);
    const connectionId = await subscribed(caller);
    const messages = await feedMessages(caller);
    const report = await broadcast(messages, async (shards) => shards.length, () => undefined);
    expect(report).toEqual({ failed: messages.map((m) => m.messageId), shards: 0, connections: 0 });
    expect(await ask('ping', caller, connectionId, { action: 'ping' })).toEqual({ type: 'pong', headSeq: null });
  });

  it('registers within the cap counted per organization', async () => {
    const orgId = `org_${randomUUID()}`;
    expect(await registerConnection(orgId, { connectionId: 'a', userId: 'u', clientId: 'c' }, 1)).toBe('registered');
    expect(await registerConnection(orgId, { connectionId: 'b', userId: 'u', clientId: 'c' }, 1)).toBe('over-cap');
  });
});
