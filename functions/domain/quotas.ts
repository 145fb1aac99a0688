import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger } from '../shared/logger';
import { metrics } from '../shared/metrics';
import { Problem } from '../shared/problem';
import { QUOTA_METRICS } from '../shared/telemetry';
import { PLANS, type PlanName } from './plans';

/** The quotas counted on the organization's row (the request quota is counted with the rate limits). */
export type CountedQuota = 'projects' | 'tasks' | 'storageBytes';

export const QUOTA_COLUMNS: Record<CountedQuota, string> = { projects: 'project_count', tasks: 'task_count', storageBytes: 'storage_bytes' };

/** Where alerting starts: a share of the plan's limit. */
const ALERT_AT = 0.8;

/**
 * Room for `amount` more (an SQL expression) under the plan's limit (always, on a plan that is not enforced): the
 * condition of a create, over the CTE `quota` that a mutation statement's `quota` part locks (mutation-statement.ts).
 */
export function underQuota(quota: CountedQuota, amount = '1'): string {
  const cases = Object.entries(PLANS)
    .map(([name, plan]) => `WHEN '${name}' THEN ${plan.enforced ? `q.used + ${amount} <= ${plan[quota]}` : 'true'}`)
    .join(' ');
  return `(SELECT CASE q.plan ${cases} ELSE false END FROM quota q)`;
}

/** Whether a create was refused for the quota: the plan enforces it and the count is at its limit. */
export const atLimit = (quota: CountedQuota, plan: PlanName, used: number, amount = 1) => PLANS[plan].enforced && used + amount > PLANS[plan][quota];

export function quotaExceeded(quota: CountedQuota, plan: PlanName): Problem {
  const limit = PLANS[plan][quota];
  return new Problem(
    429,
    'QUOTA_EXCEEDED',
    `The ${plan} plan allows ${limit} ${quota}`,
    `This organization has ${limit} ${quota}, the most its ${plan} plan allows: delete some or move to a larger plan.`,
    { quota, plan, limit },
    // Waiting does not help; an hour keeps a client from retrying in a loop.
    { 'Retry-After': '3600' },
  );
}

/**
 * After a create: when it takes the organization past 80 % of a limit (or, on an unenforced plan, past
 * 80 % and 100 % of the figures alerting starts at), a warning and a `QuotaThresholdCrossed` metric,
 * which CloudWatch alarms on.
 */
export function noteUsage(orgId: string, quota: CountedQuota, plan: PlanName, usedBefore: number, amount = 1): void {
  const limit = PLANS[plan][quota];
  const used = usedBefore + amount;
  const crossed = [ALERT_AT, ...(PLANS[plan].enforced ? [] : [1])].filter((share) => usedBefore < share * limit && used >= share * limit);
  if (crossed.length === 0) return;
  logger.warn('organization crossed a quota threshold', { orgId, quota, plan, used, limit, share: Math.max(...crossed) });
  metrics.addMetric(QUOTA_METRICS.thresholdCrossed, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
