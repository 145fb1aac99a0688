import { setWatching } from '../../domain/watchers';
import { idParam } from '../../shared/http';
import { mutationHandler } from '../mutation-handler';

export const handler = mutationHandler({}, async (request) => {
  await setWatching(request.caller, request.trace, idParam(request, 'taskId', 'Task'), true);
  return { status: 204 };
});
