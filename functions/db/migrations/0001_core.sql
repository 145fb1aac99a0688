-- TaskFlow core schema: tenants, projects, tasks, comments, and the per-organization event log
-- that every mutation appends to in the same statement as the change.

CREATE TABLE organizations (
  id text PRIMARY KEY,
  -- Last event sequence number handed out for this organization (event_log.seq).
  event_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id text PRIMARY KEY,
  email text,
  name text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  organization_id text NOT NULL REFERENCES organizations (id),
  user_id text NOT NULL REFERENCES users (id),
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE projects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id text NOT NULL REFERENCES organizations (id),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '',
  created_by text NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Target of the tenant-scoped foreign keys below: a child row can only name a parent of its own organization.
  UNIQUE (organization_id, id)
);
CREATE INDEX projects_page_idx ON projects (organization_id, created_at, id);

CREATE TABLE tasks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id text NOT NULL,
  project_id uuid NOT NULL,
  title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
  description text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'in_review', 'done')),
  priority text NOT NULL DEFAULT 'none' CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent')),
  assignee_id text,
  due_date date,
  labels text[] NOT NULL DEFAULT '{}',
  version bigint NOT NULL DEFAULT 1,
  created_by text NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, title), 'A')
    || setweight(to_tsvector('english'::regconfig, description), 'B')
  ) STORED,
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id) ON DELETE CASCADE,
  -- The assignee must be a member of the task's organization.
  FOREIGN KEY (organization_id, assignee_id) REFERENCES memberships (organization_id, user_id)
);
CREATE INDEX tasks_page_idx ON tasks (organization_id, project_id, created_at, id);
CREATE INDEX tasks_assignee_idx ON tasks (organization_id, assignee_id);
CREATE INDEX tasks_search_idx ON tasks USING gin (search_vector);

CREATE TABLE comments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id text NOT NULL,
  task_id uuid NOT NULL,
  author_id text NOT NULL REFERENCES users (id),
  body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
  created_at timestamptz NOT NULL DEFAULT now(),
  search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, body)) STORED,
  FOREIGN KEY (organization_id, task_id) REFERENCES tasks (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX comments_page_idx ON comments (task_id, created_at, id);
CREATE INDEX comments_search_idx ON comments USING gin (search_vector);

CREATE TABLE event_log (
  organization_id text NOT NULL REFERENCES organizations (id),
  seq bigint NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  type text NOT NULL,
  subject_id uuid NOT NULL,
  project_id uuid,
  actor_id text NOT NULL,
  request_id text,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, seq)
);

-- API representations, built where the rows are so a read or a mutation is one round trip and the
-- event payload is exactly what the API returns. Timestamps are UTC with microseconds (cursors need them).
CREATE FUNCTION api_timestamp(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

CREATE FUNCTION project_json(p projects) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object(
  'id', p.id, 'name', p.name, 'description', p.description, 'createdBy', p.created_by,
  'createdAt', api_timestamp(p.created_at), 'updatedAt', api_timestamp(p.updated_at)
);

CREATE FUNCTION task_json(t tasks) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object(
  'id', t.id, 'projectId', t.project_id, 'title', t.title, 'description', t.description,
  'status', t.status, 'priority', t.priority, 'assigneeId', t.assignee_id,
  'dueDate', to_char(t.due_date, 'YYYY-MM-DD'), 'labels', to_json(t.labels), 'version', t.version,
  'createdBy', t.created_by, 'createdAt', api_timestamp(t.created_at), 'updatedAt', api_timestamp(t.updated_at)
);

CREATE FUNCTION comment_json(c comments) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object(
  'id', c.id, 'taskId', c.task_id, 'authorId', c.author_id, 'body', c.body,
  'createdAt', api_timestamp(c.created_at)
);
