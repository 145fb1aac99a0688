import { createHash } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Caller } from './caller';
import { DynamoDbError, dynamoDb, type AttributeValue } from './dynamodb';
import { requiredEnv } from './env';
import { logger } from './logger';
import { metrics } from './metrics';
import { Problem } from './problem';
import { tableNameVariable } from './resource-variables';
import { RATE_LIMIT_METRICS } from './telemetry';

// Review S1: token buckets per user, per organization and per client address, and the plan's requests per
// hour (review M4), with their state in DynamoDB so every Lambda environment shares it. Each check is
// one conditional UpdateItem, so concurrent requests can never take the same token (no read-then-write).

/** The per-minute limits (before RATE_LIMIT_SCALE). Each bucket holds a minute's worth: its capacity is its limit. */
export const RATE_LIMITS = {
  user: { quota: 100, windowSeconds: 60 },
  organization: { quota: 1_000, windowSeconds: 60 },
  ip: { quota: 500, windowSeconds: 60 },
} as const;

export type RateLimitPolicy = keyof typeof RATE_LIMITS;

/**
 * The organization's bucket is split over this many items, each with 1/N of its rate and capacity: one big
 * tenant's requests then land on N DynamoDB partitions instead of one hot item. A request picks a shard at
 * random and, when that one is empty, tries the others (in random order) before it is refused. That is fair
 * enough: random picks spread the tenant's requests evenly over the shards, so they drain and refill
 * together, and since a request is refused only when every shard it tried was empty, the organization gets
 * its whole 1,000 a minute (at a frozen instant, exactly: see the tests); only the Retry-After (the soonest
 * shard's next token) and the `r` of RateLimit (the granting shard's count × N) are estimates.
 */
export const ORGANIZATION_SHARDS = 4;

const HOUR_MS = 3_600_000;

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
// The table and the environment-local caches

const TABLE_VARIABLE = tableNameVariable('rateLimits');

type Call = ReturnType<typeof dynamoDb>;
let client: { endpoint: string | undefined; call: Call } | undefined;

/**
 * A short timeout (1 s; DynamoDB answers in milliseconds): past it the check fails open, since a limiter
 * that waits seconds for DynamoDB costs more availability than it protects. RATE_LIMIT_TIMEOUT_MS
 * overrides it for the local emulator, which answers one call at a time to a process playing hundreds of
 * Lambda environments. The client follows AWS_ENDPOINT_URL_DYNAMODB if it changes (tests cut it).
 */
function call(): Call {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!client || client.endpoint !== endpoint) {
    const timeoutMs = Number(process.env.RATE_LIMIT_TIMEOUT_MS) || 1_000;
    client = { endpoint, call: dynamoDb(process.env, { timeoutMs, attempts: 2 }) };
  }
  return client.call;
}

// What this environment last saw of each bucket (its theoretical arrival time): which update to try first.
const lastSeen = new Map<string, number>();
// Buckets known to be empty until a time: further requests are refused here without a DynamoDB write, so a
// client hammering past its limit costs one write per Lambda environment and refill interval, not one per request.
// `until`: how long the refusal is trusted here; `retryAt`: when the caller may come back.
const deniedUntil = new Map<string, { until: number; retryAt: number; refusal: Refusal }>();
const CACHE_ENTRIES = 10_000;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= CACHE_ENTRIES && !map.has(key)) map.clear();
  map.set(key, value);
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
  /** Gives the token back (another check refused the request). */
  undo?: () => Promise<void>;
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

/**
 * Takes a token from a bucket. The state is `tat`, the time at which the bucket will be full again: the
 * bucket holds (now + capacity × interval − tat) / interval tokens, and taking one moves tat on by one
 * interval. Two conditional updates cover it, each atomic: an idle bucket (tat in the past, or no item)
 * is reset to now + interval; a busy one moves on by an interval if that leaves tat at most
 * capacity − 1 intervals ahead. When the condition fails, the item as it was (returned by DynamoDB; read
 * again on dynalite, which does not return it) says which case holds, or that the bucket is empty.
 */
