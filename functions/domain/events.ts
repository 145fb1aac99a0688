import type { Caller } from '../shared/caller';
import type { Trace } from '../shared/trace';
import { destinationsOf, FAST_PATH_LEASE } from './outbox';
import { QUOTA_COLUMNS, type CountedQuota } from './quotas';

/**
 * The tail of a mutation statement that appends its event to `event_log` and the event's messages to
 * the outbox (one per queue that takes this type), all in the same statement and therefore the same
 * transaction as the change: the change, its event and its messages commit together or not at all.
 * The organization's next sequence number is taken under its row lock, so sequence order is commit order.
 *
 * `changed` is the CTE holding the changed row, with columns `id`, `project_id` and `doc` (its API
 * representation), and `previous` (what the change replaced) when `withPrevious`. The parameters `$1`
 * (organization), `$2` (actor), `$3` (request id) and `$4` (traceparent) are `eventParams(caller, trace)`;
 * `counts` keep quotas' counts on the organization's row (see quotas.ts);
 * the statement's own parameters start at `$5`. The final SELECT returns the entries with OUTBOX_ENTRIES.
 */
export function appendEvent(
  type: string,
  { withPrevious = false, counts = [] }: { withPrevious?: boolean; counts?: readonly { quota: CountedQuota; by: number | string }[] } = {},
): string {
  // A change to what a quota counts is counted in the same UPDATE of the organization's row
  // (`by`: a number, or an SQL expression such as a parameter).
  const counted = counts.map(({ quota, by }) => `, ${QUOTA_COLUMNS[quota]} = ${QUOTA_COLUMNS[quota]} + (${by})`).join('');
  return `
    event_seq AS (
      UPDATE organizations SET event_seq = event_seq + 1${counted}
      WHERE id = $1 AND EXISTS (SELECT 1 FROM changed)
      RETURNING event_seq
    ),
    appended AS (
      INSERT INTO event_log (organization_id, seq, type, subject_id, project_id, actor_id, request_id, payload)
      SELECT $1, event_seq.event_seq, '${type}', c.id, c.project_id, $2, $3, c.doc
      FROM changed c, event_seq
      RETURNING id, seq, subject_id, project_id, payload, created_at
    ),
    outboxed AS (
      INSERT INTO outbox (organization_id, event_id, destination, body, request_id, traceparent, locked_until)
      SELECT $1, a.id, d.destination,
        jsonb_build_object(
          'eventId', a.id, 'organizationId', $1::text, 'seq', a.seq, 'type', '${type}', 'subjectId', a.subject_id,
          'projectId', a.project_id, 'actorId', $2::text, 'occurredAt', api_timestamp(a.created_at), 'payload', a.payload,
          'previous', ${withPrevious ? '(SELECT c.previous FROM changed c)' : 'NULL::json'}),
        $3, $4::text, ${FAST_PATH_LEASE}
      FROM appended a, unnest(${destinationsOf(type)}) AS d(destination)
      RETURNING id, destination, body, request_id, traceparent
    )`;
}

export function eventParams(caller: Pick<Caller, 'orgId' | 'userId'>, trace: Trace): unknown[] {
  return [caller.orgId, caller.userId, trace.requestId, trace.traceparent];
}
