-- A member an admin removed keeps the tasks already assigned to them (issue 17), but no task is assigned to them
-- again: the foreign key to memberships still holds for them, so this trigger refuses it, as that key refuses a
-- non-member (the API answers both 422 ASSIGNEE_NOT_MEMBER, functions/domain/tasks.ts refusedAsProblems).

CREATE FUNCTION refuse_removed_assignee() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A task that keeps its removed assignee is not refused (an update that sets the same one again, say).
  IF TG_OP = 'UPDATE' AND NEW.assignee_id IS NOT DISTINCT FROM OLD.assignee_id THEN
    RETURN NEW;
  END IF;
  IF EXISTS (
    SELECT 1 FROM memberships m
    WHERE m.organization_id = NEW.organization_id AND m.user_id = NEW.assignee_id AND m.removed_at IS NOT NULL
  ) THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('%s was removed from the organization', NEW.assignee_id),
      CONSTRAINT = 'tasks_assignee_removed';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER tasks_assignee_not_removed
BEFORE INSERT OR UPDATE OF assignee_id ON tasks
FOR EACH ROW
WHEN (NEW.assignee_id IS NOT NULL)
EXECUTE FUNCTION refuse_removed_assignee();
