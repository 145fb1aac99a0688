import { FANOUT_SHARD_CONNECTIONS, type FanoutShard, type FeedMessage } from './messages';
import { advanceHead, subscribedConnections, type Connection } from './feed-registry';
import { fitted, truncated, type FeedEvent } from './feed';
import { groupsOf } from '../shared/groups';

/** Queues an organization's shards (the `feedFanout` queue): how many of them could not be queued. */
export type SendShards = (shards: FanoutShard[]) => Promise<number>;

export interface BroadcastReport {
  /** Messages whose organization could not be served (the registry or the fan-out queue failed): to be received again. */
  failed: string[];
  /** Shards queued, and the connections they hold. */
  shards: number;
  connections: number;
}

export interface BroadcastEvent {
  messageId: string;
  message: FeedMessage;
  requestId: string;
}

// A shard is one SQS message: at most 256 KB (SQS's limit before 2025, which the local emulator and older queues
// keep). The events take at most EVENTS_BYTES of it, the connections the rest.
const SHARD_BYTES = 240 * 1024;
const EVENTS_BYTES = 96 * 1024;

/**
 * One batch of events to every subscribed connection of their organizations, in parallel: one registry read per
 * organization, then its connections split into shards of at most FANOUT_SHARD_CONNECTIONS, each queued with the
 * batch's events (in sequence order, deduplicated) for a fan-out invocation of its own (functions/domain/fanout.ts),
 * so no invocation posts to thousands and a slow shard holds up only its own connections. Events too large to
 * travel together lose their payloads (`truncated`, as a frame does: the client reads them over REST). A registry or
 * queue failure fails that organization's messages only: they come back, and a shard sent twice is a duplicate
 * the client drops. The organization's head (pong's headSeq) moves once its shards are queued.
 */
export async function broadcast(
  events: readonly BroadcastEvent[],
  sendShards: SendShards,
  log: (message: string, extra: Record<string, unknown>) => void,
): Promise<BroadcastReport> {
  const report: BroadcastReport = { failed: [], shards: 0, connections: 0 };
  const byOrg = new Map<string, BroadcastEvent[]>();
  for (const event of events) byOrg.set(event.message.organizationId, [...(byOrg.get(event.message.organizationId) ?? []), event]);

  await Promise.all(
    [...byOrg].map(async ([orgId, orgEvents]) => {
      let connections: Connection[];
      try {
        connections = await subscribedConnections(orgId);
      } catch (error) {
        log('the connection registry could not be read; the messages will be received again', { orgId, error });
        report.failed.push(...orgEvents.map((event) => event.messageId));
        return;
      }
      const feedEvents = withinBytes(dedupe(orgEvents.map(toFeedEvent)).sort((a, b) => a.seq - b.seq), EVENTS_BYTES);
      const shards = shardsOf(orgId, feedEvents, connections);
      const unsent = shards.length === 0 ? 0 : await sendShards(shards);
      if (unsent > 0) {
        log('fan-out shards could not be queued; the messages will be received again', { orgId, unsent, shards: shards.length });
        report.failed.push(...orgEvents.map((event) => event.messageId));
        return;
      }
      report.shards += shards.length;
      report.connections += connections.length;
      // pong's headSeq: a client that missed the last frame sees it on its next keepalive.
      await advanceHead(orgId, feedEvents.at(-1)!.seq).catch((error: unknown) => log('the feed head could not be advanced', { orgId, error }));
    }),
  );
  return report;
}

/** The connections in shards of at most FANOUT_SHARD_CONNECTIONS, each message within SHARD_BYTES. */
function shardsOf(organizationId: string, events: FeedEvent[], connections: readonly Connection[]): FanoutShard[] {
  const entries = connections.map(({ connectionId, projectId }) => ({ connectionId, projectId: projectId ?? null }));
  const room = SHARD_BYTES - bytes({ organizationId, events, connections: [] });
  return groupsOf(entries, { count: FANOUT_SHARD_CONNECTIONS, bytes: room, sizeOf: (entry) => bytes(entry) + 1 }).map((shard) => ({ organizationId, events, connections: shard }));
}

/** The events within `limit` bytes together: the largest payloads go first (the events stay, `truncated`). */
function withinBytes(events: FeedEvent[], limit: number): FeedEvent[] {
  const out = [...events];
  let total = out.reduce((sum, event) => sum + bytes(event), 0);
  const bySize = out.map((event, index) => ({ index, size: bytes(event) })).sort((a, b) => b.size - a.size);
  for (const { index } of bySize) {
    if (total <= limit) break;
    const smaller = truncated(out[index]!);
    total -= bytes(out[index]!) - bytes(smaller);
    out[index] = smaller;
  }
  return out;
}

function toFeedEvent({ message, requestId }: BroadcastEvent): FeedEvent {
  return fitted({
    seq: message.seq,
    prevSeq: message.seq - 1,
    id: message.eventId,
    type: message.type,
    subjectId: message.subjectId,
    projectId: message.projectId,
    actorId: message.actorId,
    occurredAt: message.occurredAt,
    requestId,
    payload: message.payload,
  });
}

/** SQS may deliver an event twice, even in one batch. */
function dedupe(events: FeedEvent[]): FeedEvent[] {
  return [...new Map(events.map((event) => [event.seq, event])).values()];
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
