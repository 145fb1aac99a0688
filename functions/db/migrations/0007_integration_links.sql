-- GitHub and Google Calendar sync (review C4): a project's links to a repository or a calendar, where
-- each link's last sync stands, the tasks imported from an issue, and the calendar events made for tasks.

CREATE TABLE integration_links (
  id uuid PRIMARY KEY,
  organization_id text NOT NULL,
  project_id uuid NOT NULL,
  type text NOT NULL CHECK (type IN ('github', 'googleCalendar')),
  -- `owner/name` of a repository, or a calendar id.
  target text NOT NULL CHECK (char_length(target) BETWEEN 1 AND 1024),
  created_by text NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- The run in flight (one per link at a time): set by the dispatcher, cleared by the run's result.
  run_id uuid,
  run_started_at timestamptz,
  -- Nothing is dispatched before this time (a rate limit's reset, a run that left work for the next one).
  next_sync_at timestamptz NOT NULL DEFAULT now(),
  -- GitHub: the issues list's ETag and the newest updated_at imported (the next run asks for what changed since).
  etag text,
  synced_until timestamptz,
  last_sync_at timestamptz,
  last_sync_status text CHECK (last_sync_status IN ('ok', 'unchanged', 'rate_limited', 'failed')),
  last_sync_error text,
  last_sync_changes bigint,
  -- Runs in a row that ended failed (a repository that is gone, a calendar not shared): each waits longer.
  consecutive_failures bigint NOT NULL DEFAULT 0,
  UNIQUE (project_id, type, target),
  FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX integration_links_due_idx ON integration_links (next_sync_at);

-- Where an imported task comes from: `github` and `owner/name#number`. Unique per project (an index
-- built concurrently in the next migration), so an issue imported twice is one task.
ALTER TABLE tasks ADD COLUMN source text;
ALTER TABLE tasks ADD COLUMN external_id text;
-- The source's own last-change time of what the task shows: an older copy (a late page of an earlier run)
-- never overwrites a newer one.
ALTER TABLE tasks ADD COLUMN external_updated_at timestamptz;

-- One calendar event per task and calendar link. Not tied to the task by a foreign key: the row outlives
-- a deleted task until its event is deleted too.
CREATE TABLE calendar_events (
  link_id uuid NOT NULL REFERENCES integration_links (id) ON DELETE CASCADE,
  task_id uuid NOT NULL,
  -- Chosen by TaskFlow (Google accepts a client-chosen id), so a retried insert cannot make a second event.
  event_id text NOT NULL,
  -- The task version the event shows; null once the event is deleted.
  synced_version bigint,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (link_id, task_id)
);
