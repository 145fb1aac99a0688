import { createHash } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Caller } from './caller';
import { requiredEnv } from './env';
import { logger } from './logger';
import { metrics } from './metrics';
import { Problem } from './problem';
import { SharedState, sliceFor } from './rate-limit-state';
import { tableNameVariable } from './resource-variables';
import { RATE_LIMIT_METRICS } from './telemetry';

// Review S1: token buckets per user, per organization and per client address, and the plan's requests per
// hour (review M4), with their state in DynamoDB so every Lambda environment shares it. An environment
// decides from its own view of that state and writes its requests back a slice at a time
// (rate-limit-state.ts): about one DynamoDB write per ten requests under steady load, not four per request.

/** The per-minute limits (before RATE_LIMIT_SCALE). Each bucket holds a minute's worth: its capacity is its limit. */
export const RATE_LIMITS = {
  user: { quota: 100, windowSeconds: 60 },
  organization: { quota: 1_000, windowSeconds: 60 },
  ip: { quota: 500, windowSeconds: 60 },
} as const;

export type RateLimitPolicy = keyof typeof RATE_LIMITS;

const HOUR_MS = 3_600_000;
const TABLE_VARIABLE = tableNameVariable('rateLimits');

/** The clock of the limits: tests freeze it to fire a burst "at one instant". */
export const rateLimitClock = { now: (): number => Date.now() };

/**
 * RATE_LIMIT_SCALE multiplies every limit here (default 1). Only load tests set it (the chaos test, the
 * benchmark), explicitly; a deployed function never has it. A value that is not a positive number counts as 1.
 */
export function rateLimitScale(env: NodeJS.ProcessEnv = process.env): number {
  const scale = Number(env.RATE_LIMIT_SCALE ?? 1);
  return Number.isFinite(scale) && scale > 0 ? scale : 1;
}

// ---------------------------------------------------------------------------------------------------------
// Verdicts

interface Refusal {
  policy: RateLimitPolicy | 'hourly';
  /** Until a token is there (a bucket) or the window ends (the hourly quota). */
  waitMs: number;
  problem: (waitMs: number) => Problem;
}

interface Grant {
  /** Requests left under this policy, and seconds until that count next goes up. Absent: nothing to report. */
  left?: { policy: RateLimitPolicy | 'hourly'; remaining: number; seconds: number };
  /** The hourly quota's limit, when the plan was read and enforces one. */
  hourlyLimit?: number;
  /** Gives the token back (another check refused the request): this environment's view only, no write. */
  undo?: () => void;
}

type Verdict = { granted: true; grant: Grant; failed?: true } | { granted: false; refusal: Refusal };

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

// ---------------------------------------------------------------------------------------------------------
// Token buckets (GCRA: the bucket is one number, its "theoretical arrival time")

interface Bucket {
  id: string;
  policy: RateLimitPolicy;
  capacity: number;
  /** One token is added every `intervalMs`. */
  intervalMs: number;
}

function bucketOf(policy: RateLimitPolicy, key: string, scale: number): Bucket {
  const { quota, windowSeconds } = RATE_LIMITS[policy];
  const capacity = quota * scale;
  return { id: `${policy}#${key}`, policy, capacity, intervalMs: (windowSeconds * 1000) / capacity };
}

/**
 * Takes a token from this environment's view of a bucket. The view is `tat`, the time at which the bucket will
 * be full again: the bucket holds (now + capacity × interval − tat) / interval tokens, and taking one moves tat on
 * by one interval (from now, when the bucket was full). A full slice of this environment's requests is written
 * back first; from there the decision is synchronous, so concurrent requests can never take the same token.
 */
