/**
 * CORS for the frontend. Bearer tokens, not cookies: any origin may call. The handlers send the same
 * Allow-Origin and Expose-Headers on their responses (functions/shared/http.ts).
 */
export const CORS_ALLOW_ORIGIN = '*';
/** Request headers a browser may send cross-origin (the preflight answer). */
export const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'X-Request-Id'];
/** Response headers a browser may read. */
export const CORS_EXPOSE_HEADERS = ['ETag', 'Location', 'Retry-After', 'X-Request-Id', 'Idempotent-Replayed'];
