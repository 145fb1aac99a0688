import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import type { $ZodType as ZodType } from 'zod/v4/core';
import { enforceRateLimits } from '../domain/request-quotas';
import { ensureMember } from '../domain/tenancy';
import { callerOf, type Caller } from '../shared/caller';
import { restHandler, type HttpRequest, type HttpResponse, type Parsed, type PublicHttpRequest, type Schemas } from '../shared/http';
import { Problem } from '../shared/problem';
import { refuseRemoved } from '../shared/removed-members';

// The handler of every JWT route: the REST plumbing (shared/http.ts) with what TaskFlow decides about a caller —
// its rate limits under its plan, and its organization and membership provisioned on first sight — which is
// domain knowledge, so it is put together here, above both. A member an admin removed is refused here too.
// A route that changes something uses mutationHandler (mutation-handler.ts), which adds the Idempotency-Key
// layer: a read function does not bundle it.
//
// The removed-member check is a DynamoDB read. A mutation waits for it before it changes anything; a read runs
// its query meanwhile (it changes nothing a removed member could profit from) and answers 403 all the same when
// the check says so: the read's latency is the longer of the two round trips, not their sum.

/** How a route's logic is run once the caller passed its limits: directly, or at most once per Idempotency-Key. */
export type Serve = <Body, Query>(
  request: PublicHttpRequest<Body, Query>,
  event: APIGatewayProxyEvent,
  context: Context,
  caller: Caller,
  handle: (request: HttpRequest<Body, Query>) => Promise<HttpResponse>,
) => Promise<HttpResponse>;

/**
 * A REST handler behind the authorizer for a route that reads: request id and logging, body and query
 * validated, the caller from the authorizer (provisioned on first sight), every failure answered as
 * problem+json, and an answer before the function's deadline. The function passed in holds only the route's own logic.
 */
export function httpHandler<Body extends ZodType | undefined = undefined, Query extends ZodType | undefined = undefined>(
  schemas: Schemas<Body, Query>,
  handle: (request: HttpRequest<Parsed<Body>, Parsed<Query>>) => Promise<HttpResponse>,
) {
  return callerHandler(schemas, handle, direct, { readOnly: true });
}

/** The route's logic run once, for a member (provisioned on first sight). */
export const direct: Serve = (request, _event, _context, caller, handle) => ensureMember(caller).then(() => handle({ ...request, caller }));

/** httpHandler with the way the route's logic is served; `readOnly`: the route changes nothing. */
export function callerHandler<Body extends ZodType | undefined = undefined, Query extends ZodType | undefined = undefined>(
  schemas: Schemas<Body, Query>,
  handle: (request: HttpRequest<Parsed<Body>, Parsed<Query>>) => Promise<HttpResponse>,
  serve: Serve,
  { readOnly }: { readOnly: boolean },
) {
  return restHandler(schemas, async (request, event, context) => {
    const caller = callerOf(event);
    // A removed member is refused whatever their token says (issue 17).
    const removed = refuseRemoved(caller);
    const served = (async () => {
      // Rate limits and the hourly request quota, before the idempotency layer: a replay counts too.
      // Over a limit, this throws the 429; otherwise every answer carries RateLimit and RateLimit-Policy.
      const limits = await enforceRateLimits(caller, event.requestContext.identity?.sourceIp);
      if (!readOnly) await removed;
      try {
        const response = await serve(request, event, context, caller, handle);
        return { ...response, headers: { ...response.headers, ...limits } };
      } catch (error) {
        if (!(error instanceof Problem)) throw error;
        throw new Problem(error.status, error.code, error.title, error.detail, error.extra, { ...limits, ...error.headers });
      }
    })();
    const [answer, membership] = await Promise.allSettled([served, removed]);
    if (membership.status === 'rejected') throw membership.reason;
    if (answer.status === 'rejected') throw answer.reason;
    return answer.value;
  });
}
