-- A calendar link's dispatch reads its project's tasks that have a due date.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_due_idx ON tasks (project_id) WHERE due_date IS NOT NULL;
