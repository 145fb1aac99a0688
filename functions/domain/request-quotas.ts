import type { Caller } from '../shared/caller';
import { limitRequest, type RequestQuotas } from '../shared/rate-limit';
import { PLANS, planOf } from './plans';

/** The plans' requests per hour (review M4), as the rate limiter counts them. */
const PLAN_REQUEST_QUOTAS: RequestQuotas = {
  smallest: Math.min(...Object.values(PLANS).filter((plan) => plan.enforced).map((plan) => plan.requestsPerHour)),
  async of(orgId) {
    const plan = await planOf({ orgId });
    return { plan, requestsPerHour: PLANS[plan].requestsPerHour, enforced: PLANS[plan].enforced };
  },
};

/**
 * The check every JWT route makes before it serves a request (review S1, M4): the caller's token buckets and
 * its organization's hourly request quota under its plan. Throws the 429; else the RateLimit headers.
 */
export function enforceRateLimits(caller: Caller, sourceIp: string | undefined): Promise<Record<string, string>> {
  return limitRequest(caller, sourceIp, PLAN_REQUEST_QUOTAS);
}
