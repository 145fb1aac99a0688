import { toJSONSchema } from 'zod/mini';
import type { $ZodType as ZodType } from 'zod/v4/core';
import { Problem } from '../functions/domain/schemas';
import type { AppDeclaration, RouteDeclaration } from './declaration';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input (malformed JSON, wrong types, unknown fields, body over 64 KiB, bad cursor, bad Idempotency-Key): see `code`',
  401: 'Missing, expired or invalid bearer token',
  403: 'FORBIDDEN (the authorizer refused the token), MEMBER_REMOVED (an admin removed the caller from the organization) or ADMIN_ONLY (for organization admins only)',
  404: 'Not found in the caller\'s organization',
  409: 'A conflict, named by `code`: VERSION_CONFLICT (task updates: `current`, `yourChanges`, `conflictingFields`, ETag header), REQUEST_IN_PROGRESS (Retry-After) or ID_CONFLICT (creates)',
  415: 'The body is not JSON',
  422: 'IDEMPOTENCY_KEY_REUSED (the key was used for another request), ASSIGNEE_NOT_MEMBER or TOO_MANY_LABELS',
  413: 'PAYLOAD_TOO_LARGE: over the gateway\'s 10 MB limit',
  428: 'PRECONDITION_REQUIRED: send `version` or If-Match',
  429: 'RATE_LIMITED (over a per-minute limit: `policy` user, organization or ip), QUOTA_EXCEEDED (over a plan quota: `quota`, `plan`, `limit`) or TOO_MANY_REQUESTS (the gateway\'s throttling): retry after Retry-After',
  500: 'INTERNAL_ERROR',
  503: 'Unavailable for now, named by `code` (DATABASE_UNAVAILABLE, TIMEOUT, IDEMPOTENCY_UNAVAILABLE, TOO_MANY_CONCURRENT_UPDATES; on /health, a dependency): retry after Retry-After',
};

/** On every answer of a JWT route past its rate-limit check (functions/shared/rate-limit.ts). */
const RATE_LIMIT_HEADERS = {
  RateLimit: { $ref: '#/components/headers/RateLimit' },
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
};

const schema = (type: ZodType) => toJSONSchema(type, { io: 'input', unrepresentable: 'any' });
const outputSchema = (type: ZodType) => toJSONSchema(type, { io: 'output', unrepresentable: 'any' });

/** The OpenAPI 3.1 document of the REST API, generated from the declaration and its zod schemas. */
export function openApiDocument(app: AppDeclaration) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of app.routes) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: `${app.name} API`,
      version: '1.0.0',
      description:
        'Errors are application/problem+json (RFC 9457) with a stable `code`. Every response carries X-Request-Id ' +
        '(the caller\'s, else generated). Lists use cursor pagination: pass `nextCursor` back as `cursor`.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (RS256; org_id and sub claims)' } },
      schemas: { Problem: outputSchema(Problem) },
      headers: {
        'X-Request-Id': { schema: { type: 'string' }, description: 'Correlation id of this request' },
        RateLimit: { schema: { type: 'string' }, description: 'The most constrained rate limit: `"<policy>";r=<requests left>;t=<seconds until r goes up>` (draft-ietf-httpapi-ratelimit-headers)' },
        'RateLimit-Policy': { schema: { type: 'string' }, description: 'The rate limits that apply to the caller, e.g. `"user";q=100;w=60, "organization";q=1000;w=60, "ip";q=500;w=60`' },
        'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait before retrying' },
      },
    },
    paths,
  };
}

function operation(route: RouteDeclaration) {
  const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    // Every id in a path is a UUID, but a user's, which is what their token's `sub` says.
    name, in: 'path', required: true, schema: name === 'userId' ? { type: 'string', minLength: 1, maxLength: 255 } : { type: 'string', format: 'uuid' },
  }));
  const query = route.request?.query ? schema(route.request.query) : undefined;
  const queryParams = Object.entries((query?.properties ?? {}) as Record<string, object>).map(([name, property]) => ({
    name, in: 'query', required: (query?.required as string[] | undefined)?.includes(name) ?? false, schema: property,
  }));
  const idempotent = route.function.needs.includes('idempotency');
  const headers = {
    ...route.request?.headers,
    ...(idempotent ? { 'Idempotency-Key': 'Makes a retry safe: the same key within 24 h replays the first success (1–255 printable ASCII characters)' } : {}),
  };
  const headerParams = Object.entries(headers).map(([name, description]) => ({
    name, in: 'header', required: false, description, schema: { type: 'string' },
  }));
  const errors = [
    400,
    // A removed member is refused on every JWT route (403 MEMBER_REMOVED).
    ...(route.auth === 'jwt' ? [401, 403] : []),
    ...(route.request?.body ? [413, 415] : []),
    ...(route.errors ?? []),
    ...(idempotent ? [409, 422] : []),
    429,
    500,
    503,
  ].sort((a, b) => a - b);
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.auth === 'jwt' ? { security: [{ bearer: [] }] } : { security: [] }),
    parameters: [...pathParams, ...queryParams, ...headerParams, { name: 'X-Request-Id', in: 'header', required: false, schema: { type: 'string' } }],
    ...(route.request?.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: schema(route.request.body) } } } }
      : {}),
    responses: {
      [route.response.status]: {
        description: 'Success',
        headers: {
          'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
          ...Object.fromEntries(Object.entries(route.response.headers ?? {}).map(([name, description]) => [name, { description, schema: { type: 'string' } }])),
          ...(idempotent ? { 'Idempotent-Replayed': { description: '`true` when this is the stored response of an earlier request with the same Idempotency-Key', schema: { type: 'string' } } } : {}),
          ...(route.auth === 'jwt' ? RATE_LIMIT_HEADERS : {}),
        },
        ...(route.response.body ? { content: { 'application/json': { schema: outputSchema(route.response.body) } } } : {}),
      },
      ...Object.fromEntries(
        [...new Set(errors)].map((status) => [
          status,
          {
            description: ERROR_DESCRIPTIONS[status] ?? 'Error',
            headers: {
              'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
              ...(status === 429 || status === 503 ? { 'Retry-After': { $ref: '#/components/headers/Retry-After' } } : {}),
              ...(route.auth === 'jwt' && ![401, 413, 415].includes(status) ? RATE_LIMIT_HEADERS : {}),
            },
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        ]),
      ),
    },
  };
}
