import { getAttachment } from '../../domain/attachments';
import { httpHandler } from '../http-handler';
import { idParam } from '../../shared/http';

export const handler = httpHandler({}, async (request) => ({ status: 200, body: await getAttachment(request.caller, idParam(request, 'attachmentId', 'Attachment')) }));
