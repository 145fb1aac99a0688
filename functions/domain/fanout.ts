import pLimit from 'p-limit';
import type { FanoutShard } from './messages';
import { removeConnection } from './feed-registry';
import { chunks, type FeedEntry, type FeedEvent } from './feed';

/** Posts one frame to one connection: 'gone' when API Gateway no longer has it (410). */
export type PostFrame = (connectionId: string, frame: string) => Promise<'sent' | 'gone'>;

export interface FanoutReport {
  frames: number;
  gone: number;
  postFailures: number;
  /** Connections not posted to because the invocation's time was running out. */
  skipped: number;
  /** For each event in each frame posted, from its commit (occurredAt) to the post: the feed-delivery SLI. */
  deliveryDelaysMs: number[];
}

export interface FanoutOptions {
  post: PostFrame;
  /** Posts under way at once (the @connections client's kept-alive sockets). */
  concurrency: number;
  log: (message: string, extra: Record<string, unknown>) => void;
  /** False when the invocation is about to time out: the posts not yet made are skipped. */
  timeLeft?: () => boolean;
}

/**
 * One shard of a broadcast (functions/domain/broadcast.ts) to its connections: per connection the shard's events in
 * sequence order, in as few 32 KB frames as they fit, `concurrency` connections at a time. A project subscription
 * gets a `skipped` entry for another project's event, so its chain has no holes. A gone connection (410) is removed;
 * another failed or slow post (the client's timeout) is counted and not retried (the client sees the gap and
 * resumes); neither fails the shard, and either costs only its own connection. When `timeLeft` says the invocation
 * is about to time out, the posts not yet made are skipped rather than the shard coming back for everyone.
 */
export async function fanOut(shard: FanoutShard, { post, concurrency, log, timeLeft = () => true }: FanoutOptions): Promise<FanoutReport> {
  const report: FanoutReport = { frames: 0, gone: 0, postFailures: 0, skipped: 0, deliveryDelaysMs: [] };
  const { events } = shard;
  // The frames of each subscription, made once: most connections of a shard share one (the whole organization's).
  const framesBySubscription = new Map<string | null, { frame: string; entries: FeedEntry[] }[]>();
  const framesFor = (projectId: string | null) => {
    let frames = framesBySubscription.get(projectId);
    if (!frames) {
      frames = chunks(entriesFor(projectId, events)).map((entries) => ({ frame: JSON.stringify({ type: 'events', events: entries }), entries }));
      framesBySubscription.set(projectId, frames);
    }
    return frames;
  };
  const limit = pLimit(concurrency);
  await Promise.all(
    shard.connections.map((connection) =>
      limit(async () => {
        if (!timeLeft()) {
          report.skipped += 1;
          return;
        }
        for (const { frame, entries } of framesFor(connection.projectId)) {
          try {
            if ((await post(connection.connectionId, frame)) === 'gone') {
              report.gone += 1;
              await removeConnection(shard.organizationId, connection.connectionId).catch((error: unknown) => log('a gone connection could not be removed', { error }));
              return;
            }
            report.frames += 1;
            const posted = Date.now();
            for (const entry of entries) if ('occurredAt' in entry) report.deliveryDelaysMs.push(posted - Date.parse(entry.occurredAt));
          } catch (error) {
            report.postFailures += 1;
            log('a frame could not be posted; the client will see the gap', { connectionId: connection.connectionId, error });
            return;
          }
        }
      }),
    ),
  );
  return report;
}

function entriesFor(projectId: string | null, events: readonly FeedEvent[]): FeedEntry[] {
  if (!projectId) return [...events];
  return events.map((event) => (event.projectId === projectId ? event : { seq: event.seq, prevSeq: event.prevSeq, skipped: true }));
}
