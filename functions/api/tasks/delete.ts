import { deleteTask } from '../../domain/tasks';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  await deleteTask(request.caller, request.trace, idParam(request, 'taskId', 'Task'));
  return { status: 204 };
});
