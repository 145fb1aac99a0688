import { taskflow } from '../lib/app';
import { invokeRoute, type Call, type Identity } from '../lib/local/invoke';
import { fmt, quantile } from './bench-stats';

const TASKS = 5_000;
const BASELINE_REQUESTS = 100;

const route = (id: string) => taskflow.routes.find((r) => r.operationId === id)!;

/**
 * Issue 17: a project of 5,000 tasks deleted while a colleague works in another project of the organization. How long
 * its removal takes (the deletions worker's batches), and the colleague's request latency beside it and without it:
 * the removal must not hold the organization up. Needs DATABASE_URL and the local SQS and DynamoDB environment.
 */
export async function deletionImpact(): Promise<void> {
  const { db } = await import('../functions/shared/db');
  const { removeDeletedProject } = await import('../functions/domain/project-deletion');
  const admin: Identity = { orgId: `org_bench_deletion_${process.pid}`, userId: 'user_bench_admin', role: 'admin' };
  const colleague: Identity = { orgId: admin.orgId, userId: 'user_bench_colleague' };
  const created = async (operationId: string, call: Call) => {
    const response = await invokeRoute(route(operationId), admin, call);
    if (response.status >= 300) throw new Error(`${operationId}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as { id: string };
  };
  const kept = await created('createProject', { body: { name: 'Kept' } });
  const doomed = await created('createProject', { body: { name: 'Doomed' } });
  await db.query("UPDATE organizations SET plan = 'enterprise' WHERE id = $1", [admin.orgId]);
  // As the API would have made them: a version each, a comment on every tenth, counted.
  await db.query(
    `WITH t AS (
       INSERT INTO tasks (organization_id, project_id, title, created_by)
       SELECT $1, $2, 'Seeded ' || g, $3 FROM generate_series(1, $4::int) g
       RETURNING id, task_json(tasks)::jsonb AS doc
     ), v AS (
       INSERT INTO task_versions (task_id, version, doc, changed_by) SELECT id, 1, doc, $3 FROM t
     ), c AS (
       INSERT INTO comments (organization_id, task_id, author_id, body) SELECT $1, id, $3, 'Seeded' FROM t WHERE (doc->>'title') LIKE '%0'
     )
     UPDATE organizations SET task_count = task_count + $4 WHERE id = $1`,
    [admin.orgId, doomed.id, admin.userId, TASKS],
  );
  // The colleague's work: a task created, then the project's tasks listed, again and again.
  const work = async (more: (done: number) => boolean) => {
    const times: number[] = [];
    for (let i = 0; more(i); i += 1) {
      const started = performance.now();
      const response = i % 2 === 0
        ? await invokeRoute(route('createTask'), colleague, { params: { projectId: kept.id }, body: { title: `Work ${i}` } })
        : await invokeRoute(route('listTasks'), colleague, { params: { projectId: kept.id }, query: { limit: '50' } });
      if (response.status >= 300) throw new Error(`colleague: ${response.status} ${JSON.stringify(response.body)}`);
      times.push(performance.now() - started);
    }
    return times;
  };
  const baseline = await work((i) => i < BASELINE_REQUESTS);
  const deleted = await invokeRoute(route('deleteProject'), admin, { params: { projectId: doomed.id } });
  if (deleted.status !== 204) throw new Error(`deleteProject: ${deleted.status}`);
  let removing = true;
  const started = performance.now();
  const removal = removeDeletedProject(admin.orgId, doomed.id).finally(() => {
    removing = false;
  });
  const during = await work(() => removing);
  const removed = await removal;
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nDeleting a project of ${TASKS.toLocaleString('en')} tasks (${removed.tasks} removed in ${seconds.toFixed(1)} s by the deletions worker's batches), and a colleague's requests in another project of the organization`);
  console.log(`${'colleague\'s requests'.padEnd(26)} ${'p50 ms'.padStart(7)} ${'p95 ms'.padStart(7)} ${'max ms'.padStart(7)} ${'count'.padStart(7)}   target: served throughout, not held up`);
  for (const [label, times] of [['without a deletion', baseline], ['during the removal', during]] as const) {
    console.log(`${label.padEnd(26)} ${fmt(quantile(times, 0.5))} ${fmt(quantile(times, 0.95))} ${fmt(Math.max(...times))} ${String(times.length).padStart(7)}`);
  }
}
