import { randomUUID } from 'node:crypto';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { v5 as uuidv5 } from 'uuid';
import { safeParse } from 'zod/mini';
import type { $ZodType as ZodType, output } from 'zod/v4/core';
import { CORS_RESPONSE_HEADERS } from './cors';
import { isDatabaseUnavailable } from './db';
import { once } from './idempotency';
import { logger } from './logger';
import { Problem, problemBody } from './problem';
import { enforceRateLimits } from './rate-limit';
import { degradedIntegrations } from './degraded';
import { continueTrace, type Trace } from './trace';
import { UUID } from './uuid';
import { ensureMember, type Caller } from '../domain/tenancy';

/** Larger bodies are refused before parsing; the largest valid task is far below this. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpRequest<Body, Query> {
  body: Body;
  query: Query;
  params: Record<string, string>;
  headers: Record<string, string>;
  caller: Caller;
  requestId: string;
  /** The request id and W3C trace context that every message and outbound call this request causes carries. */
  trace: Trace;
  /**
   * With an Idempotency-Key: a UUID derived from it, the caller, the route and the request. A create uses it as
   * the new resource's id when the client sent none, so even a re-run after an ambiguous failure (the
   * write committed, the answer was lost) finds the first result instead of making a second.
   */
  idempotencyId?: string;
}

export type PublicHttpRequest<Body, Query> = Omit<HttpRequest<Body, Query>, 'caller'>;

export interface HttpResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Schemas<Body extends ZodType | undefined, Query extends ZodType | undefined> {
  body?: Body;
  query?: Query;
}

type Parsed<S> = S extends ZodType ? output<S> : undefined;

// A caller's id is echoed only if it is a sane token; anything else (too long, control characters)
// is replaced, since it lands in logs, headers and the event log.
const REQUEST_ID = /^[\w.:/+=-]{1,128}$/;

// Answer this long before Lambda would kill the function, so the caller still gets a problem+json.
const DEADLINE_MARGIN_MS = 500;

/**
 * A REST handler behind the authorizer: request id and logging, body and query validated, the caller
 * from the authorizer (provisioned on first sight), every failure answered as problem+json, and an
 * answer before the function's deadline. The function passed in holds only the route's own logic.
 */
export function httpHandler<Body extends ZodType | undefined = undefined, Query extends ZodType | undefined = undefined>(
  schemas: Schemas<Body, Query>,
  handle: (request: HttpRequest<Parsed<Body>, Parsed<Query>>) => Promise<HttpResponse>,
) {
  return wrap(schemas, async (request, event, context) => {
    const caller = callerOf(event);
    // Rate limits and the hourly request quota, before the idempotency layer: a replay counts too.
    // Over a limit, this throws the 429; otherwise every answer carries RateLimit and RateLimit-Policy.
    const limits = await enforceRateLimits(caller, event.requestContext.identity?.sourceIp);
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

/** A REST handler for a public route (no authorizer, so no caller): the health check. */
export function publicHttpHandler(handle: (request: PublicHttpRequest<undefined, undefined>) => Promise<HttpResponse>) {
  return wrap<undefined, undefined>({}, handle);
}

function wrap<Body extends ZodType | undefined, Query extends ZodType | undefined>(
  schemas: Schemas<Body, Query>,
  handle: (request: PublicHttpRequest<Parsed<Body>, Parsed<Query>>, event: APIGatewayProxyEvent, context: Context) => Promise<HttpResponse>,
) {
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(async (event, context) => {
      const headers = lowerCaseHeaders(event.headers);
      const sent = headers['x-request-id'];
      // The caller's id, else API Gateway's own (it is also in the gateway's access log).
      const requestId = sent && REQUEST_ID.test(sent) ? sent : event.requestContext?.requestId || randomUUID();
      logger.setCorrelationId(requestId);
      const trace = { requestId, traceparent: continueTrace(headers.traceparent) };
      logger.appendKeys({ traceparent: trace.traceparent });
      // Read alongside the request (cached per environment; never fails it).
      const degraded = degradedIntegrations();
      let timer: NodeJS.Timeout | undefined;
      let result: APIGatewayProxyResult;
      try {
        // Input is checked before anything touches the database.
        const request = {
          body: (schemas.body ? parse(schemas.body, readJson(event, headers), 'body') : undefined) as Parsed<Body>,
          query: (schemas.query ? parse(schemas.query, event.queryStringParameters ?? {}, 'query') : undefined) as Parsed<Query>,
          params: (event.pathParameters ?? {}) as Record<string, string>,
          headers,
          requestId,
          trace,
        };
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Problem(503, 'TIMEOUT', 'The request took too long; retry shortly', undefined, {}, { 'Retry-After': '1' })),
            Math.max(0, context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS),
          );
        });
        result = respond(await Promise.race([handle(request, event, context), deadline]), requestId);
      } catch (error) {
        result = respondWithProblem(error, requestId);
      } finally {
        clearTimeout(timer);
      }
      // Degraded mode (review C4): while an integration's breaker is open, every answer names it.
      const names = await degraded;
      if (names.length > 0) result.headers = { ...result.headers, 'X-Degraded-Integrations': names.join(', ') };
      return result;
    });
}

