import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { BREAKER_POLICY, BreakerOpen, CircuitBreakers, readStatuses } from '../../functions/integrations/breaker';
import { INTEGRATION_NAMES, type IntegrationName } from '../../functions/integrations/services';
import { dynamoDb } from '../../functions/shared/dynamodb';
import { logger } from '../../functions/shared/logger';
import { metrics } from '../../functions/shared/metrics';
import { BREAKER_METRICS } from '../../functions/shared/telemetry';
import { ownIntegrationsTable } from '../support/integrations-table';

// Review C4: a circuit breaker per integration, shared by every Lambda environment through DynamoDB. Two
// CircuitBreakers instances play two environments; the clock is moved with a fake Date (cockatiel's clock).

// Two Lambda environments.
const one = new CircuitBreakers();
const two = new CircuitBreakers();

const ok = async () => 'answered';
const unavailable = async (): Promise<string> => {
  throw new Error('HTTP 503');
};

/** A call through `breakers` whose outcome is ignored; whether it was refused. */
async function attempt(breakers: CircuitBreakers, fn: () => Promise<string>, name: IntegrationName = 'slack'): Promise<'refused' | 'made'> {
  try {
    await breakers.run(name, fn);
  } catch (error) {
    if (error instanceof BreakerOpen) return 'refused';
  }
  return 'made';
}

async function times(n: number, breakers: CircuitBreakers, fn: () => Promise<string>) {
  for (let i = 0; i < n; i += 1) await attempt(breakers, fn);
}

const status = async (name: IntegrationName = 'slack') => (await readStatuses()).find((s) => s.integration === name)!;

/** The stored cockatiel state of an integration's breaker. */
async function stored(name: IntegrationName = 'slack') {
  const { Item } = await dynamoDb()<{ Item?: { policy?: { S: string } } }>('GetItem', {
    TableName: process.env.INTEGRATIONS_TABLE_NAME,
    Key: { id: { S: name } },
    ConsistentRead: true,
  });
  return JSON.parse(Item!.policy!.S) as { ownState: { value: number }; breakerState: { successes: number; failures: number } };
}

beforeAll(async () => {
  await ownIntegrationsTable();
  // dynalite answers one call at a time: concurrent environments queue behind each other.
  Object.assign(process.env);
});

