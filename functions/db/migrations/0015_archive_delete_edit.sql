-- Issue 17 (part B): archived projects are read-only, deleted projects are hidden at once and removed in
-- batches by the `deletions` worker, and comments can be edited (versioned) and deleted.

-- Set by PATCH /projects/{projectId} {"archived": true}; cleared by {"archived": false}.
ALTER TABLE projects ADD COLUMN archived_at timestamptz;
-- Set by DELETE /projects/{projectId}: from then on the project answers 404 everywhere, and the deletions
-- worker removes its rows (in batches, none holding the organization's row) and files, then the project.
ALTER TABLE projects ADD COLUMN deleted_at timestamptz;

-- A comment's version (for PATCH's `version` / If-Match) and when it was last edited. A column with a default
-- cannot be added while a function takes the table's row type: comment_json is dropped and made again, in this
-- transaction, so no statement ever sees it missing.
DROP FUNCTION comment_json(comments);
ALTER TABLE comments ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE comments ADD COLUMN edited_at timestamptz;

CREATE OR REPLACE FUNCTION project_json(p projects) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object(
  'id', p.id, 'name', p.name, 'description', p.description, 'archived', p.archived_at IS NOT NULL,
  'archivedAt', api_timestamp(p.archived_at), 'createdBy', p.created_by,
  'createdAt', api_timestamp(p.created_at), 'updatedAt', api_timestamp(p.updated_at)
);

CREATE FUNCTION comment_json(c comments) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object(
  'id', c.id, 'taskId', c.task_id, 'authorId', c.author_id, 'body', c.body, 'version', c.version,
  'createdAt', api_timestamp(c.created_at), 'editedAt', api_timestamp(c.edited_at)
);

-- Whether a project is deleted (hidden while the deletions worker removes it): reads leave its rows out.
CREATE FUNCTION project_deleted(project uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN EXISTS (SELECT 1 FROM projects p WHERE p.id = project AND p.deleted_at IS NOT NULL);

-- Whether a project is neither archived nor deleted: only such projects are synced and reported.
CREATE FUNCTION project_open(project uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN EXISTS (SELECT 1 FROM projects p WHERE p.id = project AND p.archived_at IS NULL AND p.deleted_at IS NULL);

-- The rule every writer obeys, whichever statement it is (API, sync import, a future one): nothing changes
-- inside an archived project (SQLSTATE TF409, answered 409 PROJECT_ARCHIVED), and nothing is added to or changed
-- in a deleted one (TF404, answered 404). Deleting inside a deleted project is the deletions worker's work and
-- passes. The project row is read without a lock: a write racing the archive itself may still land.
CREATE FUNCTION refuse_writes_in_closed_projects() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  owner uuid;
  state record;
BEGIN
  IF TG_TABLE_NAME IN ('tasks', 'integration_links') THEN
    owner := r.project_id;
  ELSE
    SELECT t.project_id INTO owner FROM tasks t WHERE t.id = r.task_id;
  END IF;
  SELECT p.archived_at, p.deleted_at INTO state FROM projects p WHERE p.id = owner;
  IF state.deleted_at IS NOT NULL THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RAISE EXCEPTION 'NOT_FOUND' USING ERRCODE = 'TF404', DETAIL = 'Project not found';
  END IF;
  IF state.archived_at IS NOT NULL THEN
    RAISE EXCEPTION 'PROJECT_ARCHIVED' USING ERRCODE = 'TF409',
      DETAIL = 'The project is archived and read-only: unarchive it (PATCH {"archived": false}) to change it';
  END IF;
  RETURN r;
END
$$;

CREATE TRIGGER tasks_refuse_writes_in_closed_projects BEFORE INSERT OR UPDATE OR DELETE ON tasks
FOR EACH ROW EXECUTE FUNCTION refuse_writes_in_closed_projects();
CREATE TRIGGER comments_refuse_writes_in_closed_projects BEFORE INSERT OR UPDATE OR DELETE ON comments
FOR EACH ROW EXECUTE FUNCTION refuse_writes_in_closed_projects();
CREATE TRIGGER attachments_refuse_writes_in_closed_projects BEFORE INSERT OR DELETE ON attachments
FOR EACH ROW EXECUTE FUNCTION refuse_writes_in_closed_projects();
-- Not on UPDATE: a sync run's result records its outcome on the link whatever became of the project.
CREATE TRIGGER integration_links_refuse_writes_in_closed_projects BEFORE INSERT OR DELETE ON integration_links
FOR EACH ROW EXECUTE FUNCTION refuse_writes_in_closed_projects();
