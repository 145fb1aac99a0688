-- Conflict resolution (review C6): every version of a task is kept, so a stale update can be merged
-- against the version it was based on; every conflict is logged.

CREATE TABLE task_versions (
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  version bigint NOT NULL,
  -- The task's API representation at this version (task_json). Only the latest versions of a task are
  -- kept (see appendTaskVersion); a stale update based on an older one is a conflict to resolve by hand.
  doc jsonb NOT NULL,
  changed_by text NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, version)
);

-- Tasks written before this migration get their current version as the first history entry.
INSERT INTO task_versions (task_id, version, doc, changed_by, changed_at)
SELECT t.id, t.version, task_json(t)::jsonb, t.created_by, t.updated_at FROM tasks t;

CREATE TABLE task_conflicts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id text NOT NULL,
  task_id uuid NOT NULL,
  base_version bigint NOT NULL,
  current_version bigint NOT NULL,
  conflicting_fields text[] NOT NULL,
  your_changes jsonb NOT NULL,
  actor_id text NOT NULL,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_conflicts_org_time_idx ON task_conflicts (organization_id, created_at);

-- addLabels may not grow a task past the 20 labels a client may set; NOT VALID: existing rows are
-- not rescanned under a lock (the API never allowed more).
ALTER TABLE tasks ADD CONSTRAINT tasks_labels_max CHECK (cardinality(labels) <= 20) NOT VALID;