async function take(state: SharedState, bucket: Bucket, now: number): Promise<Verdict> {
  const { capacity, intervalMs } = bucket;
  const shared = await state.view(bucket.id, 'tat');
  const tokens = () => Math.floor((now + capacity * intervalMs - Math.max(shared.value, now)) / intervalMs + 1e-9);
  for (;;) {
    // Full again in this environment's view: its requests not written back yet no longer weigh on the bucket.
    if (shared.value <= now && !shared.writing) shared.pending = 0;
    if (Math.abs(shared.pending) < sliceFor(tokens())) break;
    // Kept past the time the bucket would be full in any case: an item is never deleted too early.
    const expiration = Math.ceil((Math.max(shared.value, now) + capacity * intervalMs) / 1000) + 60;
    await state.writeBack(shared, { kind: 'bucket', intervalMs, expiration }, now);
  }
  const tat = Math.max(shared.value, now);
  const max = now + (capacity - 1) * intervalMs;
  if (tat > max) return { granted: false, refusal: { policy: bucket.policy, waitMs: tat - max, problem: (wait) => rateLimitedProblem(bucket.policy, wait) } };
  shared.value = tat + intervalMs;
  shared.pending += 1;
  const room = now + capacity * intervalMs - shared.value; // tokens left × interval
  const remaining = Math.floor(room / intervalMs + 1e-9);
  return {
    granted: true,
    grant: {
      left: { policy: bucket.policy, remaining, seconds: seconds(intervalMs - (room - remaining * intervalMs)) },
      undo: () => {
        shared.value -= intervalMs;
        shared.pending -= 1;
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The plan's requests per hour (review M4): a counter per organization and hour

/**
 * The organization's current hour. Each organization's hours start at its own offset (from a hash of its
 * id), so the organizations refused for the rest of an hour do not all come back at the same second.
 */
export function requestWindow(orgId: string, now: number): { id: string; start: number; end: number } {
  const offset = createHash('sha256').update(orgId).digest().readUInt32BE(0) % HOUR_MS;
  const index = Math.floor((now - offset) / HOUR_MS);
  const start = index * HOUR_MS + offset;
  return { id: `hourly#${orgId}#${index}`, start, end: start + HOUR_MS };
}

/** An organization's requests per hour: its plan's quota (`enforced: false`: counted, never refused). */
export interface RequestQuota {
  plan: string;
  requestsPerHour: number;
  enforced: boolean;
}

/**
 * The hourly request quotas. They are the plans' (functions/domain/plans.ts), passed in: this module counts
 * requests, the plans say how many an organization may make.
 */
export interface RequestQuotas {
  /** The smallest quota any enforced plan has. */
  smallest: number;
  /** The organization's quota (its plan: a database read, which planOf caches a minute). */
  of(orgId: string): Promise<RequestQuota>;
}

/**
 * Counts the request in the organization's hour and refuses it when that count is over the plan's limit. The
 * count is taken at once, before the plan is read, so concurrent requests in one environment each have their
 * own. The plan costs a database read (cached a minute per environment by planOf), so it is read only once the
 * count reaches half the smallest enforced quota: below that, every plan leaves at least 500 requests this hour,
 * more than the per-IP bucket holds, so the quota can neither be exceeded nor be the most constrained limit, and
 * most organizations never pay that read. A plan that is not enforced (enterprise) is counted, never refused.
 */
async function countRequest(state: SharedState, caller: Caller, now: number, scale: number, quotas: RequestQuotas): Promise<Verdict> {
  const window = requestWindow(caller.orgId, now);
  const shared = await state.view(window.id, 'n');
  // Kept an hour past its window, for anyone reading the last hour's usage.
  const expiration = Math.ceil((window.end + HOUR_MS) / 1000);
  const smallest = quotas.smallest * scale;
  let quota: RequestQuota | undefined;
  // What this request needs before it can count synchronously: the plan, once past half the smallest quota;
  // a full slice written back (a slice of what is left under the plan, or under the smallest quota before it is read).
  for (;;) {
    const count = shared.value + 1;
    if (count > smallest / 2 && !quota) {
      quota = await quotas.of(caller.orgId);
      continue;
    }
    const left = !quota ? smallest - count : quota.enforced ? quota.requestsPerHour * scale - count : Number.POSITIVE_INFINITY;
    if (Math.abs(shared.pending) < sliceFor(left)) break;
    await state.writeBack(shared, { kind: 'count', expiration }, now);
  }
  shared.value += 1;
  shared.pending += 1;
  const count = shared.value;
  const undo = () => {
    shared.value -= 1;
    shared.pending -= 1;
  };
  if (!quota?.enforced) return { granted: true, grant: { undo } };
  const limit = quota.requestsPerHour * scale;
  if (count <= limit) {
    return { granted: true, grant: { undo, hourlyLimit: limit, left: { policy: 'hourly', remaining: limit - count, seconds: seconds(window.end - now) } } };
  }
  undo();
  const { plan } = quota;
  return { granted: false, refusal: { policy: 'hourly', waitMs: window.end - now, problem: (wait) => quotaExceededProblem(plan, limit, wait) } };
}

// ---------------------------------------------------------------------------------------------------------
// Problems and headers (draft-ietf-httpapi-ratelimit-headers-11: structured-field lists)

const POLICY_NAMES: Record<RateLimitPolicy, string> = { user: 'user', organization: 'organization', ip: 'client address' };

function rateLimitedProblem(policy: RateLimitPolicy, waitMs: number): Problem {
  const limit = RATE_LIMITS[policy].quota * rateLimitScale();
  return new Problem(
    429,
    'RATE_LIMITED',
    `Too many requests for this ${POLICY_NAMES[policy]}`,
    `The ${policy} limit is ${limit} requests a minute; retry after ${seconds(waitMs)} s.`,
    { policy, limit, windowSeconds: RATE_LIMITS[policy].windowSeconds },
  );
}

function quotaExceededProblem(plan: string, limit: number, waitMs: number): Problem {
  return new Problem(
    429,
    'QUOTA_EXCEEDED',
    `The ${plan} plan allows ${limit} requests per hour`,
    `This organization has made ${limit} requests this hour, the most its ${plan} plan allows; the hour ends in ${seconds(waitMs)} s.`,
    { quota: 'requestsPerHour', plan, limit },
  );
}

/** RateLimit-Policy: the policies that apply to this caller, as a structured-field list. */
function policyHeader(policies: readonly RateLimitPolicy[], scale: number, hourly?: number): string {
  const items = policies.map((policy) => `"${policy}";q=${Math.floor(RATE_LIMITS[policy].quota * scale)};w=${RATE_LIMITS[policy].windowSeconds}`);
  if (hourly !== undefined) items.push(`"hourly";q=${Math.floor(hourly)};w=3600`);
  return items.join(', ');
}

// ---------------------------------------------------------------------------------------------------------
// The check every JWT route makes

type LimitRequest = (caller: Caller, sourceIp: string | undefined, quotas: RequestQuotas) => Promise<Record<string, string>>;

/**
 * A Lambda environment's rate limiter, with its own view of the shared limits (rate-limit-state.ts). It takes a
 * token from the caller's buckets (user — not for an admin —, organization, client address) and counts the
 * request in its organization's hour against `quotas`. Refused by any: the tokens the others gave are given back,
 * and the refusal with the longest wait is thrown as a 429 Problem (RATE_LIMITED or QUOTA_EXCEEDED) with
 * Retry-After, RateLimit and RateLimit-Policy. Served: the RateLimit and RateLimit-Policy headers for the
 * response, RateLimit naming the most constrained policy.
 *
 * When DynamoDB cannot be reached (or fails), the check that needed it lets the request through, with a
 * warning and a `RateLimitChecksFailedOpen` metric: the core API staying available matters more than strict
 * limits for the minutes DynamoDB is away, and API Gateway's stage throttling still bounds the whole API.
 */
export function createRateLimiter(): LimitRequest {
  let state: SharedState | undefined;
  return async function limit(caller, sourceIp, quotas) {
    state ??= new SharedState(requiredEnv(TABLE_VARIABLE));
    const shared = state;
    const now = rateLimitClock.now();
    const scale = rateLimitScale();
    const address = clientAddress(sourceIp);
    const buckets: Bucket[] = [
      ...(caller.role === 'admin' ? [] : [bucketOf('user', caller.userId, scale)]),
      bucketOf('organization', caller.orgId, scale),
      ...(address ? [bucketOf('ip', address, scale)] : []),
    ];
    const policies = buckets.map((bucket) => bucket.policy);

    const checks: [string, Promise<Verdict>][] = [
      ...buckets.map((bucket): [string, Promise<Verdict>] => [bucket.policy, take(shared, bucket, now)]),
      ['hourly', countRequest(shared, caller, now, scale, quotas)],
    ];
    const verdicts = await Promise.all(
      checks.map(async ([policy, check]) => ({
        policy,
        verdict: await check.catch((error: unknown): Verdict => {
          logger.warn('rate limit check failed; the request is served without it', { policy, error });
          return { granted: true, grant: {}, failed: true };
        }),
      })),
    );
    const failedOpen = verdicts.some(({ verdict }) => verdict.granted && verdict.failed);

    const refusals = verdicts.flatMap(({ verdict }) => (verdict.granted ? [] : [verdict.refusal]));
    const grants = verdicts.flatMap(({ verdict }) => (verdict.granted ? [verdict.grant] : []));
    // The tokens taken for a request that is refused anyway go back: a user over its limit must not
    // drain its organization's bucket, nor a noisy address its users'.
    if (refusals.length > 0) for (const grant of grants) grant.undo?.();

    if (failedOpen) {
      metrics.addMetric(RATE_LIMIT_METRICS.failedOpen, MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    }
    if (refusals.length > 0) refuse(refusals, policies, scale);

    const hourlyLimit = grants.find((grant) => grant.hourlyLimit !== undefined)?.hourlyLimit;
    const headers: Record<string, string> = { 'RateLimit-Policy': policyHeader(policies, scale, hourlyLimit) };
    // The most constrained policy: the fewest requests left (the longest wait on a tie).
    const tightest = grants
      .flatMap((grant) => (grant.left ? [grant.left] : []))
      .reduce<Grant['left']>((a, b) => (!a || b.remaining < a.remaining || (b.remaining === a.remaining && b.seconds > a.seconds) ? b : a), undefined);
    if (tightest) headers.RateLimit = `"${tightest.policy}";r=${tightest.remaining};t=${tightest.seconds}`;
    return headers;
  };
}

// This Lambda environment's limiter.
let environment = createRateLimiter();

/** The rate limits of this Lambda environment (createRateLimiter). */
export const limitRequest: LimitRequest = (caller, sourceIp, quotas) => environment(caller, sourceIp, quotas);

/** A cold start: this process plays a new Lambda environment, which knows nothing of the limits yet (tests). */
export function coldStart(): void {
  environment = createRateLimiter();
}

function refuse(refusals: Refusal[], policies: RateLimitPolicy[], scale: number): never {
  const refusal = refusals.reduce((a, b) => (b.waitMs > a.waitMs ? b : a));
  const wait = seconds(refusal.waitMs);
  const problem = refusal.problem(refusal.waitMs);
  metrics.addMetric(RATE_LIMIT_METRICS.refused, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
  throw new Problem(problem.status, problem.code, problem.title, problem.detail, problem.extra, {
    'Retry-After': String(wait),
    RateLimit: `"${refusal.policy}";r=0;t=${wait}`,
    'RateLimit-Policy': policyHeader(policies, scale, refusal.policy === 'hourly' ? (problem.extra.limit as number) : undefined),
  });
}

/**
 * The client's address as limited: an IPv4 address as it is; an IPv6 address by its /64, since one client
 * usually holds a whole /64 and could otherwise step through its addresses.
 */
export function clientAddress(sourceIp: string | undefined): string | undefined {
  if (!sourceIp) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(sourceIp);
  if (mapped) return mapped[1];
  if (!sourceIp.includes(':')) return sourceIp;
  const [head = '', tail] = sourceIp.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const before = groups(head);
  const after = groups(tail);
  const all = tail === undefined ? before : [...before, ...Array<string>(Math.max(0, 8 - before.length - after.length)).fill('0'), ...after];
  return `${all.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}
