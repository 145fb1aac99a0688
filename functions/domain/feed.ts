import { read } from '../shared/db';

/** An event as the feed sends it (docs/feed.md): the event-log row, and where it sits in its subscription's chain. */
export interface FeedEvent {
  seq: number;
  /** The previous sequence number the subscription includes: the client has missed something when this is beyond its position. */
  prevSeq: number;
  id: string;
  type: string;
  subjectId: string;
  projectId: string | null;
  actorId: string;
  occurredAt: string;
  requestId?: string | null;
  /** Absent when `truncated`: the event did not fit in a frame. */
  payload?: unknown;
  truncated?: true;
}

/** A live frame's stand-in for an event of another project (project subscriptions): it keeps the chain gap-free. */
export interface FeedSkip {
  seq: number;
  prevSeq: number;
  skipped: true;
}

export type FeedEntry = FeedEvent | FeedSkip;

/** API Gateway's WebSocket frame limit. */
export const FRAME_LIMIT_BYTES = 32 * 1024;
// Room for the frame's own fields around its events.
const ENVELOPE_BYTES = 256;

/** The event as it fits in a frame: a payload too large for one goes, and the client reads it over REST. */
export function fitted(event: FeedEvent): FeedEvent {
  return byteLength(event) <= FRAME_LIMIT_BYTES - ENVELOPE_BYTES ? event : truncated(event);
}

/** The event without its payload, which the client reads over REST. */
export function truncated(event: FeedEvent): FeedEvent {
  const { payload: _omitted, ...rest } = event;
  return { ...rest, truncated: true };
}

/** Splits entries, in order, over as few chunks as fit in frames of at most 32 KB each. */
export function chunks<T extends FeedEntry>(entries: readonly T[]): T[][] {
  const out: T[][] = [];
  let chunk: T[] = [];
  let size = ENVELOPE_BYTES;
  for (const entry of entries) {
    const bytes = byteLength(entry) + 1;
    if (chunk.length > 0 && size + bytes > FRAME_LIMIT_BYTES) {
      out.push(chunk);
      chunk = [];
      size = ENVELOPE_BYTES;
    }
    chunk.push(entry);
    size += bytes;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}

export interface ActivityPage {
  events: FeedEvent[];
  /** Every event of the page's scope up to here is in this page or an earlier one. */
  throughSeq: number;
  more: boolean;
}

export type Replay = ({ type: 'replay' } & ActivityPage) | { type: 'resync_required'; afterSeq: number; oldestSeq: number; headSeq: number };

interface Row {
  head: string;
  events: (Omit<FeedEvent, 'prevSeq' | 'seq'> & { seq: string })[] | null;
}

/**
 * The organization's events after `afterSeq` (one project's, with `projectId`), oldest first, at most
 * `limit`, with its latest sequence number read in the same snapshot: sequence numbers are taken under
 * the organization's row lock, so whatever is visible is a gap-free prefix. One round trip.
 */
async function eventsAfter(orgId: string, afterSeq: number, projectId: string | null, limit: number, window: number | null = null) {
  const { rows } = await read<Row>(
    `SELECT (SELECT event_seq FROM organizations WHERE id = $1) AS head,
       (SELECT json_agg(json_build_object(
          'seq', e.seq, 'id', e.id, 'type', e.type, 'subjectId', e.subject_id, 'projectId', e.project_id,
          'actorId', e.actor_id, 'occurredAt', api_timestamp(e.created_at), 'requestId', e.request_id, 'payload', e.payload) ORDER BY e.seq)
        FROM (SELECT * FROM event_log
              WHERE organization_id = $1 AND seq > $2 AND ($3::uuid IS NULL OR project_id = $3::uuid)
                -- Outside the window nothing is read (a one-time check): the answer is resync_required.
                AND ($5::bigint IS NULL OR $2 >= (SELECT event_seq FROM organizations WHERE id = $1) - $5)
              ORDER BY seq LIMIT $4) e) AS events`,
    [orgId, afterSeq, projectId, limit, window],
  );
  const head = Number(rows[0]?.head ?? 0);
  let previous = afterSeq;
  const events = (rows[0]?.events ?? []).map((row) => {
    const event: FeedEvent = { ...row, seq: Number(row.seq), prevSeq: previous };
    previous = event.seq;
    return event;
  });
  return { head, events };
}

/** A page of `GET /activity`: no window, whole payloads (REST has no frame limit). */
export async function activityPage(orgId: string, afterSeq: number, projectId: string | null, limit: number): Promise<ActivityPage> {
  const { head, events } = await eventsAfter(orgId, afterSeq, projectId, limit);
  const more = events.length === limit;
  return { events, throughSeq: more ? events.at(-1)!.seq : Math.max(head, afterSeq), more };
}

/** Rows read per replay frame: a frame holds at most 32 KB, so more would mostly be read for nothing. */
const REPLAY_ROWS = 100;

/**
 * The answer to `resume`: the events after `afterSeq` that fit in one frame, or `resync_required` when
 * `afterSeq` is older than the last `window` events or beyond the latest (a database restored from backup).
 */
export async function replay(orgId: string, afterSeq: number, projectId: string | null, window: number): Promise<Replay> {
  const { head, events } = await eventsAfter(orgId, afterSeq, projectId, REPLAY_ROWS, window);
  const oldestSeq = Math.max(1, head - window + 1);
  if (afterSeq > head || afterSeq < oldestSeq - 1) return { type: 'resync_required', afterSeq, oldestSeq, headSeq: head };
  const included = chunks(events.map(fitted))[0] ?? [];
  const more = included.length < events.length || events.length === REPLAY_ROWS;
  return { type: 'replay', events: included, throughSeq: more ? included.at(-1)!.seq : head, more };
}

const byteLength = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
