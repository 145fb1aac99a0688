import { UpdateTaskBody } from '../../domain/schemas';
import { etagOf, updateTask, versionFromIfMatch } from '../../domain/tasks';
import { httpHandler, idParam } from '../../shared/http';
import { Problem } from '../../shared/problem';

export const handler = httpHandler({ body: UpdateTaskBody }, async (request) => {
  const { version, ...changes } = request.body;
  const ifMatch = request.headers['if-match'];
  const expected = ifMatch === undefined ? version : versionFromIfMatch(ifMatch);
  if (expected === undefined) {
    throw new Problem(428, 'PRECONDITION_REQUIRED', 'Send the version you are changing', 'Put `version` in the body or the ETag in If-Match.');
  }
  if (ifMatch !== undefined && version !== undefined && expected !== version) {
    throw new Problem(400, 'VERSION_MISMATCH', 'If-Match and the body `version` disagree');
  }
  const task = await updateTask(request.caller, request.requestId, idParam(request, 'taskId', 'Task'), changes, expected);
  return { status: 200, body: task, headers: { ETag: etagOf(task) } };
});
