import pLimit from 'p-limit';
import type { FeedMessage } from './messages';
import { advanceHead, removeConnection, subscribedConnections, type Connection } from './feed-registry';
import { chunks, fitted, type FeedEntry, type FeedEvent } from './feed';

/** Posts one frame to one connection: 'gone' when API Gateway no longer has it (410). */
export type PostFrame = (connectionId: string, frame: string) => Promise<'sent' | 'gone'>;

export interface BroadcastReport {
  /** Messages whose organization could not be served (the registry failed): to be received again. */
  failed: string[];
  frames: number;
  gone: number;
  postFailures: number;
  /** Connections not posted to because the invocation's time was running out. */
  skipped: number;
  /** For each event in each frame posted, from its commit (occurredAt) to the post: the feed-delivery SLI. */
  deliveryDelaysMs: number[];
}

export interface BroadcastEvent {
  messageId: string;
  message: FeedMessage;
  requestId: string;
}

// Posts under way at once per invocation: API Gateway's @connections rate is shared by the account.
const POST_CONCURRENCY = 25;

/**
 * One batch of events to every subscribed connection of their organizations: one registry read per
 * organization, and per connection the batch's events in sequence order, in as few 32 KB frames as they fit.
 * A project subscription gets a `skipped` entry for another project's event, so its chain has no holes.
 * A gone connection (410) is removed; another failed post is counted and not retried (the client sees the
 * gap and resumes); neither fails the batch. A registry failure fails that organization's messages only.
 * When `timeLeft` says the invocation is about to time out, the posts not yet made are skipped rather than
 * the whole batch failing and coming back for everyone.
 */
export async function broadcast(
  events: readonly BroadcastEvent[],
  post: PostFrame,
  log: (message: string, extra: Record<string, unknown>) => void,
  timeLeft: () => boolean = () => true,
): Promise<BroadcastReport> {
  const report: BroadcastReport = { failed: [], frames: 0, gone: 0, postFailures: 0, skipped: 0, deliveryDelaysMs: [] };
  const byOrg = new Map<string, BroadcastEvent[]>();
  for (const event of events) byOrg.set(event.message.organizationId, [...(byOrg.get(event.message.organizationId) ?? []), event]);
  const limit = pLimit(POST_CONCURRENCY);

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
      const feedEvents = dedupe(orgEvents.map(toFeedEvent)).sort((a, b) => a.seq - b.seq);
      await Promise.all(
        connections.map((connection) =>
          limit(async () => {
            if (!timeLeft()) {
              report.skipped += 1;
              return;
            }
            for (const chunk of chunks(entriesFor(connection, feedEvents))) {
              try {
                if ((await post(connection.connectionId, JSON.stringify({ type: 'events', events: chunk }))) === 'gone') {
                  report.gone += 1;
                  await removeConnection(orgId, connection.connectionId).catch((error: unknown) => log('a gone connection could not be removed', { error }));
                  return;
                }
                report.frames += 1;
                const posted = Date.now();
                for (const entry of chunk) if ('occurredAt' in entry) report.deliveryDelaysMs.push(posted - Date.parse(entry.occurredAt));
              } catch (error) {
                report.postFailures += 1;
                log('a frame could not be posted; the client will see the gap', { connectionId: connection.connectionId, error });
                return;
              }
            }
          }),
        ),
      );
      // pong's headSeq: a client that missed the last frame sees it on its next keepalive.
      await advanceHead(orgId, feedEvents.at(-1)!.seq).catch((error: unknown) => log('the feed head could not be advanced', { orgId, error }));
    }),
  );
  return report;
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

function entriesFor(connection: Connection, events: readonly FeedEvent[]): FeedEntry[] {
  if (!connection.projectId) return [...events];
  return events.map((event) => (event.projectId === connection.projectId ? event : { seq: event.seq, prevSeq: event.prevSeq, skipped: true }));
}
