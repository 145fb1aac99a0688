import { etagOf, getTask } from '../../domain/tasks';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  const task = await getTask(request.caller, idParam(request, 'taskId', 'Task'));
  return { status: 200, body: task, headers: { ETag: etagOf(task) } };
});
