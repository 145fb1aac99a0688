import {
  IdempotencyAlreadyInProgressError,
  IdempotencyItemNotFoundError,
  IdempotencyPersistenceLayerError,
  IdempotencyValidationError,
} from '@aws-lambda-powertools/idempotency';
import type { Context } from 'aws-lambda';
import type { Caller } from './caller';
import type { HttpResponse } from './http';
import { idempotentOnTable } from './idempotency-store';
import { Problem } from './problem';

/** What makes two requests "the same": who, which route, which key. */
export interface IdempotencyScope {
  caller: Pick<Caller, 'orgId' | 'userId'>;
  method: string;
  resource: string;
  key: string;
}

// Printable ASCII, as the IETF Idempotency-Key draft's examples; UUIDs fit easily.
const KEY = /^[\x21-\x7e]{1,255}$/;
const RETENTION_SECONDS = 24 * 60 * 60;

/** A non-success response: returned to the caller, never stored, so a retry runs again. */
class NotStored extends Error {
  constructor(readonly response: HttpResponse) {
    super('response not stored');
  }
}

// Made on first use: the table name is only needed by functions that take Idempotency-Keys.
const idempotentRun = idempotentOnTable(
  async ({ execute }: { key: IdempotencyScope; request: unknown; execute: () => Promise<HttpResponse> }) => {
    const response = await execute();
    if (response.status >= 400) throw new NotStored(response);
    return response;
  },
  {
    eventKeyJmesPath: 'key',
    // A retry must carry the same request; the same key with another one is refused.
    payloadValidationJmesPath: 'request',
    expiresAfterSeconds: RETENTION_SECONDS,
    throwOnNoIdempotencyKey: true,
    // A stored response is replayed as it was, marked as a replay.
    responseHook: (response: unknown) => {
      const stored = response as unknown as HttpResponse;
      return { ...stored, headers: { ...stored.headers, 'Idempotent-Replayed': 'true' } } as never;
    },
  },
  'http',
);

/**
 * Runs `execute` at most once per (caller, route, Idempotency-Key) for 24 hours: a retry replays the
 * first success (status, body, headers) with `Idempotent-Replayed: true`; the same key with another
 * request is 422 IDEMPOTENCY_KEY_REUSED; a duplicate while the first still runs is 409
 * REQUEST_IN_PROGRESS; an error response is not stored, so a retry runs again.
 */
export async function once(scope: IdempotencyScope, request: unknown, context: Context, execute: () => Promise<HttpResponse>): Promise<HttpResponse> {
  if (!KEY.test(scope.key)) {
    throw new Problem(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
  }
  try {
    return await idempotentRun(context)({ key: scope, request, execute });
  } catch (error) {
    if (error instanceof NotStored) return error.response;
    if (error instanceof IdempotencyValidationError) {
      throw new Problem(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request', 'Use a new key for a new request.');
    }
    // ItemNotFound: the record that held the key kept vanishing under our reads (its request failing
    // and a new one claiming it): still another request at work.
    if (error instanceof IdempotencyAlreadyInProgressError || error instanceof IdempotencyItemNotFoundError) {
      throw new Problem(409, 'REQUEST_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed', 'Retry after a moment to get its response.', {}, { 'Retry-After': '1' });
    }
    if (error instanceof IdempotencyPersistenceLayerError) {
      // Without its record a retry could run twice: refuse rather than risk a duplicate.
      throw new Problem(503, 'IDEMPOTENCY_UNAVAILABLE', 'Retries cannot be recognised right now; retry shortly', undefined, {}, { 'Retry-After': '1' });
    }
    throw error;
  }
}
