import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { roundTrips } from '../../functions/shared/db';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { logger } from '../../functions/shared/logger';
import { metrics } from '../../functions/shared/metrics';
import { Problem } from '../../functions/shared/problem';
import { enforceRateLimits } from '../../functions/domain/request-quotas';
import { clientAddress, coldStart, requestWindow } from '../../functions/shared/rate-limit';
import { tableNameVariable } from '../../functions/shared/resource-variables';
import { invoke, memberOf, newCaller, type Caller, type Response } from '../support/api';
import { frozenRateLimitClock } from '../support/rate-limit-clock';
import { sql } from '../support/sql';

// Review S1: token buckets per user (100/min), organization (1,000/min) and client address (500/min) shared
// by every Lambda environment through DynamoDB (here dynalite), and the plan's requests per hour (review M4).
// This process is one Lambda environment, where the limits are exact (test/integration/rate-limit-environments.test.ts
// holds several environments to their bound). Bursts fire at one frozen instant (the limiter's clock), so
// "exactly the capacity" is exact, not a race against the refill; time is moved on by hand, never slept.
// These tests run at the real limits.

const POLICY = '"user";q=100;w=60, "organization";q=1000;w=60, "ip";q=500;w=60';
// These tests count exactly what a burst is granted; a read or write that waits past its DynamoDB deadline fails
// open (served), which would blur the count when the suite's other tiers share the machine. The deadline is
// generous here (read when the limiter first calls); failing open is tested against an address where nothing listens.
process.env.RATE_LIMIT_TIMEOUT_MS = '25000';

const table = () => process.env[tableNameVariable('rateLimits')]!;
const clock = frozenRateLimitClock();

/** An address nobody else in the run uses (an IPv6 /64 of the documentation prefix). */
const uniqueIp = () => `2001:db8:${randomUUID().slice(0, 4)}:${randomUUID().slice(0, 4)}::1`;

const statuses = (responses: Response[]) => responses.map((r) => r.status);
const count = (responses: Response[], status: number) => statuses(responses).filter((s) => s === status).length;
const burst = (n: number, caller: Caller, sourceIp: string) => Promise.all(Array.from({ length: n }, () => invoke('listProjects', caller, { sourceIp })));

/**
 * Sets the organization's request count for its current hour, as the quota tests set task_count: as if other
 * environments had served them. This environment then starts cold, to read it.
 */
async function seedHour(orgId: string, n: number) {
  await dynamoDb()('UpdateItem', {
    TableName: table(),
    Key: { id: { S: requestWindow(orgId, clock.now).id } },
    UpdateExpression: 'SET n = :n',
    ExpressionAttributeValues: { ':n': { N: String(n) } },
  });
  coldStart();
}

/** The organization's request count for its current hour, as DynamoDB holds it (what every environment shares). */
async function hourCount(orgId: string): Promise<number> {
  const { Item } = await dynamoDb()<{ Item?: { n?: { N: string } } }>('GetItem', { TableName: table(), Key: { id: { S: requestWindow(orgId, clock.now).id } }, ConsistentRead: true });
  return Number(Item?.n?.N ?? 0);
}

/** An organization on `plan`, provisioned by one request. */
async function organization(plan: 'free' | 'pro' | 'enterprise'): Promise<Caller> {
  const caller = newCaller();
  expect((await invoke('listProjects', caller, { sourceIp: uniqueIp() })).status).toBe(200);
  await sql('UPDATE organizations SET plan = $2 WHERE id = $1', [caller.orgId, plan]);
  return caller;
}

