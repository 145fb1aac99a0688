-- Watchers (issue 17): a task's creator, assignee and commenters watch it implicitly; a row here is a member's
-- own choice, which wins over that: `watching` true watches a task, false stops watching it (an implicit
-- watcher too). The notification rules use exactly this set.

CREATE TABLE task_watchers (
  organization_id text NOT NULL,
  task_id uuid NOT NULL,
  user_id text NOT NULL,
  watching boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, user_id),
  FOREIGN KEY (organization_id, task_id) REFERENCES tasks (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, user_id) REFERENCES memberships (organization_id, user_id)
);
