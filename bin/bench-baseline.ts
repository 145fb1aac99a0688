// The benchmark's baseline: one bare `pg` Client on the same database, running the statement each handler's domain
// code runs (functions/domain/tasks.ts), without the API around it. TaskFlow's p50 over this p50 is the ratio.
import pg from 'pg';

export interface Baseline {
  /** The bare statement equivalent to `operation` (its i-th run); undefined when the benchmark has none for it. */
  statement(operation: string): ((i: number) => Promise<unknown>) | undefined;
  close(): Promise<void>;
}

export async function barePg(databaseUrl: string, scope: { orgId: string; userId: string; projectId: string; taskIds: readonly string[] }): Promise<Baseline> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { orgId, userId, projectId, taskIds } = scope;
  const statements: Record<string, (i: number) => Promise<unknown>> = {
    // findTask's statement, as is.
    getTask: (i) =>
      client.query('SELECT task_json(t) AS doc FROM tasks t WHERE t.organization_id = $1 AND t.id = $2 AND NOT project_deleted(t.project_id)', [orgId, taskIds[i % taskIds.length]]),
    // The row createTask inserts, with the same columns and the same document back; without the project check,
    // quota, version, event, outbox and counts that its one statement also does.
    createTask: (i) =>
      client.query(
        `INSERT INTO tasks (id, organization_id, project_id, title, description, status, priority, assignee_id, due_date, labels, created_by)
         VALUES (gen_random_uuid(), $1, $2, $3, '', 'todo', 'none', NULL, NULL, $4, $5)
         RETURNING id, project_id, task_json(tasks) AS doc`,
        [orgId, projectId, `Bare ${i}`, ['bench'], userId],
      ),
    // listTasks's statement, as is, with the benchmark's filter (status todo, 50 a page).
    listTasks: () =>
      client.query(
        `SELECT t.doc FROM projects p
         LEFT JOIN LATERAL (
           SELECT task_json(t) AS doc FROM tasks t
           WHERE t.organization_id = p.organization_id AND t.project_id = p.id
             AND ($3::text IS NULL OR t.status = $3)
             AND ($4::text IS NULL OR t.assignee_id = $4)
             AND ($5::date IS NULL OR t.due_date < $5)
             AND ($6::timestamptz IS NULL OR (t.created_at, t.id) > ($6::timestamptz, $7::uuid))
           ORDER BY t.created_at, t.id
           LIMIT $8
         ) t ON true
         WHERE p.organization_id = $1 AND p.id = $2 AND p.deleted_at IS NULL`,
        [orgId, projectId, 'todo', null, null, null, null, 51],
      ),
  };
  return {
    statement: (operation) => statements[operation],
    close: () => client.end(),
  };
}