async function take(bucket: Bucket, now: number, table: string): Promise<Verdict> {
  const { id, capacity, intervalMs } = bucket;
  const max = now + (capacity - 1) * intervalMs;
  // Past the time the bucket would be full in any case: an idle item is never deleted too early.
  const expiration = Math.ceil((now + capacity * intervalMs) / 1000) + 60;
  // What this environment last saw only picks the update to try; a refusal needs DynamoDB's word.
  let tat = lastSeen.get(id) ?? 0;
  let fresh = false;
  for (let attempt = 1; attempt <= 4; attempt += 1) {
    if (fresh && tat > max) return { granted: false, refusal: deny(id, now, rateLimited(bucket, tat - max)) };
    const idle = tat <= now;
    try {
      const { Attributes } = await call()<{ Attributes: { tat: { N: string } } }>('UpdateItem', {
        TableName: table,
        Key: { id: { S: id } },
        UpdateExpression: idle ? 'SET tat = :next, expiration = :expiration' : 'SET tat = tat + :interval, expiration = :expiration',
        ConditionExpression: idle ? 'attribute_not_exists(tat) OR tat <= :now' : 'tat > :now AND tat <= :max',
        ExpressionAttributeValues: idle
          ? { ':next': num(now + intervalMs), ':now': num(now), ':expiration': num(expiration) }
          : { ':interval': num(intervalMs), ':now': num(now), ':max': num(max), ':expiration': num(expiration) },
        ReturnValues: 'UPDATED_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
      const taken = Number(Attributes.tat.N);
      remember(lastSeen, id, taken);
      const room = now + capacity * intervalMs - taken; // tokens left × interval
      const remaining = Math.floor(room / intervalMs + 1e-9);
      return {
        granted: true,
        grant: {
          left: { policy: bucket.policy, remaining, seconds: seconds(intervalMs - (room - remaining * intervalMs)) },
          undo: () => giveBack(table, id, intervalMs),
        },
      };
    } catch (error) {
      if (!(error instanceof DynamoDbError && error.name === 'ConditionalCheckFailedException')) throw error;
      if (error.item || !idle) {
        // dynalite does not return the item that failed the condition; DynamoDB does.
        tat = error.item ? tatOf(error.item) : await readTat(table, id);
        fresh = true;
      } else {
        // An idle update lost: another request took a token first, so the bucket is busy now. (Read only if
        // the busy update fails too.)
        tat = now + intervalMs;
      }
      remember(lastSeen, id, tat);
    }
  }
  // Four conditions lost in a row to other requests: so busy a bucket is as good as empty for now.
  return { granted: false, refusal: rateLimited(bucket, intervalMs) };
}

function rateLimited(bucket: Bucket, waitMs: number): Refusal {
  return { policy: bucket.policy, waitMs, problem: (wait) => rateLimitedProblem(bucket.policy, wait) };
}

function deny(id: string, now: number, refusal: Refusal): Refusal {
  remember(deniedUntil, id, { until: now + refusal.waitMs, retryAt: now + refusal.waitMs, refusal });
  return refusal;
}

/** A refusal this environment already knows of, with the wait left. */
function deniedHere(id: string, now: number): Refusal | undefined {
  const denied = deniedUntil.get(id);
  if (!denied) return undefined;
  if (denied.until <= now) {
    deniedUntil.delete(id);
    return undefined;
  }
  return { ...denied.refusal, waitMs: denied.retryAt - now };
}

async function giveBack(table: string, id: string, intervalMs: number): Promise<void> {
  if (!(await addBack(table, id, 'tat', -intervalMs))) return;
  const seen = lastSeen.get(id);
  if (seen !== undefined) lastSeen.set(id, seen - intervalMs);
}

/**
 * Adds `amount` to a counter attribute, but not on an item that expired meanwhile (it would come back
 * without its TTL); false when there was none.
 */
async function addBack(table: string, id: string, attribute: 'tat' | 'n', amount: number): Promise<boolean> {
  try {
    await call()('UpdateItem', {
      TableName: table,
      Key: { id: { S: id } },
      UpdateExpression: `ADD ${attribute} :back`,
      ConditionExpression: `attribute_exists(${attribute})`,
      ExpressionAttributeValues: { ':back': num(amount) },
    });
    return true;
  } catch (error) {
    if (!(error instanceof DynamoDbError && error.name === 'ConditionalCheckFailedException')) throw error;
    return false;
  }
}

async function readTat(table: string, id: string): Promise<number> {
  const { Item } = await call()<{ Item?: Record<string, AttributeValue> }>('GetItem', { TableName: table, Key: { id: { S: id } }, ConsistentRead: true });
  return Item ? tatOf(Item) : 0;
}

const tatOf = (item: Record<string, AttributeValue>) => ('N' in (item.tat ?? {}) ? Number((item.tat as { N: string }).N) : 0);
const num = (n: number) => ({ N: String(n) });

function bucketOf(policy: RateLimitPolicy, key: string, scale: number, shards = 1): Bucket {
  const { quota, windowSeconds } = RATE_LIMITS[policy];
  const capacity = (quota * scale) / shards;
  return { id: `${policy}#${key}`, policy, capacity, intervalMs: (windowSeconds * 1000) / capacity };
}

/** The organization's shards, a random one first, then the others in random order. */
async function takeFromOrganization(orgId: string, now: number, scale: number, table: string): Promise<Verdict> {
  const shards = Array.from({ length: ORGANIZATION_SHARDS }, (_, i) => bucketOf('organization', `${orgId}#${i}`, scale, ORGANIZATION_SHARDS));
  for (let i = shards.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [shards[i], shards[j]] = [shards[j]!, shards[i]!];
  }
  const refusals: Refusal[] = [];
  for (const shard of shards) {
    const known = deniedHere(shard.id, now);
    if (known) {
      refusals.push(known);
      continue;
    }
    const verdict = await take(shard, now, table);
    if (!verdict.granted) {
      refusals.push(verdict.refusal);
      continue;
    }
    // The other shards drain at the same pace (random picks): this one's count × N is the organization's.
    const left = verdict.grant.left!;
    return { granted: true, grant: { ...verdict.grant, left: { ...left, remaining: left.remaining * ORGANIZATION_SHARDS } } };
  }
  // Every shard is empty: the first to have a token again says when to come back.
  return { granted: false, refusal: refusals.reduce((a, b) => (b.waitMs < a.waitMs ? b : a)) };
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
 * Counts the request in the organization's hour (one unconditional ADD, which hands every request its own
 * count) and refuses it when that count is over the plan's limit, giving the count back. The plan costs a
 * database read (cached a minute per environment by planOf), so it is read only once the count reaches
 * half the smallest enforced quota: below that, every plan leaves at least 500 requests this hour, more
 * than the per-IP bucket holds, so the quota can neither be exceeded nor be the most constrained limit, and
 * most organizations never pay that read. A plan that is not enforced (enterprise) is counted, never refused.
 */
async function countRequest(caller: Caller, now: number, scale: number, table: string, quotas: RequestQuotas): Promise<Verdict> {
  const window = requestWindow(caller.orgId, now);
  const known = deniedHere(window.id, now);
  if (known) return { granted: false, refusal: known };
  const { Attributes } = await call()<{ Attributes: { n: { N: string } } }>('UpdateItem', {
    TableName: table,
    Key: { id: { S: window.id } },
    UpdateExpression: 'ADD n :one SET expiration = :expiration',
    // Kept an hour past its window, for anyone reading the last hour's usage.
    ExpressionAttributeValues: { ':one': num(1), ':expiration': num(Math.ceil((window.end + HOUR_MS) / 1000)) },
    ReturnValues: 'UPDATED_NEW',
  });
  const count = Number(Attributes.n.N);
  const undo = () => uncount(table, window.id);
  if (count <= (quotas.smallest * scale) / 2) return { granted: true, grant: { undo } };
  const quota = await quotas.of(caller.orgId);
  const limit = quota.requestsPerHour * scale;
  if (!quota.enforced) return { granted: true, grant: { undo } };
  if (count <= limit) {
    return {
      granted: true,
      grant: { undo, hourlyLimit: limit, left: { policy: 'hourly', remaining: limit - count, seconds: seconds(window.end - now) } },
    };
  }
  await uncount(table, window.id);
  const refusal: Refusal = { policy: 'hourly', waitMs: window.end - now, problem: (wait) => quotaExceededProblem(quota.plan, limit, wait) };
  // Remembered at most a minute, like the plan: an organization moved to a larger plan is served again soon.
  remember(deniedUntil, window.id, { until: now + Math.min(refusal.waitMs, 60_000), retryAt: window.end, refusal });
  return { granted: false, refusal };
}

async function uncount(table: string, id: string): Promise<void> {
  await addBack(table, id, 'n', -1);
}

/** The organization's requests in its current hour, and when that hour ends (for usage reports). */
export async function requestsThisHour(orgId: string, now = rateLimitClock.now()): Promise<{ used: number; resetsAt: Date }> {
  const window = requestWindow(orgId, now);
  const { Item } = await call()<{ Item?: { n?: { N: string } } }>('GetItem', {
    TableName: requiredEnv(TABLE_VARIABLE),
    Key: { id: { S: window.id } },
    ConsistentRead: true,
  });
  return { used: Number(Item?.n?.N ?? 0), resetsAt: new Date(window.end) };
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

/**
 * Takes a token from the caller's buckets (user — not for an admin —, organization, client address) and
 * counts the request in its organization's hour against `quotas`, all in parallel. Refused by any: the tokens the others
 * gave are given back, and the refusal with the longest wait is thrown as a 429 Problem (RATE_LIMITED or
 * QUOTA_EXCEEDED) with Retry-After, RateLimit and RateLimit-Policy. Served: the RateLimit and
 * RateLimit-Policy headers for the response, RateLimit naming the most constrained policy.
 *
 * When DynamoDB cannot be reached (or fails), the check that failed lets the request through, with a
 * warning and a `RateLimitChecksFailedOpen` metric: the core API staying available matters more than strict
 * limits for the minutes DynamoDB is away, and API Gateway's stage throttling still bounds the whole API.
 */
export async function limitRequest(caller: Caller, sourceIp: string | undefined, quotas: RequestQuotas): Promise<Record<string, string>> {
  const table = requiredEnv(TABLE_VARIABLE);
  const now = rateLimitClock.now();
  const scale = rateLimitScale();
  const address = clientAddress(sourceIp);
  const buckets: Bucket[] = [
    ...(caller.role === 'admin' ? [] : [bucketOf('user', caller.userId, scale)]),
    ...(address ? [bucketOf('ip', address, scale)] : []),
  ];
  const policies: RateLimitPolicy[] = [...(caller.role === 'admin' ? [] : ['user' as const]), 'organization', ...(address ? ['ip' as const] : [])];

  // A refusal this environment already knows of costs no DynamoDB call at all.
  const orgShards = Array.from({ length: ORGANIZATION_SHARDS }, (_, i) => `organization#${caller.orgId}#${i}`);
  const orgRefusals = orgShards.map((id) => deniedHere(id, now));
  const known = [
    ...buckets.map((bucket) => deniedHere(bucket.id, now)),
    orgRefusals.every(Boolean) ? orgRefusals.reduce((a, b) => (b!.waitMs < a!.waitMs ? b : a)) : undefined,
    deniedHere(requestWindow(caller.orgId, now).id, now),
  ].filter((refusal): refusal is Refusal => refusal !== undefined);
  if (known.length > 0) refuse(known, policies, scale);

  const checks: [string, Promise<Verdict>][] = [
    ...buckets.map((bucket): [string, Promise<Verdict>] => [bucket.policy, take(bucket, now, table)]),
    ['organization', takeFromOrganization(caller.orgId, now, scale, table)],
    ['hourly', countRequest(caller, now, scale, table, quotas)],
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
  if (verdicts.some(({ verdict }) => verdict.granted && verdict.failed)) {
    metrics.addMetric(RATE_LIMIT_METRICS.failedOpen, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  }

  const refusals = verdicts.flatMap(({ verdict }) => (verdict.granted ? [] : [verdict.refusal]));
  if (refusals.length > 0) {
    // The tokens taken for a request that is refused anyway go back: a user over its limit must not
    // drain its organization's bucket, nor a noisy address its users'.
    await Promise.all(
      verdicts.map(async ({ policy, verdict }) => {
        if (!verdict.granted || !verdict.grant.undo) return;
        await verdict.grant.undo().catch((error: unknown) => logger.warn('rate limit token not given back', { policy, error }));
      }),
    );
    refuse(refusals, policies, scale);
  }

  const grants = verdicts.flatMap(({ verdict }) => (verdict.granted ? [verdict.grant] : []));
  const hourlyLimit = grants.find((grant) => grant.hourlyLimit !== undefined)?.hourlyLimit;
  const headers: Record<string, string> = { 'RateLimit-Policy': policyHeader(policies, scale, hourlyLimit) };
  // The most constrained policy: the fewest requests left (the longest wait on a tie).
  const tightest = grants
    .flatMap((grant) => (grant.left ? [grant.left] : []))
    .reduce<Grant['left']>((a, b) => (!a || b.remaining < a.remaining || (b.remaining === a.remaining && b.seconds > a.seconds) ? b : a), undefined);
  if (tightest) headers.RateLimit = `"${tightest.policy}";r=${tightest.remaining};t=${tightest.seconds}`;
  return headers;
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
