import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from '@aws-lambda-powertools/logger';
import { requiredEnv } from '../shared/env';
import { logger } from '../shared/logger';
import { span } from '../shared/spans';
import type { Trace } from '../shared/trace';
import { withBreaker } from './breaker';
import { INTEGRATIONS, type IntegrationName, type Timeouts } from './services';

export type { Timeouts } from './services';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** The call never got an answer: refused, reset, or past a timeout. Always worth another try later. */
export class TransportError extends Error {}

/** The service refused this delivery for good (no such user, invalid address): retrying cannot help. */
export class PermanentFailure extends Error {}

/**
 * The service cannot take the call now (it failed, or asked to wait), and the next try would not fit in the
 * time left: try again in `retryAfterMs` (the service's Retry-After, or the next backoff), not sooner.
 */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RetryLater';
  }
}

/** Every try failed (no answer, 5xx or 429) with no Retry-After to honour: the caller's own retries take over. */
export class IntegrationUnavailable extends Error {
  constructor(
    message: string,
    readonly lastStatus: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IntegrationUnavailable';
  }
}

/** An answer that counts as a failure of the service: 5xx, or 429 (too many requests). */
class UnavailableAnswer extends Error {
  constructor(readonly answer: HttpAnswer) {
    super(`HTTP ${answer.status}`);
  }
}

/** How integration calls retry: full jitter, delay = random(0, min(cap, base × 2^(attempt − 1))). */
export const RETRY_POLICY = {
  attempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  /** A retry is made only if this much of the budget is left after its wait. */
  minAttemptMs: 1_000,
  /** The longest a call waits for the circuit breaker to let it through (another environment's trial call, say). */
  maxBreakerWaitMs: 5_000,
} as const;

export interface IntegrationCall {
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** The correlation of the work that caused the call: X-Request-Id and traceparent go out with it. */
  trace: Trace;
  /**
   * How long the call may take, every try and wait included (e.g. the Lambda's remaining time less a margin).
   * Each try's timeouts are cut to what is left. Default: the service's connect + read timeouts (one full try).
   */
  budgetMs?: number;
  /** Overrides the service's timeouts (tests). */
  timeouts?: Timeouts;
  /** Where retries are logged (the message's logger, with its correlation). */
  log?: Logger;
  /**
   * Which answers are failures of the service: retried, and counted by its circuit breaker (default: 5xx and 429).
   * The others are the caller's to read (GitHub's 429 is its rate limit, which the caller honours, not retries).
   */
  isFailure?: (answer: HttpAnswer) => boolean;
}

/** For a send made of integration calls: how long all of it may take (retries and waits included), and where retries are logged. */
export interface SendOptions {
  budgetMs?: number;
  log?: Logger;
}

/**
 * A call to one of the integrations (review C4): its base URL from the service's variable (`path` is
 * appended), its timeouts, its circuit breaker, and retries of what may pass (no answer, 5xx, 429) with
 * exponential backoff and full jitter, honouring Retry-After (seconds or an HTTP date), within `budgetMs`.
 *
 * Answers the service's answer when it is not a failure (2xx, and 4xx but 429: the caller reads them).
 * Throws BreakerOpen when the circuit is open (the call is not made); RetryLater when the next try's
 * wait would not fit in the budget (or the last try was told to wait); IntegrationUnavailable when every
 * try failed.
 */