function respond({ status, body, headers = {} }: HttpResponse, requestId: string): APIGatewayProxyResult {
  logger.info('request completed', { status });
  return {
    statusCode: status,
    headers: {
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
      ...CORS_RESPONSE_HEADERS,
      'X-Request-Id': requestId,
    },
    body: body === undefined ? '' : JSON.stringify(body),
  };
}

function respondWithProblem(error: unknown, requestId: string): APIGatewayProxyResult {
  const problem = error instanceof Problem ? error : problemFor(error);
  if (problem.status >= 500) logger.error('request failed', { status: problem.status, code: problem.code, error });
  else logger.info('request refused', { status: problem.status, code: problem.code });
  return {
    statusCode: problem.status,
    headers: { 'Content-Type': 'application/problem+json', ...problem.headers, ...CORS_RESPONSE_HEADERS, 'X-Request-Id': requestId },
    body: JSON.stringify(problemBody(problem, requestId)),
  };
}

function problemFor(error: unknown): Problem {
  if (isDatabaseUnavailable(error)) {
    // The outcome of a write is unknown; a retry with the same Idempotency-Key is safe.
    return new Problem(503, 'DATABASE_UNAVAILABLE', 'The database is unavailable; retry shortly', undefined, {}, { 'Retry-After': '1' });
  }
  // SQLSTATE class 22 (data exception): a value PostgreSQL cannot take that validation let through.
  if ((error as { code?: string }).code?.startsWith('22')) {
    return new Problem(400, 'INVALID_INPUT', 'A value in the request cannot be stored', (error as Error).message);
  }
  return new Problem(500, 'INTERNAL_ERROR', 'Internal error');
}

function lowerCaseHeaders(headers: APIGatewayProxyEvent['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) out[name.toLowerCase()] = value;
  return out;
}

function readJson(event: APIGatewayProxyEvent, headers: Record<string, string>): unknown {
  const contentType = headers['content-type'];
  if (contentType && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType)) {
    throw new Problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Request body must be application/json');
  }
  const raw = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (!raw) throw new Problem(400, 'MALFORMED_JSON', 'Request body is missing', 'Send a JSON object');
  if (Buffer.byteLength(raw, 'utf8') > MAX_BODY_BYTES) {
    throw new Problem(400, 'PAYLOAD_TOO_LARGE', 'Request body is too large', `The limit is ${MAX_BODY_BYTES} bytes`);
  }
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new Problem(400, 'MALFORMED_JSON', 'Request body is not valid JSON', (error as Error).message);
  }
}

function parse<S extends ZodType>(schema: S, input: unknown, where: 'body' | 'query'): output<S> {
  const result = safeParse(schema, input);
  if (result.success) return result.data;
  throw new Problem(400, 'VALIDATION_FAILED', `Request ${where} is invalid`, undefined, {
    errors: result.error.issues.map((issue) => ({
      path: [where, ...issue.path.map(String)].join('.'),
      message: issue.message,
    })),
  });
}

/** The caller the authorizer verified (no database involved). */
function callerOf(event: APIGatewayProxyEvent): Caller {
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

/** A path id; one that is not a UUID cannot name anything, so it is a 404 like any unknown id. */
export function idParam(request: { params: Record<string, string> }, name: string, what: string): string {
  const value = request.params[name];
  if (!value || !UUID.test(value)) throw new Problem(404, 'NOT_FOUND', `${what} not found`);
  return value.toLowerCase();
}
