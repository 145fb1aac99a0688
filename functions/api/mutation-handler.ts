import type { $ZodType as ZodType } from 'zod/v4/core';
import { ensureMember } from '../domain/tenancy';
import type { HttpRequest, HttpResponse, Parsed, Schemas } from '../shared/http';
import { once } from '../shared/idempotency';
import { callerHandler, direct, type Serve } from './http-handler';
import { uuidV5 } from '../shared/uuid';

/**
 * httpHandler for a route that changes something (POST, PUT, PATCH, DELETE): with an Idempotency-Key, the
 * route's logic runs at most once per caller, route and key, and a retry gets the first answer again.
 */
export function mutationHandler<Body extends ZodType | undefined = undefined, Query extends ZodType | undefined = undefined>(
  schemas: Schemas<Body, Query>,
  handle: (request: HttpRequest<Parsed<Body>, Parsed<Query>>) => Promise<HttpResponse>,
) {
  return callerHandler(schemas, handle, idempotent, { readOnly: false });
}

const idempotent: Serve = (request, event, context, caller, handle) => {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return direct(request, event, context, caller, handle);
  // The scope and the request come from the authorizer and the event: a replay touches no database.
  const scope = { caller: { orgId: caller.orgId, userId: caller.userId }, method: event.httpMethod, resource: event.resource, key };
  const fingerprint = { params: request.params, query: request.query, ifMatch: request.headers['if-match'] ?? null, body: request.body };
  return once(scope, fingerprint, context, async () => {
    await ensureMember(caller);
    // Derived from the request too: the same key reused later for another request makes another resource.
    return handle({ ...request, caller, idempotencyId: uuidV5(JSON.stringify({ scope, fingerprint }), IDEMPOTENT_IDS) });
  });
};

// The UUIDv5 namespace of ids derived from Idempotency-Keys (a fixed, random UUID).
const IDEMPOTENT_IDS = '5f0b8c9e-3f4a-4d1e-9b7c-2a6d8e1f0c34';