beforeEach(async () => {
  for (const name of INTEGRATION_NAMES) await dynamoDb()('DeleteItem', { TableName: process.env.INTEGRATIONS_TABLE_NAME, Key: { id: { S: name } } });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('the integrations\' circuit breakers', () => {
  it('reports every integration, closed with nulls when never called', async () => {
    expect(await readStatuses()).toEqual(
      ['slack', 'sendgrid', 'github', 'googleCalendar'].map((integration) => ({
        integration, state: 'closed', lastSuccessAt: null, lastFailureAt: null, lastFailureReason: null, openedAt: null,
      })),
    );
  });

  it('opens at 10 failures out of 10 calls, not before 10 calls, and then refuses calls without making them', async () => {
    const single = { addDimension: vi.fn(), addMetric: vi.fn() };
    vi.spyOn(metrics, 'singleMetric').mockReturnValue(single as never);
    await times(9, one, unavailable);
    expect((await status()).state).toBe('closed'); // fewer than 10 calls
    await times(1, two, unavailable);
    expect(await status()).toMatchObject({ state: 'open', lastFailureReason: 'HTTP 503', lastFailureAt: expect.any(String), openedAt: expect.any(String) });
    expect(single.addMetric).toHaveBeenCalledWith(BREAKER_METRICS.open, 'Count', 1);
    expect(single.addDimension).toHaveBeenCalledWith('integration', 'slack');

    const fn = vi.fn(ok);
    const refusal = await two.run('slack', fn).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BreakerOpen);
    expect((refusal as BreakerOpen).retryAfterMs).toBeGreaterThan(BREAKER_POLICY.halfOpenAfterMs - 5_000);
    expect((refusal as BreakerOpen).retryAfterMs).toBeLessThanOrEqual(BREAKER_POLICY.halfOpenAfterMs);
    expect(fn).not.toHaveBeenCalled();
    expect(single.addMetric).toHaveBeenCalledTimes(2); // opened, then one refusal
    // The others are not affected.
    expect(await attempt(one, ok, 'sendgrid')).toBe('made');
    expect((await status('sendgrid')).state).toBe('closed');
  });

  it('opens at exactly half of the calls failing, stays closed below half, over a sliding window of 20', async () => {
    for (let i = 0; i < 5; i += 1) {
      await attempt(one, ok);
      await attempt(two, unavailable);
    }
    expect((await status()).state).toBe('open'); // 5 of 10

    for (const name of INTEGRATION_NAMES) await dynamoDb()('DeleteItem', { TableName: process.env.INTEGRATIONS_TABLE_NAME, Key: { id: { S: name } } });
    await times(11, one, ok);
    await times(9, two, unavailable);
    expect((await status()).state).toBe('closed'); // 9 of 20
    await times(1, one, unavailable);
    expect((await status()).state).toBe('open'); // the oldest success left the window: 10 of 20
  });

  it('does not count errors the caller says are not the service\'s', async () => {
    const bug = async (): Promise<string> => {
      throw new TypeError('a bug of ours');
    };
    for (let i = 0; i < 12; i += 1) await one.run('slack', bug, { isFailure: (error) => !(error instanceof TypeError) }).catch(() => undefined);
    expect((await status()).state).toBe('closed');
  });

  it('turns half-open after 30 s and lets exactly one trial call through across environments; its success closes it', async () => {
    await times(10, one, unavailable);
    const opened = Date.now();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(opened + BREAKER_POLICY.halfOpenAfterMs - 1_000);
    expect(await attempt(two, ok)).toBe('refused');
    vi.setSystemTime(opened + BREAKER_POLICY.halfOpenAfterMs);
    expect((await status()).state).toBe('half-open');

    let calls = 0;
    const slowOk = async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return 'answered';
    };
    const outcomes = await Promise.all([attempt(one, slowOk), attempt(two, slowOk), attempt(one, slowOk), attempt(two, slowOk)]);
    expect(calls).toBe(1);
    expect(outcomes.filter((outcome) => outcome === 'made')).toHaveLength(1);
    expect(await status()).toMatchObject({ state: 'closed', openedAt: null });
    // Closed again, the window afresh: every environment calls, and it takes 10 calls again to open it.
    expect(await attempt(two, ok)).toBe('made');
    await times(7, one, unavailable); // 7 of 9 calls
    expect((await status()).state).toBe('closed');
    await times(1, one, unavailable); // 8 of 10
    expect((await status()).state).toBe('open');
  });

  it('lets calls that may wait have the trial\'s outcome instead of a refusal', async () => {
    await times(10, one, unavailable);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + BREAKER_POLICY.halfOpenAfterMs);
    let calls = 0;
    const slowOk = async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return 'answered';
    };
    const trial = attempt(one, slowOk);
    const waiting = await Promise.all([1, 2, 3].map(() => two.run('slack', slowOk, { maxWaitMs: 2_000 }).then(() => 'made', () => 'refused')));
    expect(await trial).toBe('made');
    expect(waiting).toEqual(['made', 'made', 'made']); // after the trial closed it
    expect(calls).toBe(4);
    // A trial that fails opens it again: the waiting calls are refused for the next 30 s.
    await times(10, one, unavailable);
    vi.setSystemTime(Date.now() + BREAKER_POLICY.halfOpenAfterMs);
    const failedTrial = attempt(one, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      throw new Error('HTTP 503');
    });
    const refusal = await two.run('slack', ok, { maxWaitMs: 2_000 }).catch((error: unknown) => error);
    await failedTrial;
    expect((refusal as BreakerOpen).retryAfterMs).toBe(BREAKER_POLICY.halfOpenAfterMs);
  });

  it('opens again for 30 s when the trial call fails', async () => {
    await times(10, one, unavailable);
    vi.useFakeTimers({ toFake: ['Date'] });
    const trialAt = Date.now() + BREAKER_POLICY.halfOpenAfterMs + 5_000;
    vi.setSystemTime(trialAt);
    expect(await attempt(two, unavailable)).toBe('made');
    const after = await status();
    expect(after).toMatchObject({ state: 'open', openedAt: new Date(trialAt).toISOString() });
    const refusal = await one.run('slack', ok).catch((error: unknown) => error);
    expect((refusal as BreakerOpen).retryAfterMs).toBe(BREAKER_POLICY.halfOpenAfterMs);
    vi.setSystemTime(trialAt + BREAKER_POLICY.halfOpenAfterMs);
    expect(await attempt(one, ok)).toBe('made');
    expect((await status()).state).toBe('closed');
  });

  it('lets another environment take the trial once the first one\'s lease ran out (it died mid-call)', async () => {
    await times(10, one, unavailable);
    vi.useFakeTimers({ toFake: ['Date'] });
    const halfOpen = Date.now() + BREAKER_POLICY.halfOpenAfterMs;
    vi.setSystemTime(halfOpen);
    let answer!: (value: string) => void;
    const stuck = one.run('slack', () => new Promise<string>((resolve) => (answer = resolve)), { trialLeaseMs: 10_000 });
    while (!answer) await new Promise((resolve) => setTimeout(resolve, 5)); // (vi.waitFor would move the fake clock)
    expect(await attempt(two, ok)).toBe('refused');
    vi.setSystemTime(halfOpen + 10_001);
    expect(await attempt(two, ok)).toBe('made');
    expect((await status()).state).toBe('closed');
    answer('late');
    await expect(stuck).resolves.toBe('late');
    expect((await status()).state).toBe('closed');
  });

  it('loses no environment\'s outcome when they record at once', async () => {
    // Five environments (the most the e-mail queue runs at once), four calls each, all at once: their
    // conditional writes collide, and are applied again.
    const environments = Array.from({ length: 5 }, () => new CircuitBreakers());
    await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(environments[i % 5]!, ok)));
    expect((await stored()).breakerState).toMatchObject({ successes: 20, failures: 0 });
    // 9 failures of 20 at once: all counted (45 %, closed); one more opens it.
    await Promise.all(Array.from({ length: 9 }, (_, i) => attempt(environments[i % 5]!, unavailable)));
    expect((await stored()).breakerState).toMatchObject({ successes: 11, failures: 9 });
    expect((await status()).state).toBe('closed');
    await attempt(one, unavailable);
    expect((await status()).state).toBe('open');
  });

  it('calls the service anyway when DynamoDB cannot be reached (fail open), with a warning', async () => {
    await times(10, one, unavailable); // open in the table
    const warnings = vi.spyOn(logger, 'warn');
    const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:9'; // nothing listens there
    try {
      await expect(one.run('slack', ok)).resolves.toBe('answered');
      await expect(two.run('slack', unavailable)).rejects.toThrow('HTTP 503');
    } finally {
      process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
    }
    expect(warnings).toHaveBeenCalledWith('circuit breaker state unavailable: calling the service without it', expect.objectContaining({ integration: 'slack' }));
    // Back: still open, as it was.
    expect(await attempt(one, ok)).toBe('refused');
  });
});
