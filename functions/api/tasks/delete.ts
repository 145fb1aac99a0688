import { deleteTask } from '../../domain/tasks';
import { httpHandler, idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => {
  await deleteTask(request.caller, request.requestId, idParam(request, 'taskId', 'Task'));
  return { status: 204 };
});
