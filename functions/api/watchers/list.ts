import { listWatchers } from '../../domain/watchers';
import { idParam } from '../../shared/http';
import { httpHandler } from '../http-handler';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await listWatchers(request.caller, idParam(request, 'taskId', 'Task')) }));
