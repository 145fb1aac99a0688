-- Issue 17: watching is a write like the others, so an archived project's tasks cannot be watched or unwatched
-- either (SQLSTATE TF409, answered 409 PROJECT_ARCHIVED), and nothing is added in a deleted one (TF404). The
-- rule is 0015's own function; the rows a task's deletion cascades to pass, as the comments' do.
CREATE TRIGGER task_watchers_refuse_writes_in_closed_projects BEFORE INSERT OR UPDATE OR DELETE ON task_watchers
FOR EACH ROW EXECUTE FUNCTION refuse_writes_in_closed_projects();
