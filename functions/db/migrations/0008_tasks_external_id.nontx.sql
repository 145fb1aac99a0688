-- An issue imported twice (a redelivered message, a rerun) is one task: its (source, external id) is
-- unique within the project. Built concurrently: tasks is the busiest table.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS tasks_external_id_idx ON tasks (project_id, source, external_id) WHERE source IS NOT NULL;