export async function callIntegration(name: IntegrationName, path: string, init: IntegrationCall): Promise<HttpAnswer> {
  const service = INTEGRATIONS[name];
  const url = `${requiredEnv(service.baseUrlVariable)}${path}`;
  const timeouts = init.timeouts ?? scaledTimeouts(service.timeouts);
  const deadline = Date.now() + (init.budgetMs ?? timeouts.connectMs + timeouts.readMs);
  const log = init.log ?? logger;
  for (let attempt = 1; ; attempt += 1) {
    // A try may not outlast the budget (at least a second for the first one, whatever is left), counted from
    // when the breaker lets it through, connect and answer together.
    const tryTimeouts = () => {
      const left = Math.max(deadline - Date.now(), RETRY_POLICY.minAttemptMs);
      return { connectMs: Math.min(timeouts.connectMs, left), readMs: Math.min(timeouts.readMs, left), totalMs: left };
    };
    const lease = tryTimeouts();
    let failure: UnavailableAnswer | TransportError;
    try {
      return await withBreaker(
        name,
        async () => {
          const answer = await call(url, { method: init.method, headers: init.headers, body: init.body, trace: init.trace, timeouts: tryTimeouts() });
          if (init.isFailure ? init.isFailure(answer) : answer.status >= 500 || answer.status === 429) throw new UnavailableAnswer(answer);
          return answer;
        },
        {
          isFailure: (error) => error instanceof UnavailableAnswer || error instanceof TransportError,
          trialLeaseMs: lease.totalMs + 5_000,
          // Half-open, wait a little for another environment's trial rather than fail at once.
          maxWaitMs: Math.min(RETRY_POLICY.maxBreakerWaitMs, deadline - Date.now() - RETRY_POLICY.minAttemptMs),
        },
      );
    } catch (error) {
      if (!(error instanceof UnavailableAnswer || error instanceof TransportError)) throw error; // BreakerOpen, a bug...
      failure = error;
    }
    const status = failure instanceof UnavailableAnswer ? failure.answer.status : null;
    const asked = failure instanceof UnavailableAnswer ? retryAfterMs(failure.answer.headers['retry-after']) : undefined;
    const what = `${service.displayName} ${init.method} ${path}: ${failure.message}`;
    if (attempt >= RETRY_POLICY.attempts) {
      if (asked !== undefined) throw new RetryLater(`${what} (try ${attempt}, asked to wait ${asked} ms)`, asked, { cause: failure });
      throw new IntegrationUnavailable(`${what} (after ${attempt} tries)`, status, { cause: failure });
    }
    const backoff = Math.random() * Math.min(RETRY_POLICY.maxDelayMs, RETRY_POLICY.baseDelayMs * 2 ** (attempt - 1));
    // Asked to wait: at least that long, plus a little jitter so the callers told the same do not come back together.
    const wait = Math.ceil(asked !== undefined ? asked + Math.random() * RETRY_POLICY.baseDelayMs : backoff);
    if (Date.now() + wait + RETRY_POLICY.minAttemptMs > deadline) {
      throw new RetryLater(`${what} (try ${attempt}; the next would not fit in the time left)`, asked ?? wait, { cause: failure });
    }
    log.info('integration call failed; trying again', { integration: name, path, attempt, reason: failure.message, waitMs: wait });
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * The service's timeouts, times INTEGRATION_TIMEOUT_SCALE when it is set (the end-to-end tests make "slower
 * than the read timeout" take a second rather than ten); never set in AWS.
 */
function scaledTimeouts(timeouts: Timeouts): Timeouts {
  const scale = Number(process.env.INTEGRATION_TIMEOUT_SCALE ?? 1);
  if (!(scale > 0) || scale === 1) return timeouts;
  return { connectMs: Math.ceil(timeouts.connectMs * scale), readMs: Math.ceil(timeouts.readMs * scale) };
}

/** Retry-After as milliseconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if absent or invalid. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * One HTTP call with a connect timeout, a read timeout and optionally an overall one (fetch has only the last), carrying
 * the correlation of the work that caused it: `X-Request-Id` and a W3C `traceparent`.
 */
export function call(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string | undefined; trace: Trace; timeouts: Timeouts & { totalMs?: number } },
): Promise<HttpAnswer> {
  const target = new URL(url);
  // Each try a span (review M2): where it went (never the query, which may hold a token) and what came back.
  return span('http', `${init.method} ${target.host}${target.pathname}`, { method: init.method, host: target.host, path: target.pathname, traceparent: init.trace.traceparent }, () => send(target, init), (answer) => ({ status: answer.status }));
}

function send(target: URL, init: Parameters<typeof call>[1]): Promise<HttpAnswer> {
  const open = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = open(target, {
      method: init.method,
      headers: {
        ...init.headers,
        'X-Request-Id': init.trace.requestId,
        traceparent: init.trace.traceparent,
        ...(init.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(init.body)) } : {}),
      },
    });
    const fail = (message: string) => {
      request.destroy();
      reject(new TransportError(`${init.method} ${target.origin}${target.pathname}: ${message}`));
    };
    const connectTimer = setTimeout(() => fail(`no connection within ${init.timeouts.connectMs} ms`), init.timeouts.connectMs);
    // The read timeout is a silence; an answer that trickles in must still end within the call's time.
    const { totalMs } = init.timeouts;
    const totalTimer = totalMs === undefined ? undefined : setTimeout(() => fail(`no complete answer within ${totalMs} ms`), totalMs);
    request.on('socket', (socket) => {
      const connected = () => {
        clearTimeout(connectTimer);
        request.setTimeout(init.timeouts.readMs, () => fail(`no answer within ${init.timeouts.readMs} ms`));
      };
      if (socket.connecting) socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
      else connected();
    });
    request.on('error', (error) => {
      clearTimeout(connectTimer);
      clearTimeout(totalTimer);
      reject(error instanceof TransportError ? error : new TransportError(`${init.method} ${target.origin}${target.pathname}: ${error.message}`));
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(totalTimer);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', (error) => reject(new TransportError(error.message)));
    });
    request.end(init.body);
  });
}
