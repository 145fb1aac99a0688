import { deleteTask } from '../../domain/tasks';
import { mutationHandler } from '../mutation-handler';
import { idParam } from '../../shared/http';

export const handler = mutationHandler({}, async (request) => {
  await deleteTask(request.caller, request.trace, idParam(request, 'taskId', 'Task'));
  return { status: 204 };
});
