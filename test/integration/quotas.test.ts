import { describe, expect, it, vi } from 'vitest';
import { logger } from '../../functions/shared/logger';
import { createProject, invoke, newCaller, type Caller } from '../support/api';
import { sql } from '../support/sql';

// Review M4: plan quotas checked before a project or task is created, exact under concurrent creates,
// answered 429 QUOTA_EXCEEDED naming the quota and the plan; usage visible; alerting past 80 %.
async function organization(plan: 'free' | 'pro' | 'enterprise', counts: { projects?: number; tasks?: number } = {}): Promise<Caller> {
  const caller = newCaller();
  expect((await invoke('getUsage', caller)).status).toBe(200); // provisions the organization
  await sql('UPDATE organizations SET plan = $2, project_count = $3, task_count = $4 WHERE id = $1', [caller.orgId, plan, counts.projects ?? 0, counts.tasks ?? 0]);
  return caller;
}

const statuses = (responses: { status: number }[]) => responses.map((r) => r.status).sort();

describe('plan quotas', () => {
  it('lets exactly 10 of 14 concurrent project creates through on the free plan, and refuses the rest by name', async () => {
    const caller = await organization('free');
    const responses = await Promise.all(Array.from({ length: 14 }, (_, i) => invoke('createProject', caller, { body: { name: `p${i}` } })));
    expect(statuses(responses)).toEqual([...Array(10).fill(201), ...Array(4).fill(429)]);
    const refused = responses.find((r) => r.status === 429)!;
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.body).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'projects', plan: 'free', limit: 10 });
    expect(await sql('SELECT count(*)::int AS n FROM projects WHERE organization_id = $1', [caller.orgId])).toEqual([{ n: 10 }]);
    const usage = await invoke('getUsage', caller);
    expect(usage.body).toEqual({
      plan: 'free',
      enforced: true,
      quotas: {
        projects: { used: 10, limit: 10 },
        tasks: { used: 0, limit: 1_000 },
        storageBytes: { used: 0, limit: 5 * 1024 ** 3 },
        requestsPerHour: { limit: 1_000 },
      },
    });
  });

  it('never overshoots the task quota under concurrent creates, and a delete makes room again', async () => {
    const caller = await organization('free');
    const project = await createProject(caller);
    await sql('UPDATE organizations SET task_count = 995 WHERE id = $1', [caller.orgId]);
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => invoke('createTask', caller, { params: { projectId: project.id }, body: { title: `t${i}` } })),
    );
    expect(statuses(responses)).toEqual([...Array(5).fill(201), ...Array(7).fill(429)]);
    expect(responses.find((r) => r.status === 429)!.body).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'tasks', plan: 'free', limit: 1_000 });
    expect((await invoke('getUsage', caller)).body.quotas.tasks).toEqual({ used: 1_000, limit: 1_000 });

    const created = responses.find((r) => r.status === 201)!.body;
    expect((await invoke('deleteTask', caller, { params: { taskId: created.id } })).status).toBe(204);
    expect((await invoke('createTask', caller, { params: { projectId: project.id }, body: { title: 'room again' } })).status).toBe(201);
    expect((await invoke('createTask', caller, { params: { projectId: project.id }, body: { title: 'full again' } })).status).toBe(429);
  });

  it('still answers a retried create of an existing id and a missing project as before at the limit', async () => {
    const caller = await organization('free');
    const project = await createProject(caller);
    const id = crypto.randomUUID();
    expect((await invoke('createTask', caller, { params: { projectId: project.id }, body: { id, title: 'mine' } })).status).toBe(201);
    await sql('UPDATE organizations SET task_count = 1000 WHERE id = $1', [caller.orgId]);
    expect((await invoke('createTask', caller, { params: { projectId: project.id }, body: { id, title: 'mine' } })).status).toBe(200);
    expect((await invoke('createTask', caller, { params: { projectId: crypto.randomUUID() }, body: { title: 'x' } })).status).toBe(404);
  });

  it('applies the pro plan\'s limits', async () => {
    const caller = await organization('pro', { projects: 49 });
    expect((await invoke('createProject', caller, { body: { name: 'fiftieth' } })).status).toBe(201);
    const refused = await invoke('createProject', caller, { body: { name: 'fifty-first' } });
    expect(refused.body).toMatchObject({ code: 'QUOTA_EXCEEDED', quota: 'projects', plan: 'pro', limit: 50 });
  });

  it('never refuses an enterprise organization, and alerts as it passes 80 % and 100 % of the figures', async () => {
    const warnings = vi.spyOn(logger, 'warn');
    const caller = await organization('enterprise', { projects: 39 });
    for (let i = 0; i < 13; i += 1) expect((await invoke('createProject', caller, { body: { name: `e${i}` } })).status).toBe(201);
    const crossed = warnings.mock.calls.filter(([message]) => message === 'organization crossed a quota threshold').map(([, details]) => details);
    expect(crossed).toMatchObject([
      { orgId: caller.orgId, quota: 'projects', plan: 'enterprise', used: 40, limit: 50, share: 0.8 },
      { orgId: caller.orgId, quota: 'projects', plan: 'enterprise', used: 50, limit: 50, share: 1 },
    ]);
    expect((await invoke('getUsage', caller)).body).toMatchObject({ plan: 'enterprise', enforced: false, quotas: { projects: { used: 52 } } });
  });

  it('alerts once when a free organization passes 80 % of its tasks', async () => {
    const warnings = vi.spyOn(logger, 'warn');
    const caller = await organization('free');
    const project = await createProject(caller);
    await sql('UPDATE organizations SET task_count = 798 WHERE id = $1', [caller.orgId]);
    for (let i = 0; i < 3; i += 1) await invoke('createTask', caller, { params: { projectId: project.id }, body: { title: `t${i}` } });
    const crossed = warnings.mock.calls.filter(([message, details]) => message === 'organization crossed a quota threshold' && (details as { orgId: string }).orgId === caller.orgId);
    expect(crossed.map(([, details]) => details)).toMatchObject([{ quota: 'tasks', used: 800, share: 0.8 }]);
  });
});
