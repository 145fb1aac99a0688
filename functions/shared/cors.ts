import { TRACE_SAMPLING } from './telemetry';

/**
 * CORS for the frontend, used by the handlers, the deployed gateway (preflight and gateway-made
 * errors) and the local runtime alike. Bearer tokens, not cookies: any origin may call.
 */
export const CORS_ALLOW_ORIGIN = '*';
/**
 * Request headers a browser may send cross-origin (the preflight answer). `traceparent` and `tracestate`: W3C trace
 * context, which OpenTelemetry for the web adds to every call (the API continues the trace); `X-Debug-Trace`: trace
 * this request whatever the sampling (docs/observability.md).
 */
export const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'X-Request-Id', 'traceparent', 'tracestate', TRACE_SAMPLING.debugHeader];
/** Methods a preflight allows on a path the API does not have (its request then gets a readable 404 problem). */
export const CORS_ALLOW_METHODS = ['OPTIONS', 'GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD'];
/** Response headers a browser may read. */
export const CORS_EXPOSE_HEADERS = ['ETag', 'Location', 'Retry-After', 'X-Request-Id', 'Idempotent-Replayed', 'RateLimit', 'RateLimit-Policy', 'X-Degraded-Integrations'];

/** What every response carries, so a browser may read it. */
export const CORS_RESPONSE_HEADERS = {
  'Access-Control-Allow-Origin': CORS_ALLOW_ORIGIN,
  'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS.join(', '),
};
