import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { v5 as uuidv5 } from 'uuid';
import type { $ZodType as ZodType } from 'zod/v4/core';
import { enforceRateLimits } from '../domain/request-quotas';
import { ensureMember } from '../domain/tenancy';
import { callerOf, type Caller } from '../shared/caller';
import { restHandler, type HttpRequest, type HttpResponse, type Parsed, type PublicHttpRequest, type Schemas } from '../shared/http';
import { once } from '../shared/idempotency';
import { Problem } from '../shared/problem';
import { refuseRemoved } from '../shared/removed-members';

// The handler of every JWT route: the REST plumbing (shared/http.ts) with what TaskFlow decides about a caller —
// its rate limits under its plan, and its organization and membership provisioned on first sight — which is
// domain knowledge, so it is put together here, above both. A member an admin removed is refused here too.

/**
 * A REST handler behind the authorizer: request id and logging, body and query validated, the caller
 * from the authorizer (provisioned on first sight), every failure answered as problem+json, and an
 * answer before the function's deadline. The function passed in holds only the route's own logic.
 */
export function httpHandler<Body extends ZodType | undefined = undefined, Query extends ZodType | undefined = undefined>(
  schemas: Schemas<Body, Query>,
  handle: (request: HttpRequest<Parsed<Body>, Parsed<Query>>) => Promise<HttpResponse>,
) {
  return restHandler(schemas, async (request, event, context) => {
    const caller = callerOf(event);
    // Rate limits and the hourly request quota, before the idempotency layer: a replay counts too.
    // Over a limit, this throws the 429; otherwise every answer carries RateLimit and RateLimit-Policy.
    // A removed member is refused whatever their token says (issue 17), checked alongside, on the same table.
    const [limits] = await Promise.all([enforceRateLimits(caller, event.requestContext.identity?.sourceIp), refuseRemoved(caller)]);
    try {
      const response = await idempotent(request, event, context, caller, handle);
      return { ...response, headers: { ...response.headers, ...limits } };
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      throw new Problem(error.status, error.code, error.title, error.detail, error.extra, { ...limits, ...error.headers });
    }
  });
}

function idempotent<Body, Query>(
  request: PublicHttpRequest<Body, Query>,
  event: APIGatewayProxyEvent,
  context: Context,
  caller: Caller,
  handle: (request: HttpRequest<Body, Query>) => Promise<HttpResponse>,
): Promise<HttpResponse> {
  const key = request.headers['idempotency-key'];
  if (key === undefined || !MUTATING.has(event.httpMethod)) {
    return ensureMember(caller).then(() => handle({ ...request, caller }));
  }
  // The scope and the request come from the authorizer and the event: a replay touches no database.
  const scope = { caller: { orgId: caller.orgId, userId: caller.userId }, method: event.httpMethod, resource: event.resource, key };
  const fingerprint = { params: request.params, query: request.query, ifMatch: request.headers['if-match'] ?? null, body: request.body };
  return once(scope, fingerprint, context, async () => {
    await ensureMember(caller);
    // Derived from the request too: the same key reused later for another request makes another resource.
    return handle({ ...request, caller, idempotencyId: uuidv5(JSON.stringify({ scope, fingerprint }), IDEMPOTENT_IDS) });
  });
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
// The UUIDv5 namespace of ids derived from Idempotency-Keys (a fixed, random UUID).
const IDEMPOTENT_IDS = '5f0b8c9e-3f4a-4d1e-9b7c-2a6d8e1f0c34';
