import type { Caller } from '../shared/caller';
import { db } from '../shared/db';

interface Profile {
  email: string | undefined;
  name: string | undefined;
}

// The members this environment has provisioned, with the profile it last wrote: provisioning costs one round trip
// per member and environment, and another only when a token brings a name or an e-mail that differs.
const known = new Map<string, Profile>();

/**
 * A first request from a new organization or user provisions them, and the user's profile follows the token's
 * claims (`email`, `name`): one statement, safe under races. A claim the token lacks leaves what is stored.
 */
export async function ensureMember(caller: Caller): Promise<void> {
  const key = `${caller.orgId}\u0000${caller.userId}`;
  const current = known.get(key);
  if (current && sameOrAbsent(caller.email, current.email) && sameOrAbsent(caller.name, current.name)) return;
  await db.query(
    `WITH org AS (INSERT INTO organizations (id) VALUES ($1) ON CONFLICT DO NOTHING),
          usr AS (
            INSERT INTO users AS u (id, email, name) VALUES ($2, $4, $5)
            ON CONFLICT (id) DO UPDATE SET email = coalesce(excluded.email, u.email), name = coalesce(excluded.name, u.name)
            WHERE (u.email, u.name) IS DISTINCT FROM (coalesce(excluded.email, u.email), coalesce(excluded.name, u.name)))
     INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    [caller.orgId, caller.userId, caller.role, caller.email ?? null, caller.name ?? null],
  );
  known.set(key, { email: caller.email ?? current?.email, name: caller.name ?? current?.name });
}

const sameOrAbsent = (claim: string | undefined, stored: string | undefined) => claim === undefined || claim === stored;
