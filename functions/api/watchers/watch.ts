import { setWatching } from '../../domain/watchers';
import { idParam } from '../../shared/http';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({}, async (request) => {
  await setWatching(request.caller, request.trace, idParam(request, 'taskId', 'Task'), true);
  return { status: 204 };
});
