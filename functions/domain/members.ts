import type { Caller } from '../shared/caller';
import { db, read } from '../shared/db';
import { notFound, Problem } from '../shared/problem';
import { recordRemoval } from '../shared/removed-members';
import type { Trace } from '../shared/trace';
import { memberSubjectId } from './member-subject';
import type { ListMembersInput, MeDto, MemberDto } from './member-schemas';
import { mutationStatement } from './mutation-statement';
import { publishNow, type OutboxEntry } from './outbox';
import { decodeCursor, encodeCursor } from './pagination';
import { preferencesJson } from './preferences';

// Members (issue 17): whoever has made a request to the organization (tenancy.ts records them then, with the name
// and e-mail of their token); an admin may remove one, which keeps the membership row (their assignments stay).

/** A member's API representation (member-schemas.ts Member), from their membership `m` and user `u`. */
const memberJson = (m: string, u: string) => `json_build_object(
  'id', ${u}.id, 'name', ${u}.name, 'email', ${u}.email, 'role', ${m}.role,
  'lastSeenAt', api_timestamp(${m}.last_seen_at), 'removedAt', api_timestamp(${m}.removed_at))`;

/** The caller, with their organization's plan and their notification preferences (one read). */
export async function getMe(caller: Caller): Promise<MeDto> {
  const { rows } = await read<{ doc: MeDto }>(
    `SELECT json_build_object('id', u.id, 'name', u.name, 'email', u.email, 'role', $3::text, 'organizationId', o.id,
       'plan', o.plan, 'preferences', ${preferencesJson('m')}) AS doc
     FROM memberships m JOIN users u ON u.id = m.user_id JOIN organizations o ON o.id = m.organization_id
     WHERE m.organization_id = $1 AND m.user_id = $2`,
    [caller.orgId, caller.userId, caller.role],
  );
  // Unreachable: every request provisions its caller first.
  if (!rows[0]) throw notFound('Member');
  return rows[0].doc;
}

/**
 * The organization's members in the order they joined, a page at a time; `q` keeps those whose name or e-mail
 * contains it (case-insensitive), for a picker. Removed members only with `includeRemoved`.
 */
export async function listMembers(caller: Caller, query: ListMembersInput): Promise<{ items: MemberDto[]; nextCursor: string | null }> {
  const after = decodeCursor(query.cursor, (id) => id.length > 0);
  const { rows } = await read<{ doc: MemberDto; created_at: string }>(
    `SELECT ${memberJson('m', 'u')} AS doc, api_timestamp(m.created_at) AS created_at
     FROM memberships m JOIN users u ON u.id = m.user_id
     WHERE m.organization_id = $1
       AND ($2 OR m.removed_at IS NULL)
       AND ($3::text IS NULL OR strpos(lower(coalesce(u.name, '')), lower($3)) > 0 OR strpos(lower(coalesce(u.email, '')), lower($3)) > 0)
       AND ($4::timestamptz IS NULL OR (m.created_at, m.user_id) > ($4::timestamptz, $5::text))
     ORDER BY m.created_at, m.user_id
     LIMIT $6`,
    [caller.orgId, query.includeRemoved === 'true', query.q ?? null, after?.createdAt ?? null, after?.id ?? null, query.limit + 1],
  );
  const items = rows.slice(0, query.limit);
  const last = items.at(-1);
  return {
    items: items.map((row) => row.doc),
    nextCursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.doc.id }) : null,
  };
}

/**
 * Removes a member (an organization admin only): their membership says so, with a member.removed event (the feed
 * closes their connections), and they are refused from then on (removed-members.ts), whatever their token.
 * Their tasks keep them as assignee. Removing a removed member again changes nothing and answers the same.
 */
export async function removeMember(caller: Caller, trace: Trace, userId: string): Promise<void> {
  const values = { userId, subjectId: memberSubjectId(caller.orgId, userId), admin: caller.role === 'admin' };
  const { text, params } = mutationStatement({ organizationId: caller.orgId, actorId: caller.userId, trace, values }, ($) => ({
    first: {
      target: `SELECT m.removed_at IS NOT NULL AS removed FROM memberships m WHERE m.organization_id = ${$.organization} AND m.user_id = ${$.userId}`,
    },
    change: `
      UPDATE memberships m SET removed_at = now()
      FROM users u
      WHERE m.organization_id = ${$.organization} AND m.user_id = ${$.userId} AND m.removed_at IS NULL AND u.id = m.user_id AND ${$.admin}
      RETURNING ${$.subjectId}::uuid AS id, NULL::uuid AS project_id, ${memberJson('m', 'u')} AS doc`,
    event: { type: 'member.removed' },
    select: { columns: '(SELECT removed FROM target) AS removed_before, EXISTS (SELECT 1 FROM target) AS found' },
  }));
  const { rows } = await db.query<{ removed_before: boolean | null; found: boolean; outbox: OutboxEntry[] }>(text, params);
  const { found, outbox } = rows[0]!;
  if (!found) throw notFound('Member');
  if (caller.role !== 'admin') throw new Problem(403, 'ADMIN_ONLY', 'Only an organization admin may remove a member');
  await publishNow(outbox);
  // After the commit, and again on a repeated removal: a retry after a failure here completes it.
  await recordRemoval(caller.orgId, userId);
}
