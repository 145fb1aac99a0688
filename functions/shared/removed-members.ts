import type { Identity } from './auth';
import { requiredEnv } from './env';
import { logger } from './logger';
import { Problem } from './problem';
import { rateLimitsTable } from './rate-limits-table';
import { tableNameVariable } from './resource-variables';

// A removed member keeps a valid token until it expires, and every Lambda environment may have them cached as a
// member: what refuses them is an item `removed#<org>#<user>` in the rate-limit table, which every JWT route (and
// the feed's $connect) reads on each request, beside the rate limits: one DynamoDB read and no database round
// trip, and it holds in every environment at once (no environment's view of it can be stale). It never expires. Like the rate limits, the check fails open when DynamoDB does not
// answer (the core API stays up); the membership row in PostgreSQL says "removed" as well, and a member not yet
// known to an environment is refused from it (tenancy.ts).

const TABLE_VARIABLE = tableNameVariable('rateLimits');
const keyOf = (orgId: string, userId: string) => ({ id: { S: `removed#${orgId}#${userId}` } });


export const memberRemoved = () =>
  new Problem(403, 'MEMBER_REMOVED', 'You were removed from this organization', 'An admin removed this member; their requests are refused.');

/** Records that the member was removed (idempotent; UpdateItem is what the functions may do on this table). */
export async function recordRemoval(orgId: string, userId: string): Promise<void> {
  await rateLimitsTable()('UpdateItem', {
    TableName: requiredEnv(TABLE_VARIABLE),
    Key: keyOf(orgId, userId),
    UpdateExpression: 'SET removedAt = if_not_exists(removedAt, :at)',
    ExpressionAttributeValues: { ':at': { N: String(Date.now()) } },
  });
}

/** Whether the caller was removed from their organization (false when DynamoDB cannot say: fails open, logged). */
export async function isRemoved(identity: Pick<Identity, 'orgId' | 'userId'>): Promise<boolean> {
  try {
    const { Item } = await rateLimitsTable()<{ Item?: object }>('GetItem', { TableName: requiredEnv(TABLE_VARIABLE), Key: keyOf(identity.orgId, identity.userId) });
    return Item !== undefined;
  } catch (error) {
    logger.warn('the removed-member check failed; the request is served without it', { error });
    return false;
  }
}

/** Throws 403 MEMBER_REMOVED for a removed caller. */
export async function refuseRemoved(identity: Pick<Identity, 'orgId' | 'userId'>): Promise<void> {
  if (await isRemoved(identity)) throw memberRemoved();
}
