import { db } from '../shared/db';
import { requiredEnv } from '../shared/env';
import { logger } from '../shared/logger';
import { span } from '../shared/spans';
import { sendMessages } from '../shared/sqs';

/** An outbox entry as the statement that wrote it returns it, ready to publish. */
export interface OutboxEntry {
  id: string;
  destination: string;
  body: unknown;
  requestId: string | null;
  traceparent: string | null;
}

/**
 * The lease of a new entry: the relay leaves it to the writer's own fast path this long. Short, because the
 * relay is the only path when the fast path fails (target: no entry older than 5 s). From the clock, not
 * the transaction's start: a statement that waited for a lock still leaves its fast path the full time.
 */
export const FAST_PATH_LEASE = "clock_timestamp() + interval '2 seconds'";

/** In a mutation's final SELECT: the outbox entries the statement wrote (CTE `outboxed`), as JSON. */
export const OUTBOX_ENTRIES = `(SELECT coalesce(json_agg(json_build_object(
    'id', o.id, 'destination', o.destination, 'body', o.body, 'requestId', o.request_id, 'traceparent', o.traceparent)), '[]'::json)
  FROM outboxed o) AS outbox`;

// OUTBOX_ROUTES as last parsed (read at each use: a function not given it fails, as it would in Lambda).
let parsed: { text: string; routes: Record<string, string[]> } | undefined;

/** The queues an event type goes to (OUTBOX_ROUTES, built from the declaration), as an SQL array literal. */
export function destinationsOf(type: string): string {
  const text = requiredEnv('OUTBOX_ROUTES');
  if (parsed?.text !== text) parsed = { text, routes: JSON.parse(text) as Record<string, string[]> };
  const names = parsed.routes[type] ?? [];
  // Queue names become SQL text: only plain identifiers pass.
  for (const name of names) if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`bad queue name ${name} in OUTBOX_ROUTES`);
  return `'{${names.join(',')}}'::text[]`;
}

/**
 * The fast path: publishes a just-committed statement's entries and marks them published. It never
 * fails the request: whatever is not sent (SQS down, the process frozen or killed before the mark)
 * the relay publishes once the lease ends. A send whose mark is lost is published twice; consumers
 * take effect once per event.
 */
export async function publishNow(entries: readonly OutboxEntry[] | undefined): Promise<void> {
  if (!entries || entries.length === 0) return;
  try {
    // A span of the request (review M2): the send and the mark inside it are its children in time.
    const destinations = [...new Set(entries.map((entry) => entry.destination))].join(',');
    await span('outbox', `published to ${destinations}`, { entries: entries.length, queues: destinations }, async () => {
      const { sent, failed } = await publish(entries);
      if (failed.length > 0) logger.warn('outbox fast path: not sent, left to the relay', { failed });
      if (sent.length > 0) await markPublished(sent);
    });
  } catch (error) {
    logger.warn('outbox fast path failed, left to the relay', { error });
  }
}

/** Sends entries to their queues with the correlation attributes; reports which were sent. */
export async function publish(entries: readonly OutboxEntry[]) {
  const byQueue = new Map<string, OutboxEntry[]>();
  for (const entry of entries) byQueue.set(entry.destination, [...(byQueue.get(entry.destination) ?? []), entry]);
  const sent: string[] = [];
  const failed: { id: string; reason: string }[] = [];
  const results = await Promise.all([...byQueue].map(([queue, queued]) =>
    sendMessages(
      queue,
      queued.map((entry) => ({
        id: entry.id,
        body: JSON.stringify(entry.body),
        attributes: {
          ...(entry.requestId ? { requestId: entry.requestId } : {}),
          ...(entry.traceparent ? { traceparent: entry.traceparent } : {}),
        },
      })),
    ),
  ));
  for (const result of results) {
    sent.push(...result.sent);
    failed.push(...result.failed);
  }
  return { sent, failed };
}

export async function markPublished(ids: readonly string[]): Promise<void> {
  await db.query('UPDATE outbox SET published_at = now(), last_error = NULL WHERE id = ANY($1::uuid[]) AND published_at IS NULL', [ids]);
}