describe('rate limits', () => {
  it('run at the real limits here', () => {
    expect(process.env.RATE_LIMIT_SCALE).toBeUndefined();
  });

  it('serves exactly 100 of 150 concurrent requests from one user, refuses the rest by name, and leaves the user\'s colleagues alone', async () => {
    const alice = newCaller();
    const ip = uniqueIp();
    const responses = await burst(150, alice, ip);
    expect(count(responses, 200)).toBe(100);
    expect(count(responses, 429)).toBe(50);

    // Every success took its own token: the counts left are 99 down to 0, once each.
    const served = responses.filter((r) => r.status === 200);
    const left = served.map((r) => /^"user";r=(\d+);t=(\d+)$/.exec(r.headers.ratelimit!)).map((m) => Number(m![1]));
    expect(left.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const r of served) expect(r.headers['ratelimit-policy']).toBe(POLICY);

    // A token every 600 ms (100 a minute): Retry-After is the wait for the next one, rounded up.
    const refused = responses.filter((r) => r.status === 429);
    for (const r of refused) {
      expect(r.headers['content-type']).toBe('application/problem+json');
      expect(r.headers['retry-after']).toBe(String(Math.ceil(60_000 / 100 / 1000)));
      expect(r.headers.ratelimit).toBe('"user";r=0;t=1');
      expect(r.headers['ratelimit-policy']).toBe(POLICY);
      expect(r.body).toMatchObject({
        type: 'urn:taskflow:problem:rate-limited', status: 429, code: 'RATE_LIMITED', policy: 'user', limit: 100, windowSeconds: 60,
      });
    }

    // Another member of the same organization, from the same address, has a full bucket of its own.
    const bob = await invoke('listProjects', memberOf(alice), { sourceIp: ip });
    expect(bob.status).toBe(200);
    expect(bob.headers.ratelimit).toBe('"user";r=99;t=1');

    // 600 ms later there is one token again, and only one.
    clock.now += 600;
    expect(statuses(await burst(3, alice, ip)).sort()).toEqual([200, 429, 429]);
    // A minute later the bucket is full.
    clock.now += 60_000;
    expect(count(await burst(101, alice, ip), 200)).toBe(100);
  });

  it('costs a refused request no database round trip', async () => {
    const alice = newCaller();
    const ip = uniqueIp();
    expect(count(await burst(100, alice, ip), 200)).toBe(100);
    const before = roundTrips.count;
    expect((await invoke('listProjects', alice, { sourceIp: ip })).status).toBe(429);
    expect(roundTrips.count).toBe(before);
  });

  it('does not limit an admin per user, but still per organization and address', async () => {
    const admin = newCaller('admin');
    const ip = uniqueIp();
    const responses = await burst(150, admin, ip);
    expect(count(responses, 200)).toBe(150);
    const last = responses.at(-1)!;
    expect(last.headers['ratelimit-policy']).toBe('"organization";q=1000;w=60, "ip";q=500;w=60');
    // The address's bucket, 350 left, is the most constrained.
    const left = responses.map((r) => Number(/^"ip";r=(\d+);t=1$/.exec(r.headers.ratelimit!)![1]));
    expect(Math.min(...left)).toBe(350);
  });

  it('limits one address to 500 a minute across users and organizations', async () => {
    const ip = uniqueIp();
    const users = Array.from({ length: 6 }, () => newCaller());
    const responses = (await Promise.all(users.map((user) => burst(90, user, ip)))).flat();
    expect(count(responses, 200)).toBe(500);
    expect(count(responses, 429)).toBe(40);
    for (const r of responses.filter((r) => r.status === 429)) {
      expect(r.body).toMatchObject({ code: 'RATE_LIMITED', policy: 'ip', limit: 500 });
      expect(r.headers['retry-after']).toBe('1'); // a token every 120 ms
      expect(r.headers.ratelimit).toBe('"ip";r=0;t=1');
    }
    // Another address is not affected, nor are the same users from it.
    expect((await invoke('listProjects', users[0]!, { sourceIp: uniqueIp() })).status).toBe(200);
  });

  it('limits an organization to 1,000 a minute, exactly, whoever of it calls', async () => {
    // The limiter itself (no handler, to spare the emulator): 1,045 checks at one instant from 11 of its
    // admins (no per-user limit) whose address API Gateway did not report (none either).
    const owner = await organization('pro'); // 10,000 requests an hour: the hourly quota stays out of it
    clock.now += 60_000; // the bucket full again after that request
    const members = Array.from({ length: 11 }, () => ({ caller: { ...memberOf(owner), role: 'admin' as const }, ip: undefined }));
    const outcomes = await Promise.allSettled(members.flatMap(({ caller, ip }) => Array.from({ length: 95 }, () => enforceRateLimits(caller, ip))));
    const served = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Problem] : []));
    expect(served).toHaveLength(1_000);
    expect(refused).toHaveLength(45);
    for (const problem of refused) {
      expect(problem).toBeInstanceOf(Problem);
      expect(problem).toMatchObject({ status: 429, code: 'RATE_LIMITED', extra: { policy: 'organization', limit: 1_000 } });
      expect(problem.headers['Retry-After']).toBe('1'); // a token every 60 ms
    }
    clock.now += 240;
    const again = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => enforceRateLimits(members[i]!.caller, members[i]!.ip)));
    expect(again.filter((o) => o.status === 'fulfilled')).toHaveLength(4); // four tokens in 240 ms
  }, 60_000);

  it('counts a replayed request too', async () => {
    const alice = newCaller();
    const ip = uniqueIp();
    const call = { body: { name: 'Once' }, headers: { 'Idempotency-Key': randomUUID() }, sourceIp: ip };
    const first = await invoke('createProject', alice, call);
    const replay = await invoke('createProject', alice, call);
    expect(first.status).toBe(201);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(first.headers.ratelimit).toBe('"user";r=99;t=1');
    expect(replay.headers.ratelimit).toBe('"user";r=98;t=1');
  });

  it('puts RateLimit headers on errors the route answers after the check', async () => {
    const alice = newCaller();
    const missing = await invoke('getProject', alice, { params: { projectId: randomUUID() }, sourceIp: uniqueIp() });
    expect(missing.status).toBe(404);
    expect(missing.headers.ratelimit).toBe('"user";r=99;t=1');
    expect(missing.headers['ratelimit-policy']).toBe(POLICY);
  });

  it('fails open when DynamoDB cannot be reached: the request is served, with a warning and a metric', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const metric = vi.spyOn(metrics, 'addMetric');
    const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:9'; // nothing listens there
    try {
      const response = await invoke('listProjects', newCaller(), { sourceIp: uniqueIp() });
      expect(response.status).toBe(200);
      expect(response.headers.ratelimit).toBeUndefined();
    } finally {
      process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
    }
    expect(warn).toHaveBeenCalledWith('rate limit check failed; the request is served without it', expect.objectContaining({ policy: 'user' }));
    expect(metric).toHaveBeenCalledWith('RateLimitChecksFailedOpen', 'Count', 1);
  });
});

