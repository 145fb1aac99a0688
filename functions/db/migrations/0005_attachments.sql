-- Attachments (review S5): a row exists only for an upload that was confirmed, once per object
-- (a unique key), and counts towards the organization's storage quota.

CREATE TABLE attachments (
  id uuid PRIMARY KEY,
  organization_id text NOT NULL,
  task_id uuid NOT NULL,
  -- Where the confirmed object is (out of pending/, which a lifecycle rule empties after a day).
  s3_key text NOT NULL UNIQUE,
  file_name text NOT NULL CHECK (char_length(file_name) BETWEEN 1 AND 255),
  content_type text NOT NULL,
  size bigint NOT NULL CHECK (size > 0),
  uploaded_by text NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, task_id) REFERENCES tasks (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX attachments_task_idx ON attachments (task_id, created_at, id);

CREATE FUNCTION attachment_json(a attachments) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object(
  'id', a.id, 'taskId', a.task_id, 'fileName', a.file_name, 'contentType', a.content_type, 'size', a.size,
  'uploadedBy', a.uploaded_by, 'createdAt', api_timestamp(a.created_at)
);
