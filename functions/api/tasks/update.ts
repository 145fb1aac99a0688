import { UpdateTaskBody } from '../../domain/schemas';
import { updateTask } from '../../domain/task-updates';
import { etagOf, versionFromIfMatch } from '../../domain/tasks';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';
import { Problem } from '../../shared/problem';

export const handler = mutationHandler({ body: UpdateTaskBody }, async (request) => {
  const { version, ...changes } = request.body;
  const ifMatch = request.headers['if-match'];
  const expected = ifMatch === undefined ? version : versionFromIfMatch(ifMatch);
  if (ifMatch !== undefined && version !== undefined && expected !== version) {
    throw new Problem(400, 'VERSION_MISMATCH', 'If-Match and the body `version` disagree');
  }
  // Label additions and removals commute; anything else needs the version it was based on.
  const onlyLabelOps = Object.keys(changes).every((field) => field === 'addLabels' || field === 'removeLabels');
  if (expected === undefined && !onlyLabelOps) {
    throw new Problem(428, 'PRECONDITION_REQUIRED', 'Send the version you are changing', 'Put `version` in the body or the ETag in If-Match.');
  }
  const { task, merged } = await updateTask(request.caller, request.trace, idParam(request, 'taskId', 'Task'), changes, expected ?? null);
  return { status: 200, body: { ...task, merged }, headers: { ETag: etagOf(task) } };
});
