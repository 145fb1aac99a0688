import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound } from '../shared/problem';
import type { Trace } from '../shared/trace';
import { memberSubjectId } from './member-subject';
import type { PreferencesDto, UpdatePreferencesInput } from './member-schemas';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';

// A member's notification preferences (issue 17), per organization: Slack and e-mail on or off, and the projects
// they muted. Each change is kept under its event's sequence number (preference_changes), so the notifications
// worker applies to an event the preferences in effect when it happened (preferencesAt).

/** The preferences' API representation, from a memberships row `m`. */
export const preferencesJson = (m: string) =>
  `json_build_object('slack', ${m}.notify_slack, 'email', ${m}.notify_email, 'mutedProjectIds', to_json(${m}.muted_project_ids))`;

/** The caller's preferences (one read). */
export async function getPreferences(caller: Caller): Promise<PreferencesDto> {
  const { rows } = await read<{ doc: PreferencesDto }>(
    `SELECT ${preferencesJson('m')} AS doc FROM memberships m WHERE m.organization_id = $1 AND m.user_id = $2`,
    [caller.orgId, caller.userId],
  );
  // Unreachable: every request provisions its caller first.
  if (!rows[0]) throw notFound('Member');
  return rows[0].doc;
}

/**
 * Changes the fields sent and answers the preferences: one statement, with a preferences.updated event (whose
 * payload names only the member: the feed is the organization's, the preferences are theirs) when something
 * changed. A muted project must be one of the organization's (else 404, as any other organization's id).
 */
export async function updatePreferences(caller: Caller, trace: Trace, input: UpdatePreferencesInput): Promise<PreferencesDto> {
  const values = {
    slack: input.slack ?? null,
    email: input.email ?? null,
    muted: input.mutedProjectIds ?? null,
    subjectId: memberSubjectId(caller.orgId, caller.userId),
  };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    first: {
      projects: `SELECT count(*) = coalesce(cardinality(${$.muted}::uuid[]), 0) AS found
FROM projects p WHERE p.organization_id = ${$.organization} AND p.id = ANY(${$.muted}::uuid[])`,
      wanted: `SELECT coalesce(${$.slack}::boolean, m.notify_slack) AS slack, coalesce(${$.email}::boolean, m.notify_email) AS email,
  coalesce(${$.muted}::uuid[], m.muted_project_ids) AS muted
FROM memberships m WHERE m.organization_id = ${$.organization} AND m.user_id = ${$.actor}`,
    },
    change: `
      UPDATE memberships m SET notify_slack = w.slack, notify_email = w.email, muted_project_ids = w.muted
      FROM wanted w
      WHERE m.organization_id = ${$.organization} AND m.user_id = ${$.actor} AND (SELECT found FROM projects)
        AND (m.notify_slack, m.notify_email, m.muted_project_ids) IS DISTINCT FROM (w.slack, w.email, w.muted)
      RETURNING ${$.subjectId}::uuid AS id, NULL::uuid AS project_id, json_build_object('userId', m.user_id) AS doc,
        ${preferencesJson('m')} AS preferences, m.notify_slack, m.notify_email, m.muted_project_ids`,
    event: { type: 'preferences.updated' },
    after: {
      kept: `INSERT INTO preference_changes (organization_id, user_id, seq, notify_slack, notify_email, muted_project_ids)
SELECT ${$.organization}, ${$.actor}, a.seq, c.notify_slack, c.notify_email, c.muted_project_ids FROM appended a, changed c`,
    },
    select: {
      columns: `(SELECT found FROM projects) AS projects_found, (SELECT preferences FROM changed) AS changed,
  (SELECT ${preferencesJson('m')} FROM memberships m WHERE m.organization_id = ${$.organization} AND m.user_id = ${$.actor}) AS current`,
    },
  }));
  const { rows } = await db.query<{ projects_found: boolean; changed: PreferencesDto | null; current: PreferencesDto; outbox: OutboxEntry[] }>(text, params);
  const row = rows[0]!;
  if (!row.projects_found) throw notFound('Project');
  await publishNow(row.outbox);
  return row.changed ?? row.current;
}

/**
 * SQL for the preferences a member (`u`, their user id) had in effect at the event numbered `seq` of the
 * organization `org`: the last change before it, or the defaults (everything on, nothing muted).
 */
export const preferencesAt = (org: string, u: string, seq: string) => `LEFT JOIN LATERAL (
  SELECT p.notify_slack, p.notify_email, p.muted_project_ids FROM preference_changes p
  WHERE p.organization_id = ${org} AND p.user_id = ${u} AND p.seq < ${seq}
  ORDER BY p.seq DESC LIMIT 1) pref ON true`;
