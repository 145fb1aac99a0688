-- Plans and quotas (review M4): each organization has a plan, and the counts its quotas are checked
-- against are kept on its row, changed in the same statement as the rows they count, under the row
-- lock the event sequence already takes: a quota check is exact under concurrent creates.

ALTER TABLE organizations ADD COLUMN plan text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise'));
ALTER TABLE organizations ADD COLUMN project_count bigint NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN task_count bigint NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN storage_bytes bigint NOT NULL DEFAULT 0;

-- The counts of what exists already (the table is small: one row per organization).
UPDATE organizations o SET
  project_count = (SELECT count(*) FROM projects p WHERE p.organization_id = o.id),
  task_count = (SELECT count(*) FROM tasks t WHERE t.organization_id = o.id);
