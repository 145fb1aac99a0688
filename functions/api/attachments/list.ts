import { listAttachments } from '../../domain/attachments';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await listAttachments(request.caller, idParam(request, 'taskId', 'Task')) }));
