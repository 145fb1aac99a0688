import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { Identity } from './auth';
import { logger } from './logger';
import { Problem } from './problem';

/** Who is calling, from the verified token: the organization is never taken from the request. */
export type Caller = Identity;

/** The caller the authorizer verified (no database involved). */
export function callerOf(event: APIGatewayProxyEvent): Caller {
  const context = event.requestContext.authorizer ?? {};
  const orgId = context.orgId as string | undefined;
  const userId = context.userId as string | undefined;
  // Unreachable behind the authorizer; refuse rather than run a route without a tenant.
  if (!orgId || !userId) throw new Problem(401, 'UNAUTHORIZED', 'Missing caller identity');
  const caller: Caller = {
    orgId,
    userId,
    role: context.role === 'admin' ? 'admin' : 'member',
    email: (context.email as string | undefined) || undefined,
    name: (context.name as string | undefined) || undefined,
  };
  logger.appendKeys({ orgId, userId });
  return caller;
}
