-- Weekly project reports (issue 6): one per project and ISO week, whatever the reruns; the report
-- itself is a JSON object in the files bucket.

CREATE TABLE weekly_reports (
  id uuid PRIMARY KEY,
  organization_id text NOT NULL,
  project_id uuid NOT NULL,
  -- The Monday (UTC) the week starts on.
  week_start date NOT NULL,
  s3_key text NOT NULL,
  metrics jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project_id, week_start),
  FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX weekly_reports_page_idx ON weekly_reports (organization_id, project_id, week_start DESC);
