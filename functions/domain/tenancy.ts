import type { Caller } from '../shared/caller';
import { db } from '../shared/db';
import { memberRemoved } from '../shared/removed-members';

interface Known {
  email: string | undefined;
  name: string | undefined;
  /** When this environment last wrote the member's `last_seen_at`. */
  seenAt: number;
}

// The members this environment has provisioned, with the profile it last wrote: provisioning costs one round trip
// per member and environment, and another only when a token brings a name or an e-mail that differs, or when the
// member's last-seen time is an hour old (GET /members' `lastSeenAt` is accurate to the hour, at no cost per request).
const known = new Map<string, Known>();
const SEEN_EVERY_MS = 3_600_000;

/**
 * A first request from a new organization or user provisions them (the member list is who has made a request),
 * and the user's profile follows the token's claims (`email`, `name`): one statement, safe under races. A claim
 * the token lacks leaves what is stored. A member an admin removed is refused (403 MEMBER_REMOVED), never
 * provisioned again.
 */
export async function ensureMember(caller: Caller): Promise<void> {
  const key = `${caller.orgId}\u0000${caller.userId}`;
  const current = known.get(key);
  const now = Date.now();
  if (current && sameOrAbsent(caller.email, current.email) && sameOrAbsent(caller.name, current.name) && now - current.seenAt < SEEN_EVERY_MS) return;
  const { rows } = await db.query<{ removed: boolean }>(
    `WITH org AS (INSERT INTO organizations (id) VALUES ($1) ON CONFLICT DO NOTHING),
          usr AS (
            INSERT INTO users AS u (id, email, name) VALUES ($2, $4, $5)
            ON CONFLICT (id) DO UPDATE SET email = coalesce(excluded.email, u.email), name = coalesce(excluded.name, u.name)
            WHERE (u.email, u.name) IS DISTINCT FROM (coalesce(excluded.email, u.email), coalesce(excluded.name, u.name))
              -- A removed member's token changes nothing, even on a read that runs beside the removed-member check.
              AND NOT EXISTS (SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2 AND removed_at IS NOT NULL)),
          member AS (
            INSERT INTO memberships AS m (organization_id, user_id, role, last_seen_at) VALUES ($1, $2, $3, now())
            ON CONFLICT (organization_id, user_id) DO UPDATE SET last_seen_at = now() WHERE m.removed_at IS NULL)
     SELECT EXISTS (SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2 AND removed_at IS NOT NULL) AS removed`,
    [caller.orgId, caller.userId, caller.role, caller.email ?? null, caller.name ?? null],
  );
  if (rows[0]?.removed) {
    known.delete(key);
    throw memberRemoved();
  }
  known.set(key, { email: caller.email ?? current?.email, name: caller.name ?? current?.name, seenAt: now });
}

const sameOrAbsent = (claim: string | undefined, stored: string | undefined) => claim === undefined || claim === stored;
