import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { callsBetween, dynamoDbWriteCalls, snapshotCalls } from '../../lib/cost/model';
import { awsCalls } from '../../functions/shared/aws-calls';
import type { Caller } from '../../functions/shared/caller';
import { Problem } from '../../functions/shared/problem';
import { createRateLimiter, type RequestQuotas } from '../../functions/shared/rate-limit';
import { MAX_SLICE } from '../../functions/shared/rate-limit-state';
import { tableNameVariable } from '../../functions/shared/resource-variables';
import { frozenRateLimitClock } from '../support/rate-limit-clock';

// Review S1 across Lambda environments: each environment decides from its own view of the shared buckets and
// writes its requests back a slice at a time, so a burst spread over E environments can pass a limit by at most
// E slices (MAX_SLICE each), and is never held below it. Each createRateLimiter() here is one environment.
// The burst fires at one frozen instant, so the bound is about the limiter, not a race against the refill.

process.env.RATE_LIMIT_TIMEOUT_MS = '25000'; // a loaded machine must not turn a slow write into failing open
const quotas: RequestQuotas = { smallest: 1_000_000, of: async () => ({ plan: 'test', requestsPerHour: 1_000_000, enforced: true }) };
const clock = frozenRateLimitClock();

/** `requests` checks at once, spread over the environments in turn: how many were served, and the refusals. */
async function burst(environments: ReturnType<typeof createRateLimiter>[], callers: Caller[], requests: number) {
  const outcomes = await Promise.allSettled(
    Array.from({ length: requests }, (_, i) => environments[i % environments.length]!(callers[i % callers.length]!, undefined, quotas)),
  );
  const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Problem] : []));
  for (const problem of refused) expect(problem).toBeInstanceOf(Problem);
  return { served: outcomes.filter((o) => o.status === 'fulfilled').length, refused };
}

/** The rate-limits table's writes while `run` runs, counted at the wire (as the benchmark counts them). */
async function writesDuring(run: () => Promise<void>): Promise<number> {
  const before = snapshotCalls(awsCalls);
  await run();
  return dynamoDbWriteCalls(callsBetween(before, awsCalls), process.env[tableNameVariable('rateLimits')]!);
}

describe('rate limits across Lambda environments', () => {
  it('let a burst over 8 environments pass a user\'s 100 a minute by at most a slice per environment, never hold it below 100', async () => {
    const environments = Array.from({ length: 8 }, () => createRateLimiter());
    const user: Caller = { orgId: `org_${randomUUID()}`, userId: `user_${randomUUID()}`, role: 'member' };
    const { served, refused } = await burst(environments, [user], 300);
    expect(served).toBeGreaterThanOrEqual(100);
    expect(served).toBeLessThanOrEqual(100 + environments.length * MAX_SLICE);
    for (const problem of refused) expect(problem).toMatchObject({ status: 429, code: 'RATE_LIMITED', extra: { policy: 'user', limit: 100 } });

    // A minute later the bucket has refilled for every environment, whatever each of them last saw; what the
    // first burst took past the limit is owed (a token bucket: at most 200 in any minute and a burst).
    clock.now += 60_000;
    const again = await burst(environments, [user], 300);
    expect(again.served).toBeGreaterThanOrEqual(100 - (served - 100));
    expect(again.served).toBeLessThanOrEqual(100 + environments.length * MAX_SLICE);
  });

  it('hold an organization\'s 1,000 a minute to the same bound over 10 environments and many of its members', async () => {
    const environments = Array.from({ length: 10 }, () => createRateLimiter());
    const orgId = `org_${randomUUID()}`;
    const admins: Caller[] = Array.from({ length: 20 }, () => ({ orgId, userId: `user_${randomUUID()}`, role: 'admin' }));
    const { served, refused } = await burst(environments, admins, 1_300);
    expect(served).toBeGreaterThanOrEqual(1_000);
    expect(served).toBeLessThanOrEqual(1_000 + environments.length * MAX_SLICE);
    for (const problem of refused) expect(problem).toMatchObject({ code: 'RATE_LIMITED', extra: { policy: 'organization' } });
  }, 60_000);

  it('write to DynamoDB at most once per two requests under steady load, and not at all for a refusal already known', async () => {
    const environment = createRateLimiter();
    const user: Caller = { orgId: `org_${randomUUID()}`, userId: `user_${randomUUID()}`, role: 'member' };
    const ip = `2001:db8:${randomUUID().slice(0, 4)}::1`;
    // 200 requests, one every 700 ms: under the user's 100 a minute, so all are served.
    const writes = await writesDuring(async () => {
      for (let i = 0; i < 200; i += 1) {
        clock.now += 700;
        await environment(user, ip, quotas);
      }
    });
    expect(writes / 200).toBeLessThanOrEqual(0.5);
    expect(writes).toBeGreaterThan(0); // it does write them back

    const hammering: Caller = { ...user, userId: `user_${randomUUID()}` };
    await burst([environment], [hammering], 101); // the first refusal writes back what the burst left pending
    // One request after the other, as a Lambda environment serves them.
    const refusalWrites = await writesDuring(async () => {
      for (let i = 0; i < 50; i += 1) await expect(environment(hammering, ip, quotas)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    });
    expect(refusalWrites).toBe(0);
  });
});