describe('requests per hour (the plan\'s quota)', () => {
  // The honest and fast way to reach 1,000 requests: the organization's count for its hour is set in
  // DynamoDB (as the quota tests set task_count), then real requests run through the handler against the
  // limits of PLANS. Firing 1,000 requests would test the same code a thousand times slower.
  it('serves a free organization up to 1,000 an hour, exactly, then answers QUOTA_EXCEEDED until its hour ends', async () => {
    const owner = await organization('free');
    await seedHour(owner.orgId, 998);
    const members = Array.from({ length: 5 }, () => memberOf(owner));
    const responses = await Promise.all(members.map((member) => invoke('listProjects', member, { sourceIp: uniqueIp() })));
    expect(count(responses, 200)).toBe(2);
    expect(count(responses, 429)).toBe(3);

    const served = responses.filter((r) => r.status === 200);
    expect(served.map((r) => r.headers.ratelimit).sort()).toEqual([
      expect.stringMatching(/^"hourly";r=0;t=\d+$/),
      expect.stringMatching(/^"hourly";r=1;t=\d+$/),
    ]);
    const untilEnd = Math.ceil((requestWindow(owner.orgId, clock.now).end - clock.now) / 1000);
    for (const r of responses.filter((r) => r.status === 429)) {
      expect(r.body).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'requestsPerHour', plan: 'free', limit: 1_000 });
      expect(r.headers['retry-after']).toBe(String(untilEnd));
      expect(r.headers.ratelimit).toBe(`"hourly";r=0;t=${untilEnd}`);
      expect(r.headers['ratelimit-policy']).toBe(`${POLICY}, "hourly";q=1000;w=3600`);
    }
    // Refused requests are not counted; this close to the limit every request is written back at once.
    expect(await hourCount(owner.orgId)).toBe(1_000);
    // A refusal this environment already knows of (no DynamoDB call) still waits for the end of the hour.
    const again = await invoke('listProjects', members[0]!, { sourceIp: uniqueIp() });
    expect(again.status).toBe(429);
    expect(again.headers['retry-after']).toBe(String(untilEnd));

    // The organization's next hour starts afresh.
    clock.now = requestWindow(owner.orgId, clock.now).end;
    expect((await invoke('listProjects', members[0]!, { sourceIp: uniqueIp() })).status).toBe(200);
  });

  it('applies the pro plan\'s 10,000, and counts but never refuses an enterprise organization', async () => {
    const pro = await organization('pro');
    await seedHour(pro.orgId, 9_999);
    expect((await invoke('listProjects', pro, { sourceIp: uniqueIp() })).status).toBe(200);
    const refused = await invoke('listProjects', memberOf(pro), { sourceIp: uniqueIp() });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'requestsPerHour', plan: 'pro', limit: 10_000 });

    const enterprise = await organization('enterprise');
    await seedHour(enterprise.orgId, 50_000);
    const served = await Promise.all(Array.from({ length: 11 }, () => invoke('listProjects', memberOf(enterprise), { sourceIp: uniqueIp() })));
    expect(statuses(served)).toEqual(Array<number>(11).fill(200));
    expect(served[0]!.headers['ratelimit-policy']).toBe(POLICY);
    // Far from any limit, this environment writes its requests back ten at a time: the eleventh wrote the first ten.
    expect(await hourCount(enterprise.orgId)).toBe(50_010);
  });

  it('starts each organization\'s hour at its own offset, so refused organizations do not all return at once', () => {
    const starts = new Set(Array.from({ length: 20 }, () => requestWindow(`org_${randomUUID()}`, clock.now).start % 3_600_000));
    expect(starts.size).toBeGreaterThan(15);
    const window = requestWindow('org_x', clock.now);
    expect(window.start).toBeLessThanOrEqual(clock.now);
    expect(window.end - window.start).toBe(3_600_000);
    expect(window.end).toBeGreaterThan(clock.now);
  });
});

describe('client address', () => {
  it('is an IPv4 address as it is, an IPv6 address by its /64', () => {
    expect(clientAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddress('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(clientAddress('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientAddress('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientAddress('::1')).toBe('0:0:0:0::/64');
    expect(clientAddress(undefined)).toBeUndefined();
  });
});
