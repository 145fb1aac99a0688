import type { Caller } from './tenancy';

/**
 * The tail of a mutation statement that appends its event to `event_log`: the organization's next
 * sequence number (the row lock on the organization orders commits, so sequence order is commit
 * order) and the event row, in the same statement and therefore the same transaction as the change.
 *
 * `changed` is the CTE holding the changed row, with columns `id`, `project_id` and `doc` (its API
 * representation). The parameters `$1` (organization), `$2` (actor) and `$3` (request id) are
 * `eventParams(caller, requestId)`; the statement's own parameters start at `$4`.
 */
export function appendEvent(type: string): string {
  return `
    event_seq AS (
      UPDATE organizations SET event_seq = event_seq + 1
      WHERE id = $1 AND EXISTS (SELECT 1 FROM changed)
      RETURNING event_seq
    ),
    appended AS (
      INSERT INTO event_log (organization_id, seq, type, subject_id, project_id, actor_id, request_id, payload)
      SELECT $1, event_seq.event_seq, '${type}', c.id, c.project_id, $2, $3, c.doc
      FROM changed c, event_seq
    )`;
}

export function eventParams(caller: Caller, requestId: string): unknown[] {
  return [caller.orgId, caller.userId, requestId];
}
