-- The activity feed reads one project's events in sequence order (a project subscription's replay,
-- GET /activity?projectId=): without this index that walks the organization's whole log.
CREATE INDEX CONCURRENTLY IF NOT EXISTS event_log_project_seq_idx ON event_log (organization_id, project_id, seq);
