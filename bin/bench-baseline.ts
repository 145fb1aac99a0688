// The benchmark's baseline: one bare `pg` Client on the same database, running the statement each handler's domain
// code runs (functions/domain/tasks.ts), without the API around it. TaskFlow's p50 over this p50 is the ratio.
import pg from 'pg';
import { TASK_BY_ID, TASKS_OF_PROJECT } from '../functions/domain/tasks';

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
    // findTask's statement (TASK_BY_ID).
    getTask: (i) => client.query(TASK_BY_ID, [orgId, taskIds[i % taskIds.length]]),
    // The row createTask inserts, with the same columns and the same document back; without the project check,
    // quota, version, event, outbox and counts that its one statement also does.
    createTask: (i) =>
      client.query(
        `INSERT INTO tasks (id, organization_id, project_id, title, description, status, priority, assignee_id, due_date, labels, created_by)
         VALUES (gen_random_uuid(), $1, $2, $3, '', 'todo', 'none', NULL, NULL, $4, $5)
         RETURNING id, project_id, task_json(tasks) AS doc`,
        [orgId, projectId, `Bare ${i}`, ['bench'], userId],
      ),
    // listTasks's statement (TASKS_OF_PROJECT), with the benchmark's filter (status todo, 50 a page).
    listTasks: () => client.query(TASKS_OF_PROJECT, [orgId, projectId, 'todo', null, null, null, null, 51]),
  };
  return {
    statement: (operation) => statements[operation],
    close: () => client.end(),
  };
}
