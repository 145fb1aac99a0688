import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { safeParse } from 'zod/mini';
import type { $ZodType as ZodType, output } from 'zod/v4/core';
import type { Caller } from './caller';
import { CORS_RESPONSE_HEADERS } from './cors';
import { isDatabaseUnavailable } from './db';
import { lambdaHandler } from './handler';
import { logger } from './logger';
import { Problem, problemBody } from './problem';
import { acceptedRequestId } from './request-id';
import { degradedIntegrations } from './degraded';
import { recordRequest } from './sli';
import { traced } from './spans';
import { continueTrace, sampledRequest, type Trace } from './trace';
import { malformedStrings } from './unicode';
import { UUID } from './uuid';

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

export interface Schemas<Body extends ZodType | undefined, Query extends ZodType | undefined> {
  body?: Body;
  query?: Query;
}

export type Parsed<S> = S extends ZodType ? output<S> : undefined;

// Answer this long before Lambda would kill the function, so the caller still gets a problem+json.
const DEADLINE_MARGIN_MS = 500;

/** A REST handler for a public route (no authorizer, so no caller): the health check. */
export function publicHttpHandler(handle: (request: PublicHttpRequest<undefined, undefined>) => Promise<HttpResponse>) {
  return restHandler<undefined, undefined>({}, handle);
}

/**
 * The plumbing of every REST handler: request id and logging, body and query validated, every failure answered
 * as problem+json, an answer before the function's deadline, and the degraded-integrations header. `handle`
 * gets the parsed request and the raw event (for what the authorizer put there).
 */
export function restHandler<Body extends ZodType | undefined, Query extends ZodType | undefined>(
  schemas: Schemas<Body, Query>,
  handle: (request: PublicHttpRequest<Parsed<Body>, Parsed<Query>>, event: APIGatewayProxyEvent, context: Context) => Promise<HttpResponse>,
) {
  return lambdaHandler<APIGatewayProxyEvent, APIGatewayProxyResult>(async (event, context) => {
    const started = performance.now();
    const headers = lowerCaseHeaders(event.headers);
    // The caller's id, else API Gateway's own (it is also in the gateway's access log).
    const requestId = acceptedRequestId(headers['x-request-id']) ?? (event.requestContext?.requestId || randomUUID());
    logger.setCorrelationId(requestId);
    const trace = { requestId, traceparent: continueTrace(headers.traceparent, sampledRequest(headers)) };
    logger.appendKeys({ traceparent: trace.traceparent });
    return traced(trace, logger, async (finish) => {
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
      // The SLIs (review M1): GETs are reads, every other method a mutation.
      recordRequest(event.httpMethod === 'GET' ? 'reads' : 'mutations', performance.now() - started, result.statusCode >= 500);
      finish({ kind: 'invocation', name: `${event.httpMethod} ${event.resource}`, failed: result.statusCode >= 500, facts: { status: result.statusCode } });
      return result;
    });
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
  // Other errors' `code` may be anything (a number, a symbol): only PostgreSQL's five-character string is read.
  const code = (error as { code?: unknown } | null)?.code;
  // SQLSTATE TFnnn: a rule the schema itself enforces (a trigger) refused the write; nnn is the HTTP status, the
  // message the problem code, the detail its title (functions/db/migrations/0015_archive_delete_edit.sql).
  const refused = typeof code === 'string' ? /^TF(4\d\d)$/.exec(code) : null;
  if (refused) {
    const { message, detail } = error as { message: string; detail?: string };
    return new Problem(Number(refused[1]), message, detail ?? message);
  }
  // SQLSTATE class 22 (data exception): a value PostgreSQL cannot take that validation let through.
  if (typeof code === 'string' && code.startsWith('22')) {
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
  // Before the schema: a string that is not Unicode text is refused whatever field it is in.
  const malformed = malformedStrings(input, where);
  if (malformed.length > 0) throw invalid(where, malformed);
  const result = safeParse(schema, input);
  if (result.success) return result.data;
  throw invalid(
    where,
    result.error.issues.map((issue) => ({
      path: [where, ...issue.path.map(String)].join('.'),
      message: issue.message,
    })),
  );
}

const invalid = (where: 'body' | 'query', errors: { path: string; message: string }[]) =>
  new Problem(400, 'VALIDATION_FAILED', `Request ${where} is invalid`, undefined, { errors });

/** A path id; one that is not a UUID cannot name anything, so it is a 404 like any unknown id. */
export function idParam(request: { params: Record<string, string> }, name: string, what: string): string {
  const value = request.params[name];
  if (!value || !UUID.test(value)) throw new Problem(404, 'NOT_FOUND', `${what} not found`);
  return value.toLowerCase();
}
