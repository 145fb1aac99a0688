import type { Caller } from '../shared/caller';
import { read } from '../shared/db';
import { PLANS, type PlanName } from './plans';

/** The organization's usage against its plan (GET /organization/usage), in one read. */
export async function usageOf(caller: Pick<Caller, 'orgId'>) {
  const { rows } = await read<{ plan: PlanName; projects: string; tasks: string; storage: string }>(
    'SELECT plan, project_count AS projects, task_count AS tasks, storage_bytes AS storage FROM organizations WHERE id = $1',
    [caller.orgId],
  );
  const row = rows[0] ?? { plan: 'free' as const, projects: '0', tasks: '0', storage: '0' };
  const plan = PLANS[row.plan];
  return {
    plan: row.plan,
    enforced: plan.enforced,
    quotas: {
      projects: { used: Number(row.projects), limit: plan.projects },
      tasks: { used: Number(row.tasks), limit: plan.tasks },
      storageBytes: { used: Number(row.storage), limit: plan.storageBytes },
      requestsPerHour: { limit: plan.requestsPerHour },
    },
  };
}
