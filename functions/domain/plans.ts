import type { Caller } from '../shared/caller';
import { read } from '../shared/db';

export type PlanName = 'free' | 'pro' | 'enterprise';

export interface Plan {
  projects: number;
  tasks: number;
  storageBytes: number;
  requestsPerHour: number;
  /** Enterprise: over its limits it is alerted on, never refused. */
  enforced: boolean;
}

const GB = 1024 ** 3;

/** The plans (review M4). An organization's plan is `organizations.plan`, set by an operator. */
export const PLANS: Record<PlanName, Plan> = {
  free: { projects: 10, tasks: 1_000, storageBytes: 5 * GB, requestsPerHour: 1_000, enforced: true },
  pro: { projects: 50, tasks: 10_000, storageBytes: 100 * GB, requestsPerHour: 10_000, enforced: true },
  // Unlimited: the pro figures are where alerting starts (at 80 %, like the others).
  enterprise: { projects: 50, tasks: 10_000, storageBytes: 100 * GB, requestsPerHour: 10_000, enforced: false },
};

// An organization's plan changes rarely; reading it once a minute per environment is enough.
const PLAN_CACHE_MS = 60_000;
const cached = new Map<string, { plan: PlanName; until: number }>();

/** The caller's organization's plan (one read a minute per organization and Lambda environment). */
export async function planOf(caller: Pick<Caller, 'orgId'>): Promise<PlanName> {
  const hit = cached.get(caller.orgId);
  if (hit && hit.until > Date.now()) return hit.plan;
  const { rows } = await read<{ plan: PlanName }>('SELECT plan FROM organizations WHERE id = $1', [caller.orgId]);
  const plan = rows[0]?.plan ?? 'free';
  cached.set(caller.orgId, { plan, until: Date.now() + PLAN_CACHE_MS });
  return plan;
}
