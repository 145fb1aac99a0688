import { afterEach, beforeEach, vi } from 'vitest';
import { rateLimitClock } from '../../functions/shared/rate-limit';

/**
 * The rate limiter's clock, frozen at the start of each test and moved on by hand (`clock.now += …`): a burst
 * then fires "at one instant", so what a bucket grants is exact, not a race against its refill.
 */
export function frozenRateLimitClock(): { now: number } {
  const clock = { now: 0 };
  beforeEach(() => {
    clock.now = Date.now();
    rateLimitClock.now = () => clock.now;
  });
  afterEach(() => {
    rateLimitClock.now = () => Date.now();
    vi.restoreAllMocks();
  });
  return clock;
}
