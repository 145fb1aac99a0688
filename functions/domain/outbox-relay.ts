import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { db } from '../shared/db';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { publishOutboxAge } from '../shared/sli';
import { recordFor } from '../shared/spans';
import { OUTBOX_METRICS } from '../shared/telemetry';
import { markPublished, publish, type OutboxEntry } from './outbox';

export interface RelayOptions {
  /** Time left before the function must stop (the Lambda context's). */
  remainingMs: () => number;
  /** Pause between polls when nothing is waiting. */
  idleMs?: number;
  batchSize?: number;
}

// A claimed entry is the claimer's for this long: longer than a publish can take (2 s SQS timeout).
const CLAIM_LEASE = '10 seconds';
// Stop polling this long before the deadline, so a publish in flight can finish and be marked.
const STOP_MARGIN_MS = 5_000;
// The metric is the largest age seen in each 10 s window: nothing is missed, and a relay writes 6 lines a minute.
const METRIC_INTERVAL_MS = 10_000;
const PURGE_INTERVAL_MS = 60_000;

/**
 * The relay: publishes what the fast path missed until its time is up. Entries are claimed with a
 * lease (`locked_until`, one short statement, SKIP LOCKED), never with a lock held across the publish,
 * an advisory lock or LISTEN, none of which RDS Proxy can share; so any number of relays may run at
 * once without publishing an entry twice while its lease holds. A failed publish is retried with
 * exponential backoff. Every 10 s the largest age of the oldest unpublished entry seen since is emitted.
 */
export async function runRelay({ remainingMs, idleMs = 500, batchSize = 100 }: RelayOptions): Promise<{ published: number }> {
  let published = 0;
  // The largest age seen in this window; null until a round succeeds, since a relay that cannot read the
  // outbox knows nothing of its age (and then reports none, so the alarm sees missing data).
  let oldest: number | null = null;
  let lastMetric = 0;
  let lastPurge = Date.now();
  let failures = 0;
  while (remainingMs() > STOP_MARGIN_MS) {
    let claimed = 0;
    try {
      const round = await relayOnce(batchSize);
      claimed = round.claimed;
      published += round.published;
      oldest = Math.max(oldest ?? 0, round.oldestAgeSeconds);
      failures = 0;
      if (Date.now() - lastPurge > PURGE_INTERVAL_MS) {
        await purgePublished();
        lastPurge = Date.now();
      }
    } catch (error) {
      // The database is away: keep trying, backing off, until the time is up.
      failures += 1;
      logger.warn('outbox relay round failed', { error, failures });
      metrics.addMetric(OUTBOX_METRICS.relayFailures, MetricUnit.Count, 1);
    }
    if (Date.now() - lastMetric >= METRIC_INTERVAL_MS) {
      if (oldest !== null) {
        metrics.addMetric(OUTBOX_METRICS.oldestUnpublishedAge, MetricUnit.Seconds, oldest);
        publishOutboxAge(oldest);
      }
      metrics.publishStoredMetrics();
      lastMetric = Date.now();
      oldest = null;
    }
    if (claimed < batchSize) await sleep(failures > 0 ? Math.min(idleMs * 2 ** failures, 5_000) : idleMs, remainingMs);
  }
  return { published };
}

/**
 * One round: claim what is due, publish it, mark what went out and reschedule what did not. Also
 * reports the age of the oldest unpublished entry (0 when there is none).
 */
async function relayOnce(batchSize = 100) {
  const { rows } = await db.query<OutboxEntry & { age: number | null; lockedUntil: string; createdAtMs: number }>(
    `WITH due AS (
       SELECT id FROM outbox
       WHERE published_at IS NULL AND locked_until <= now()
       ORDER BY locked_until
       LIMIT $1
       FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE outbox o SET locked_until = now() + interval '${CLAIM_LEASE}', attempts = o.attempts + 1
       FROM due WHERE o.id = due.id
       RETURNING o.id, o.destination, o.body, o.request_id, o.traceparent, o.locked_until, o.created_at
     ), oldest AS (
       SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM outbox WHERE published_at IS NULL
     )
     SELECT c.id, c.destination, c.body, c.request_id AS "requestId", c.traceparent, c.locked_until::text AS "lockedUntil",
       (extract(epoch FROM c.created_at) * 1000)::float8 AS "createdAtMs", oldest.age
     FROM oldest LEFT JOIN claimed c ON true`,
    [batchSize],
  );
  const oldestAgeSeconds = Math.max(0, rows[0]?.age ?? 0);
  const entries = rows.filter((row) => row.id !== null);
  if (entries.length === 0) return { claimed: 0, published: 0, oldestAgeSeconds };
  const { sent, failed } = await publish(entries);
  if (sent.length > 0) await markPublished(sent);
  // In each sampled request's own trace (review M2): its event waited in the outbox until this relay published it.
  const published = new Set(sent);
  for (const entry of entries) {
    if (!published.has(entry.id) || !entry.requestId || !entry.traceparent) continue;
    const trace = { requestId: entry.requestId, traceparent: entry.traceparent };
    recordFor(trace, logger, 'outbox', `relayed to ${entry.destination}`, entry.createdAtMs, Date.now() - entry.createdAtMs, { queue: entry.destination, entryId: entry.id });
  }
  if (failed.length > 0) {
    logger.warn('outbox relay: publish failed, retrying with backoff', { failed });
    metrics.addMetric(OUTBOX_METRICS.publishFailures, MetricUnit.Count, failed.length);
    const claimedUntil = new Map(entries.map((entry) => [entry.id, entry.lockedUntil]));
    await db.query(
      `UPDATE outbox SET last_error = f.reason,
         -- 0.2 s doubling per attempt, at most 30 s, with jitter so relays do not retry in step.
         locked_until = now() + least(0.2 * power(2, attempts - 1), 30) * (0.5 + random() / 2) * interval '1 second'
       FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS f(id, reason, claimed_until)
       -- Only while our claim holds: an entry another relay has claimed since is its business.
       WHERE outbox.id = f.id AND outbox.published_at IS NULL AND outbox.locked_until = f.claimed_until`,
      [failed.map((entry) => entry.id), failed.map((entry) => entry.reason.slice(0, 500)), failed.map((entry) => claimedUntil.get(entry.id))],
    );
  }
  metrics.addMetric(OUTBOX_METRICS.published, MetricUnit.Count, sent.length);
  return { claimed: entries.length, published: sent.length, oldestAgeSeconds };
}

// Published entries are kept a day for inspection, then deleted in bounded batches.
async function purgePublished(): Promise<void> {
  await db.query(
    `DELETE FROM outbox WHERE id IN (
       SELECT id FROM outbox WHERE published_at < now() - interval '1 day' LIMIT 5000)`,
  );
}

function sleep(ms: number, remainingMs: () => number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(ms, remainingMs() - STOP_MARGIN_MS))));
}
