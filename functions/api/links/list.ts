import { listLinks } from '../../domain/links';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await listLinks(request.caller, idParam(request, 'projectId', 'Project')) }));
