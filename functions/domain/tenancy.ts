import type { Caller } from '../shared/caller';
import { db } from '../shared/db';

// Members already known in this environment: provisioning costs one round trip per environment, not per request.
const known = new Set<string>();

/** A first request from a new organization or user provisions them (one statement, safe under races). */
export async function ensureMember(caller: Caller): Promise<void> {
  const key = `${caller.orgId}\u0000${caller.userId}`;
  if (known.has(key)) return;
  await db.query(
    `WITH org AS (INSERT INTO organizations (id) VALUES ($1) ON CONFLICT DO NOTHING),
          usr AS (INSERT INTO users (id, email, name) VALUES ($2, $4, $5) ON CONFLICT DO NOTHING)
     INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    [caller.orgId, caller.userId, caller.role, caller.email ?? null, caller.name ?? null],
  );
  known.add(key);
}
